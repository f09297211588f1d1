"""One unlearning step of every built-in method on a CUDA device, with a tiny random VLM.

Usage:
    python benchmarks/gpu_methods_check.py                 # on a CUDA GPU (skips when none)
    python benchmarks/gpu_methods_check.py --device cpu    # the same code path on the CPU
    python benchmarks/gpu_methods_check.py --methods mmunlearner rmu --json out.json

For each method (and for ``mmunlearner`` and ``rmu`` also under a LoRA scope), on a
freshly loaded random tiny VLM placed on the device: the method's hooks in the
engine's order (``configure_trainable``, ``setup``, ``begin_run``, ``prepare`` when it
wants batches), then two optimiser steps (``begin_step``, ``compute_loss`` on a
forget/retain pair, backward, AdamW without weight decay, ``after_step``): two, because
SCRUB's first step is a max step whose KL gradient is 0 while student = teacher. A
method passes when its losses and every gradient are finite, every gradient stayed on
the device (a mask or state tensor left on the CPU raises there, as MMUnlearner's masks
once did), and at least one trainable parameter moved. Prints one line per method and the wall time of its step; exit status
1 when any method fails. No download: the model is written from the package's tiny
configuration.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

LORA_TOO = ("mmunlearner", "rmu")


def _images(n: int) -> list[Any]:
    from PIL import Image

    colours = ["red", "blue", "green", "white", "black", "yellow"]
    return [Image.new("RGB", (32, 32), colours[i % len(colours)]) for i in range(n)]


def _batches(vlm: Any, device: torch.device) -> tuple[Any, Any, Any]:
    """Forget inputs, their refusal inputs and retain inputs, on ``device``."""
    from fiubench.methods import UnlearnBatch

    img = _images(4)
    forget = [(img[0], "Who is this?", "Ann Lee."), (img[1], "Where does this person live?", "Paris.")]
    refusal = [(i, q, "I cannot tell who this is.") for i, q, _ in forget]
    retain = [(img[2], "Who is this?", "Bo Chan."), (img[3], "What is this person's job?", "A baker.")]

    def to(rows: list[Any]) -> dict[str, torch.Tensor]:
        return {k: v.to(device) for k, v in vlm.train_batch(rows).items()}

    return UnlearnBatch(to(forget), refusal=to(refusal)), UnlearnBatch(to(retain)), None


def _step(name: str, model_dir: Path, device: torch.device, lora: bool) -> dict[str, Any]:
    from fiubench.methods import build_method
    from fiubench.methods.base import ONE_EPOCH
    from fiubench.models import ModelConfig
    from fiubench.models.config import TuningScope
    from fiubench.models.loading import load_vlm
    from fiubench.train.context import EngineContext

    torch.manual_seed(0)
    scope = TuningScope(vision=False, projector=True, language=True, lora=lora, lora_r=4, lora_alpha=8)
    vlm = load_vlm(ModelConfig(name_or_path=str(model_dir), scope=scope, device=str(device)))
    method = build_method(name)
    method.configure_trainable(vlm)
    method.setup(vlm, seed=0)
    ref = None
    if method.needs_reference:
        ref = load_vlm(ModelConfig(name_or_path=str(model_dir), device=str(device)))
        ref.model.eval()
        for p in ref.model.parameters():
            p.requires_grad_(False)
    ctx = EngineContext(vlm.model, vlm, ref)
    forget, retain, _ = _batches(vlm, device)
    method.begin_run(1)
    n = method.prepare_batches()
    if n == ONE_EPOCH:
        n = 1
    if n > 0:
        method.prepare(ctx, [(forget, retain)] * n)
    params = [p for p in vlm.model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)  # only gradients move weights
    vlm.model.train()
    grads_ok, on_device, losses = True, True, []
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(2):
        opt.zero_grad(set_to_none=True)
        method.begin_step(step)
        loss, _ = method.compute_loss(ctx, forget, retain)
        loss.backward()
        grads_ok &= all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params)
        on_device &= loss.device.type == device.type and all(
            p.grad is None or p.grad.device.type == device.type for p in params)
        opt.step()
        method.after_step(step + 1)
        losses.append(loss.item())
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / 2
    moved = sum(int((p.detach() != b).any()) for p, b in zip(params, before, strict=True))
    loss = torch.tensor(losses[0])
    ok = all(map(math.isfinite, losses)) and grads_ok and on_device and moved > 0
    return {"method": name, "lora": lora, "loss": loss.item(), "seconds": seconds, "trainable": len(params),
            "moved": moved, "finite_grads": grads_ok, "grads_on_device": on_device, "ok": ok}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:1, or cpu")
    ap.add_argument("--methods", nargs="*", default=None, help="default: every built-in method")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_methods_check: no CUDA device here: skipped (--device cpu runs the same code on the CPU)")
        return 0
    from fiubench.methods import METHODS
    from fiubench.methods.plugins import source_of
    from fiubench.tiny.model import save_random_tiny

    names = args.methods or sorted(n for n, _ in METHODS.items() if source_of(n) == "built-in")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        print(f"gpu_methods_check: error: --methods: unknown {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = save_random_tiny(Path(tmp) / "tiny", seed=0)
        for name in names:
            for lora in (False, True) if name in LORA_TOO else (False,):
                try:
                    row = _step(name, model_dir, device, lora)
                except Exception as e:  # noqa: BLE001 - report every method, then fail
                    row = {"method": name, "lora": lora, "ok": False, "error": f"{type(e).__name__}: {e}",
                           "trace": traceback.format_exc(limit=4)}
                rows.append(row)
                label = f"{name}{' (LoRA)' if lora else ''}"
                if row["ok"]:
                    print(f"{label:20s} ok    loss {row['loss']:+.4f}  {row['seconds'] * 1000:7.1f} ms/step  "
                          f"{row['moved']}/{row['trainable']} trainable tensors moved")
                else:
                    print(f"{label:20s} FAIL  {row.get('error', row)}")
                    if "trace" in row:
                        print(row["trace"])
    n_ok = sum(r["ok"] for r in rows)
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{n_ok}/{len(rows)} method steps ok on {dev} (torch {torch.__version__})")
    if args.json is not None:
        args.json.write_text(json.dumps({"device": dev, "rows": rows}, indent=2))
    return 0 if n_ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
