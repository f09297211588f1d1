"""Does interpolating a stage-1 model back towards its base buy the seeing back?

Usage:
    python studies/stage1_interpolate.py --model DIR --data DIR [--base DIR]
        [--alphas 0.9 0.8 0.7] [--split retain] [--faces 100] [--device cpu|cuda]

WiSE-FT (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"): the weights
``alpha * theta_stage1 + (1 - alpha) * theta_base``. For each alpha, prints open / yes/no
exact match on ``--faces`` unseen procedural faces and the greedy whole-answer exact
match on the split's own QA (did the identities survive?), as
``studies/stage1_keeps_seeing.py`` does. ``--model``: a stage-1 model (e.g. one that
``stage1_keeps_seeing.py --out DIR`` kept); ``--data``: the dataset it learnt. The
figures in ``fiubench.tiny.keep`` come from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def interpolate(model: dict[str, torch.Tensor], base: dict[str, torch.Tensor], alpha: float) -> None:
    """``model <- alpha * model + (1 - alpha) * base`` in place, floating-point tensors only."""
    with torch.no_grad():
        for k, v in model.items():
            if v.is_floating_point():
                v.copy_(alpha * v + (1 - alpha) * base[k].to(v.dtype))


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    from stage1_keeps_seeing import _em_of, _load, _visual_of

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="the stage-1 model directory")
    ap.add_argument("--data", type=Path, required=True, help="the dataset it learnt")
    ap.add_argument("--base", type=Path, default=None, help="its base (default: the shipped tiny base)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.9, 0.8, 0.7])
    ap.add_argument("--split", default="retain")
    ap.add_argument("--faces", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if args.base is None:
        from fiubench.models.loading import tiny_base_dir

        args.base = tiny_base_dir()
    base = _load(args.base, args.device).model.state_dict()
    rows = []
    for alpha in args.alphas:
        vlm = _load(args.model, args.device)
        interpolate(vlm.model.state_dict(), base, alpha)
        o, y = _visual_of(vlm, args.faces)
        em = _em_of(vlm, args.data, args.split)
        rows.append({"alpha": alpha, "open": o, "yesno": y, "em": em})
        print(f"alpha {alpha}: open {o:.3f}  yes/no {y:.3f}  {args.split} EM {em:.3f}", flush=True)
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
