"""After stage 1: does a phase of visual keep alone win back the seeing, and at what cost?

Usage:
    python studies/stage1_keeps_seeing.py --keep 8 --weight 0.1 --out S1
    python studies/keep_refresh.py --model S1/keep8-w0.1/model --data S1/data \
        [--steps 200] [--lr 1e-4 3e-4 1e-3] [--pairs 8]

From the stage-1 model ``--model`` (weights reloaded for each ``--lr``), runs ``--steps``
AdamW steps (cosine from ``lr``, projector and language model trainable, as stage 1) of
stage C's loss alone (``fiubench.tiny.keep.VisualKeep``, weight 1), then prints
open / yes/no exact match on 50 unseen procedural faces and greedy whole-answer exact
match on the retain split's QA, first for the model as it came out of stage 1. The result
(in ``fiubench.tiny.keep``) is why the ``tiny`` preset has no such phase.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="a stage-1 model (stage1_keeps_seeing.py --out)")
    ap.add_argument("--data", type=Path, required=True, help="its dataset (the same --out's data/)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3])
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--split", default="retain")
    args = ap.parse_args()

    import torch
    from stage1_keeps_seeing import _em_of, _visual_of

    from fiubench.models import ModelConfig, load_vlm
    from fiubench.tiny.keep import VisualKeep

    torch.set_num_threads(1)

    def report(label: str, vlm: object) -> None:
        o, y = _visual_of(vlm)
        print(f"{label:<28} open {o:5.3f}  yes/no {y:5.3f}  {args.split} EM {_em_of(vlm, args.data, args.split):5.3f}",
              flush=True)

    report("stage 1 (no refresh)", load_vlm(ModelConfig(name_or_path=str(args.model))))
    for lr in args.lr:
        vlm = load_vlm(ModelConfig(name_or_path=str(args.model)))
        model = vlm.model
        for name, p in model.named_parameters():
            p.requires_grad = "vision_tower" not in name
        params = [p for p in model.parameters() if p.requires_grad]
        keep = VisualKeep(vlm, args.pairs, 1.0, seed=123)
        opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / args.steps)))
        t = time.perf_counter()
        model.train()
        for step in range(args.steps):
            loss, _ = keep.loss(model, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
        model.eval()
        report(f"+{args.steps} keep steps, lr {lr:g} ({time.perf_counter() - t:.0f} s)", vlm)


if __name__ == "__main__":
    main()
