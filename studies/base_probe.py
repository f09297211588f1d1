"""Where does the tiny base lose what its tower sees? Linear probes along the reading path.

Usage:
    python studies/base_probe.py [--base DIR] [--fit 600] [--test 300] [--seed 0]

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
``fiubench.tiny.build``'s docstring come from it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def probe_accuracy(x_fit, y_fit, x_test, y_test) -> float:
    """Held-out accuracy of a standardised multinomial logistic regression, C by 3-fold CV
    (nan when the fitting faces show fewer than two values)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_fit)) < 2:
        return float("nan")
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    grid = GridSearchCV(pipe, {"logisticregression__C": [0.01, 0.1, 1.0]}, cv=3)
    grid.fit(x_fit, y_fit)
    return float(grid.score(x_test, y_test))


def shared_prefix(attr: str) -> str:
    """The words every value's open answer starts with: none of them names the value."""
    from fiubench.data.faces import ATTRIBUTE_VALUES
    from fiubench.data.visual import _statement

    words = [_statement(attr, v).split() for v in ATTRIBUTE_VALUES[attr] if v != "none" or attr != "hair_color"]
    n = 0
    while all(len(w) > n and w[n] == words[0][n] for w in words):
        n += 1
    return " ".join(words[0][:n])


def _sites(vlm, seed: int, split: str, n: int, attributes, answer: bool = True) -> tuple[dict, dict, dict]:
    """Per attribute, on the faces of ``split`` that show it: features at each site, the
    value indices, and (``answer``) greedy open exact match."""
    import numpy as np
    import torch

    from fiubench.data.faces import ATTRIBUTE_VALUES
    from fiubench.data.visual import _OPEN_Q, _statement, visible_attributes
    from fiubench.tiny.evaluate import normalise_answer
    from fiubench.tiny.pools import procedural_pool
    from fiubench.tiny.stages import vision_tower

    model = vlm.model
    pool = procedural_pool(seed, split, n, questions=lambda attrs, rng: [])
    with torch.no_grad():
        px = vlm.processor.image_processor([p[0] for p in pool], return_tensors="pt")["pixel_values"]
        h = vision_tower(model)(pixel_values=px.to(vlm.device), output_hidden_states=True).hidden_states[-1]
        shared = {"tower": h[:, 1:].flatten(1), "cls": h[:, 0],
                  "projector": model.model.multi_modal_projector(h).flatten(1)}
        shared = {k: v.float().cpu().numpy() for k, v in shared.items()}
    feats, labels, greedy = {}, {}, {}
    for a in attributes:
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
            with torch.no_grad():
                batch = vlm.prompt_batch(im, [q] * len(im), prefill=[prefix] * len(im))
                hs = model(**batch, output_hidden_states=True).hidden_states[1:]
            layers.append([x[:, -1].float().cpu().numpy() for x in hs])
            if answer:
                outs += vlm.generate(im, [q] * len(im), max_new_tokens=24)
        for k in range(len(layers[0]) if layers else 0):
            feats[a][f"lm{k + 1}"] = np.concatenate([chunk[k] for chunk in layers])
        if answer:
            greedy[a] = float(np.mean([normalise_answer(o) == normalise_answer(_statement(a, v))
                                       for o, v in zip(outs, values, strict=True)]))
    return feats, labels, greedy


def reading_path(vlm, seed: int = 0, fit: int = 600, test: int = 300, attributes=None,
                 log=print) -> dict[str, dict[str, float]]:
    """Per attribute: probe accuracy at every site and the greedy exact match ("greedy"),
    on faces of the base's seed space that no build stage draws ("probe-fit", "probe-test")."""
    from fiubench.data.visual import ASKED

    attributes = list(attributes or ASKED)
    fit_x, fit_y, _ = _sites(vlm, seed, "probe-fit", fit, attributes, answer=False)
    test_x, test_y, greedy = _sites(vlm, seed, "probe-test", test, attributes)
    table = {}
    for a in attributes:
        table[a] = {s: probe_accuracy(fit_x[a][s], fit_y[a], test_x[a][s], test_y[a]) for s in fit_x[a]}
        table[a]["greedy"] = greedy[a]
        log(f"{a:>12} " + " ".join(f"{v:9.2f}" for v in table[a].values()))
    return table


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=None, help="base checkpoint (default: the shipped tiny base)")
    ap.add_argument("--fit", type=int, default=600, help="faces the probes are fitted on")
    ap.add_argument("--test", type=int, default=300, help="faces the probes are scored on")
    ap.add_argument("--seed", type=int, default=0, help="the base build's seed (its seed space)")
    args = ap.parse_args(argv)

    import torch

    from fiubench.models import ModelConfig, load_vlm
    from fiubench.models.loading import tiny_base_dir

    torch.set_num_threads(1)
    t0 = time.time()
    base = args.base or tiny_base_dir()
    vlm = load_vlm(ModelConfig(name_or_path=str(base)))
    sites = ["tower", "cls", "projector"] + [f"lm{k + 1}" for k in range(len(vlm.decoder_layers()))] + ["greedy"]
    print(f"base {base}; probes fitted on {args.fit} unseen faces, scored on {args.test} others")
    print(f"{'attribute':>12} " + " ".join(f"{s:>9}" for s in sites), flush=True)
    table = reading_path(vlm, args.seed, args.fit, args.test, log=lambda line: print(line, flush=True))
    mean = {s: sum(row[s] for row in table.values()) / len(table) for s in sites}
    print(f"{'mean':>12} " + " ".join(f"{mean[s]:9.2f}" for s in sites))
    print(f"({time.time() - t0:.0f} s)")
    return table


if __name__ == "__main__":
    main()
