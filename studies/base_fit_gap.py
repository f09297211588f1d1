"""Does the tiny base underfit or overfit? Visual accuracy on its training faces vs unseen ones.

Usage:
    python studies/base_fit_gap.py [--base DIR] [--faces 100] [--seed 0]

Asks the benchmark's visual questions (one per visible attribute, open and yes/no) about
``--faces`` of the faces stage C trained on (the base's seed space, split "train", drawn
as ``fiubench.tiny.distil`` draws them) and about as many unseen faces (split
"eval"), and prints open / yes/no exact match for both and the attributes below 0.8.
Training faces well above unseen ones: the base overfits (more faces would help); both
low on the same attributes: it underfits (a bigger model, or a better tower, would).
The figures in ``fiubench.tiny.build``'s docstring come from it.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def fit_gap(base: Path | None, faces: int = 100, seed: int = 0, device: str = "cpu") -> dict[str, dict]:
    """``evaluate_visual`` of the base at ``base`` on ``faces`` of its stage-C training
    faces ("training faces") and as many unseen ones ("unseen faces")."""
    import torch

    from fiubench.data.visual import visual_questions
    from fiubench.models import ModelConfig, load_vlm
    from fiubench.models.loading import tiny_base_dir
    from fiubench.tiny.config import BaseBuildConfig
    from fiubench.tiny.distil import yesno_and_open
    from fiubench.tiny.evaluate import evaluate_visual
    from fiubench.tiny.pools import procedural_pool

    torch.set_num_threads(1)
    vlm = load_vlm(ModelConfig(name_or_path=str(base or tiny_base_dir()), device=device))
    cfg = BaseBuildConfig(seed=seed, n_eval_faces=faces, device=device)
    # The same faces stage C trained on (its question maker draws from the pool's rng,
    # so the attributes depend on it), asked the evaluation's questions.
    rng = random.Random(f"base-fit-gap:{seed}")
    trained = [(img, visual_questions(attrs, rng), attrs)
               for img, _, attrs in procedural_pool(seed, "train", faces, questions=yesno_and_open(1))]
    return {name: evaluate_visual(vlm, cfg, pool=pool)
            for name, pool in (("training faces", trained), ("unseen faces", None))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=None, help="base checkpoint (default: the shipped tiny base)")
    ap.add_argument("--faces", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="the base build's seed (its pools)")
    args = ap.parse_args()

    from fiubench.models.loading import tiny_base_dir

    print(f"base {args.base or tiny_base_dir()}")
    for name, m in fit_gap(args.base, args.faces, args.seed).items():
        weak = {k: v for k, v in m["visual_accuracy_by_attribute"].items() if v < 0.8}
        print(f"{name:>15}: open {m['visual_open_accuracy']:.3f}  yes/no {m['visual_yesno_accuracy']:.3f}  "
              f"below 0.8: " + ", ".join(f"{k} {v:.2f}" for k, v in weak.items()), flush=True)


if __name__ == "__main__":
    main()
