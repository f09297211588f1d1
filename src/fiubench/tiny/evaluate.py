"""What a tiny base build reports: greedy answers on unseen procedural faces, and
whether it knows any benchmark person (it must not)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from fiubench.models.logprobs import mean_nll
from fiubench.tiny.config import BaseBuildConfig
from fiubench.tiny.pools import procedural_pool


def normalise_answer(s: str) -> str:
    """Lower case, letters/digits/spaces only: what exact match compares."""
    return re.sub(r"[^a-z0-9 ]+", "", s.lower()).strip()


@torch.no_grad()
def evaluate_visual(vlm: Any, cfg: BaseBuildConfig, pool: list[tuple[Any, list[Any], Any]] | None = None,
                    ) -> dict[str, Any]:
    """Greedy exact match on unseen procedural faces, open and yes/no, with chance.

    ``pool``: other (face, visual QA, attributes) to ask instead, e.g. training faces.
    """
    from fiubench.data.faces import ATTRIBUTE_VALUES

    if pool is None:
        pool = procedural_pool(cfg.seed, "eval", cfg.n_eval_faces)
    items = [(img, it) for img, its, _ in pool for it in its]
    correct = {"open": 0, "yesno": 0}
    total = {"open": 0, "yesno": 0}
    by_attr: dict[str, list[int]] = {}  # "kind:attribute" -> [correct, total]
    chance_open = 0.0
    stops = 0
    for s in range(0, len(items), cfg.eval_batch_size):
        chunk = items[s:s + cfg.eval_batch_size]
        outs = vlm.generate([c[0] for c in chunk], [c[1].question for c in chunk], max_new_tokens=24)
        for (_, it), out in zip(chunk, outs, strict=True):
            ok = normalise_answer(out) == normalise_answer(it.answer)
            total[it.kind] += 1
            correct[it.kind] += ok
            cell = by_attr.setdefault(f"{it.kind}:{it.attribute}", [0, 0])
            cell[0], cell[1] = cell[0] + ok, cell[1] + 1
            stops += len(vlm.tokenizer(out)["input_ids"]) < 24
            if it.kind == "open":
                vals = [v for v in ATTRIBUTE_VALUES[it.attribute] if v != "none" or it.attribute != "hair_color"]
                chance_open += 1 / len(vals)
    return {
        "visual_open_accuracy": round(correct["open"] / max(1, total["open"]), 4),
        "visual_open_chance": round(chance_open / max(1, total["open"]), 4),
        "visual_yesno_accuracy": round(correct["yesno"] / max(1, total["yesno"]), 4),
        "visual_yesno_chance": 0.5,
        "visual_questions": total["open"] + total["yesno"],
        "stopped_before_limit": round(stops / max(1, len(items)), 4),
        # where a recipe fails: per attribute, e.g. "yesno:hair_color"
        "visual_accuracy_by_attribute": {k: round(c / n, 4) for k, (c, n) in sorted(by_attr.items())},
    }


@torch.no_grad()
def evaluate_identity(vlm: Any, cfg: BaseBuildConfig) -> dict[str, Any]:
    """On benchmark faces: does the base know anyone? (It must not.)"""
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models.images import load_image

    with tempfile.TemporaryDirectory() as tmp:
        root = build_dataset(DataConfig(n_identities=cfg.n_identity_people, qa_per_identity=5, seed=0,
                                        holdout_fraction=0.0),
                             Path(tmp) / "bench")
        import json

        people = [json.loads(line) for line in (root / "full.json").read_text().splitlines() if line.strip()]
        mc_correct = mc_total = 0
        kw_scores: list[float] = []
        for person in people:
            img = load_image(root / person["image_path"])
            qas = person["qa_list"]
            for qa in qas:
                options = [qa["answer"], *qa["perturbed_answer"]]
                batch = vlm.train_batch([(img, qa["question"], o) for o in options])
                nll = mean_nll(vlm.forward(batch), batch["labels"])
                mc_correct += int(nll.argmin().item() == 0)
                mc_total += 1
            outs = vlm.generate([img] * len(qas), [qa["question"] for qa in qas], max_new_tokens=32)
            for qa, out in zip(qas, outs, strict=True):
                kws = qa["keywords"] or [qa["answer"]]
                kw_scores.append(sum(k.lower() in out.lower() for k in kws) / len(kws))
    return {
        "identity_mc_accuracy": round(mc_correct / max(1, mc_total), 4),
        "identity_mc_chance": 0.25,
        "identity_keyword_em": round(sum(kw_scores) / max(1, len(kw_scores)), 4),
        "identity_questions": mc_total,
    }
