"""Does a model keep seeing through stage 1? Visual accuracy and memorisation of the retain model.

Usage:
    python studies/stage1_keeps_seeing.py [--base DIR] [--keep 0 8] [--weight 1.0]
        [--split retain] [--device cpu|cuda] [--max-steps N] [--epochs N] [--replay N] [--frozen-projector]
        [--captions N] [--open N] [--keep-faces N] [--faces N] [--out DIR]

For each ``--keep`` value (and each ``--weight``), runs the ``tiny`` preset's stage 1
(50 epochs, lr 1e-3, cosine, 240 replayed visual QA) from the base checkpoint ``--base``
on the tiny preset's dataset (built once), with ``learn.visual_keep`` set, then prints:
open / yes/no exact match on `--faces` unseen procedural faces (50) (``evaluate_visual``), greedy
whole-answer exact match on the split's own QA (did it memorise?), and the stage-1 time
relative to the run without keep (ratios from this one run). The base's own visual
accuracy is printed first. The figures in ``fiubench.tiny.keep`` come from it
(``--base`` the shipped base's ancestors; rebuild them with the commands in
``fiubench.tiny.build``).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tempfile
import time
from pathlib import Path
from typing import Any


def _em_of(vlm: Any, data: Path, split: str) -> float:
    """Greedy whole-answer exact match of ``vlm`` on the split's own QA."""
    from fiubench.data import load_dataset
    from fiubench.models import load_image

    ex = load_dataset(data).examples(split)

    def norm(s: str) -> str:
        return re.sub(r"[^a-z0-9 ]+", "", s.lower()).strip()

    ok = 0
    for i in range(0, len(ex), 64):
        chunk = ex[i:i + 64]
        outs = vlm.generate([load_image(e.image_path) for e in chunk], [e.question for e in chunk], max_new_tokens=48)
        ok += sum(norm(o) == norm(e.answer) for o, e in zip(outs, chunk, strict=True))
    return ok / len(ex)


def _visual_of(vlm: Any, faces: int = 50) -> tuple[float, float]:
    """Open and yes/no exact match of ``vlm`` on ``faces`` unseen procedural faces."""
    from fiubench.tiny.config import BaseBuildConfig
    from fiubench.tiny.evaluate import evaluate_visual

    m = evaluate_visual(vlm, BaseBuildConfig(n_eval_faces=faces, device=str(vlm.device)))
    return m["visual_open_accuracy"], m["visual_yesno_accuracy"]


def _load(model_dir: Path, device: str) -> Any:
    from fiubench.models import ModelConfig, load_vlm

    return load_vlm(ModelConfig(name_or_path=str(model_dir), device=device))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=None,
                    help="base checkpoint (fiubench base build --out; default: the shipped tiny base)")
    ap.add_argument("--keep", type=int, nargs="+", default=[0, 8], help="learn.visual_keep values")
    ap.add_argument("--weight", type=float, nargs="+", default=[1.0], help="learn.visual_keep_weight values")
    ap.add_argument("--split", default="retain")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-steps", type=int, default=None, help="cut stage 1 short (a smoke run)")
    ap.add_argument("--epochs", type=int, default=None, help="stage-1 epochs (default: the tiny preset's)")
    ap.add_argument("--replay", type=int, default=None,
                    help="learn.visual_replay (default: the tiny preset's)")
    ap.add_argument("--frozen-projector", action="store_true",
                    help="stage 1 trains the language model only (default: projector + language model)")
    ap.add_argument("--captions", type=int, default=0,
                    help="learn.visual_keep_captions: descriptions per keep step (default 0)")
    ap.add_argument("--open", type=int, default=None,
                    help="learn.visual_keep_open: open questions per keep step (default: keep // 3)")
    ap.add_argument("--keep-faces", type=int, default=None,
                    help="learn.visual_keep_faces: the keep step's pool of faces (default 200)")
    ap.add_argument("--faces", type=int, default=50, help="unseen faces the visual accuracy is measured on")
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    args = ap.parse_args()

    import torch

    from fiubench.data.build import build_dataset
    from fiubench.models import ModelConfig, TuningScope
    from fiubench.presets import load_run_config
    from fiubench.tiny import training_terms, visual_replay
    from fiubench.train import LearnConfig, learn

    torch.set_num_threads(1)
    if args.base is None:
        from fiubench.models.loading import tiny_base_dir

        args.base = tiny_base_dir()
    tiny = load_run_config("tiny", None)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        data = build_dataset(tiny.data, out / "data") if not (out / "data" / "split.json").is_file() else out / "data"
        base_open, base_yn = _visual_of(_load(args.base, args.device), args.faces)
        print(f"base {args.base}: open {base_open:.3f}  yes/no {base_yn:.3f}  (keep descriptions: {args.captions}, open per step: {args.open}, keep faces: {args.keep_faces}, {args.faces} faces)")
        print(f"{'keep':>4} {'lambda':>6}  {'open':>5} {'yes/no':>6}  {args.split + ' EM':>10}  {'stage-1 s':>9} {'ratio':>5}")
        t_plain = None
        for keep in args.keep:
            for w in (args.weight if keep else [1.0]):
                train = dataclasses.replace(tiny.learn.train, progress=False)
                if args.max_steps is not None:
                    train = dataclasses.replace(train, max_steps=args.max_steps)
                if args.epochs is not None:
                    train = dataclasses.replace(train, epochs=args.epochs)
                model = ModelConfig(name_or_path=str(args.base), device=args.device,
                                    scope=TuningScope(vision=False, projector=not args.frozen_projector,
                                                      language=True))
                t = time.perf_counter()
                cfg = LearnConfig(data=data, out=out / f"keep{keep}-w{w}-c{args.captions if keep else 0}-o{args.open if keep else None}-f{args.keep_faces if keep else None}", model=model, split=args.split,
                                  train=train,
                                  visual_replay=tiny.learn.visual_replay if args.replay is None else args.replay,
                                  visual_keep=keep, visual_keep_weight=w,
                                  visual_keep_captions=args.captions if keep else 0,
                                  visual_keep_open=args.open if keep else None,
                                  visual_keep_faces=args.keep_faces if keep else None)
                run = learn(cfg, overwrite=True, terms=training_terms(cfg), replay=visual_replay)
                dt = time.perf_counter() - t
                t_plain = dt if keep == 0 and t_plain is None else t_plain
                vlm = _load(run / "model", args.device)
                o, y = _visual_of(vlm, args.faces)
                em = _em_of(vlm, data, args.split)
                ratio = f"{dt / t_plain:5.2f}" if t_plain else "  -  "
                print(f"{keep:>4} {w:>6}  {o:5.3f} {y:6.3f}  {em:10.3f}  {dt:9.0f} {ratio}", flush=True)


if __name__ == "__main__":
    main()
