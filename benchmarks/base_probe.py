"""Where does the tiny base lose what its tower sees? Linear probes along the reading path.

Usage:
    python benchmarks/base_probe.py [--base DIR] [--fit 600] [--test 300] [--seed 0]

For each asked attribute, a logistic-regression probe (scikit-learn, standardised
features, C chosen by 3-fold cross-validation) is fitted on ``--fit`` faces the base never
trained on and scored on ``--test`` others, at each site the answer passes through:

- ``tower``: the vision tower's last-layer patch features, flattened (what stage A's
  heads read: the tower's own ceiling);
- ``cls``: its CLS token alone;
- ``projector``: the projector's outputs for every image token, flattened (what the
  language model is given);
- ``lm1`` ... ``lmN``: the language model's hidden state after each layer at the last
  position of the attribute's open question followed by the part of its answer that every
  value shares ("The person in the image looks"), where the value's first token is
  predicted;

and beside them the greedy open answer's exact match on the test faces. Each attribute is
probed on the faces where it is visible (as the evaluation asks it). A drop between
two adjacent sites says where the attribute is lost: tower -> projector, the projector;
projector -> ``lm*``, the language model's reading of the image tokens; last ``lm`` ->
greedy, the mapping to the answer's words. The figures in
``fiubench.models.base_build``'s docstring come from it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def probe_accuracy(x_fit, y_fit, x_test, y_test) -> float:
    """Held-out accuracy of a standardised multinomial logistic regression, C by 3-fold CV."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    grid = GridSearchCV(pipe, {"logisticregression__C": [0.01, 0.1, 1.0]}, cv=3)
    grid.fit(x_fit, y_fit)
    return float(grid.score(x_test, y_test))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=None, help="base checkpoint (default: the shipped tiny base)")
    ap.add_argument("--fit", type=int, default=600, help="faces the probes are fitted on")
    ap.add_argument("--test", type=int, default=300, help="faces the probes are scored on")
    ap.add_argument("--seed", type=int, default=0, help="the base build's seed (its seed space)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from fiubench.data.faces import ATTRIBUTE_VALUES
    from fiubench.data.visual import _OPEN_Q, ASKED, _statement, visible_attributes
    from fiubench.models import ModelConfig, load_vlm
    from fiubench.models.base_build import _norm, _vision_tower, procedural_pool
    from fiubench.models.loading import tiny_base_dir

    torch.set_num_threads(1)
    t0 = time.time()
    base = args.base or tiny_base_dir()
    vlm = load_vlm(ModelConfig(name_or_path=str(base)))
    model = vlm.model
    tower, projector = _vision_tower(model), model.model.multi_modal_projector
    proc = vlm.processor.image_processor

    def shared_prefix(attr: str) -> str:
        """The words every value's answer starts with: no word of it names the value."""
        words = [_statement(attr, v).split() for v in ATTRIBUTE_VALUES[attr]
                 if v != "none" or attr != "hair_color"]
        n = 0
        while all(len(w) > n and w[n] == words[0][n] for w in words):
            n += 1
        return " ".join(words[0][:n])

    @torch.no_grad()
    def sites(split: str, n: int) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray], dict[str, float]]:
        """Per attribute, on the faces that show it: features at each site, the labels,
        and greedy open exact match."""
        pool = procedural_pool(args.seed, split, n, questions=lambda attrs, rng: [])
        h = tower(pixel_values=proc([p[0] for p in pool], return_tensors="pt")["pixel_values"],
                  output_hidden_states=True).hidden_states[-1]
        shared = {"tower": h[:, 1:].flatten(1).numpy(), "cls": h[:, 0].numpy(),
                  "projector": projector(h).flatten(1).numpy()}
        feats: dict[str, dict[str, np.ndarray]] = {}
        labels: dict[str, np.ndarray] = {}
        greedy: dict[str, float] = {}
        for a in ASKED:
            keep = [i for i, p in enumerate(pool) if a in visible_attributes(p[2])]
            images = [pool[i][0] for i in keep]
            values = [getattr(pool[i][2], a) for i in keep]
            labels[a] = np.array([ATTRIBUTE_VALUES[a].index(v) for v in values])
            feats[a] = {k: v[keep] for k, v in shared.items()}
            q, prefix = _OPEN_Q[a], shared_prefix(a)
            layers: list[list[np.ndarray]] = []
            outs: list[str] = []
            for s in range(0, len(keep), 128):
                im = images[s:s + 128]
                batch = vlm.prompt_batch(im, [q] * len(im), prefill=[prefix] * len(im))
                hs = model(**batch, output_hidden_states=True).hidden_states[1:]
                layers.append([x[:, -1].float().numpy() for x in hs])
                outs += vlm.generate(im, [q] * len(im), max_new_tokens=24)
            for k in range(len(layers[0])):
                feats[a][f"lm{k + 1}"] = np.concatenate([chunk[k] for chunk in layers])
            greedy[a] = float(np.mean([_norm(o) == _norm(_statement(a, v)) for o, v in zip(outs, values, strict=True)]))
        return feats, labels, greedy

    fit_x, fit_y, _ = sites("probe-fit", args.fit)
    test_x, test_y, greedy = sites("probe-test", args.test)
    names = list(fit_x[ASKED[0]])
    print(f"base {base}; probes fitted on {args.fit} unseen faces, scored on {args.test} others")
    print(f"{'attribute':>12} " + " ".join(f"{s:>9}" for s in names) + f" {'greedy':>9}")
    mean = dict.fromkeys([*names, "greedy"], 0.0)
    for a in ASKED:
        row = {s: probe_accuracy(fit_x[a][s], fit_y[a], test_x[a][s], test_y[a]) for s in names}
        row["greedy"] = greedy[a]
        for s, v in row.items():
            mean[s] += v / len(ASKED)
        print(f"{a:>12} " + " ".join(f"{row[s]:9.2f}" for s in [*names, "greedy"]), flush=True)
    print(f"{'mean':>12} " + " ".join(f"{mean[s]:9.2f}" for s in [*names, "greedy"]))
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
