"""Does quantization round the unlearning? The bitsandbytes (GPU) path of the quantization attack.

Usage:
    python benchmarks/gpu_quantization_check.py [--backend auto|bitsandbytes|quanto] [--bits 4] [--fraction 0.2]

On a tiny random model ("fine-tuned") with a LoRA "unlearning" adapter whose delta is
``--fraction`` of each touched row's quantization step (absmax / 7 at 4 bits, / 127 at
8), prints:

- whether the layers bitsandbytes quantized are the layers the CPU path (optimum-quanto,
  ``attacks.quantization.quantized_layers``) quantizes;
- the change of the forget answers (mean NLL of each gold answer) that the unlearning
  makes in float, and how much of it is kept after quantizing, with the adapter merged
  into the base first (the paper's attack) and kept separate: the least-squares slope
  of the quantized change (against the quantized fine-tuned model) on the float change,
  over the forget QA (1: the unlearning kept; 0: rounded away, only rounding noise left).

A merged slope well below the adapter slope: the delta was rounded with the base.
Without CUDA the bitsandbytes path cannot run: ``--backend auto`` then says so and
runs the optimum-quanto path instead (same comparison, CPU).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def _adapter(ft_dir: Path, out: Path, fraction: float, bits: int) -> Path:
    import torch

    from fiubench.models import ModelConfig, load_vlm
    from fiubench.models.config import TuningScope

    vlm = load_vlm(ModelConfig(name_or_path=str(ft_dir), device="cpu",
                               scope=TuningScope(lora=True, lora_r=4, lora_alpha=4, lora_dropout=0.0)))
    gen = torch.Generator().manual_seed(0)
    levels = 7 if bits == 4 else 127
    with torch.no_grad():
        for m in vlm.hf_model.modules():
            if hasattr(m, "lora_A") and "default" in m.lora_A:
                w = m.base_layer.weight.float()
                step = w.abs().amax(1) / levels  # per-row absmax step
                m.lora_A["default"].weight.copy_(torch.randn(4, w.shape[1], generator=gen).sign() / 4)
                m.lora_B["default"].weight.copy_(fraction * step[:, None] * torch.randn(w.shape[0], 4, generator=gen).sign())
    vlm.save(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("auto", "bitsandbytes", "quanto"), default="auto")
    ap.add_argument("--bits", type=int, choices=(4, 8), default=4)
    ap.add_argument("--fraction", type=float, default=0.2, help="unlearning delta / quantization step (default 0.2)")
    args = ap.parse_args()

    import torch

    from fiubench.attacks import AttackContext
    from fiubench.attacks.probes import forget_qa
    from fiubench.attacks.quantization import load_quantized, quantized_layers
    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.eval.engine import ScoreRow
    from fiubench.models.loading import quantization_skip
    from fiubench.tiny.model import save_random_tiny

    cuda = torch.cuda.is_available()
    backend = args.backend if args.backend != "auto" else ("bitsandbytes" if cuda else "quanto")
    if backend == "bitsandbytes" and not cuda:
        print("CUDA not available: the bitsandbytes path cannot run here", file=sys.stderr)
        return 2
    if not cuda:
        print("CUDA not available: bitsandbytes path NOT run; running the optimum-quanto (CPU) path instead")
    device = "cuda" if cuda else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_dataset(DataConfig(n_identities=6, qa_per_identity=4, seed=0, holdout_fraction=0.34,
                                 forget_percents=(34,), retain_percents=(34,), select="random"), root / "data")
        ft = save_random_tiny(root / "ft", seed=0)
        unlearned = _adapter(ft, root / "unlearned", args.fraction, args.bits)
        ctx = AttackContext(dataset=load_dataset(root / "data"), forget="forget34", work=root / "work",
                            model_overrides={"device": device})
        rows = [ScoreRow(p.image_path, qa.question, qa.answer) for p, _, qa in forget_qa(ctx.dataset, ctx.forget)]

        def nll(vlm) -> list[float]:  # noqa: ANN001
            return [s.mean_nll for s in ctx.engine(vlm).score(rows)]

        ref = ctx.load(ft)
        want = set(quantized_layers(ref.hf_model, quantization_skip(ref.family)))
        got = {"ft": nll(ref), "unlearned": nll(ctx.load(unlearned))}
        q_ft = load_quantized(ft, args.bits, backend, ctx, keep_adapter=False)
        done = {n for n, m in q_ft.hf_model.named_modules()
                if type(m).__name__ in ("Linear4bit", "Linear8bitLt", "QLinear")}
        got["ft_q"] = nll(q_ft)
        got["merged_q"] = nll(load_quantized(unlearned, args.bits, backend, ctx, keep_adapter=False))
        got["adapter_q"] = nll(load_quantized(unlearned, args.bits, backend, ctx, keep_adapter=True))

    def kept(q: str) -> float:
        """Slope of the quantized model's change of the forget answers on the float unlearning's
        (per QA, both against their fine-tuned model): 1 = the unlearning kept, 0 = rounded away."""
        df = [u - f for u, f in zip(got["unlearned"], got["ft"], strict=True)]
        dq = [x - f for x, f in zip(got[q], got["ft_q"], strict=True)]
        return sum(a * b for a, b in zip(dq, df, strict=True)) / sum(a * a for a in df)

    print(f"backend {backend}, int{args.bits}, unlearning delta = {args.fraction} x step, device {device}")
    print(f"same layers as the CPU path: {'yes' if done == want else 'NO'} "
          f"({len(done)} quantized; only here: {sorted(done - want)[:3]}; only on CPU: {sorted(want - done)[:3]})")
    print(f"float change of the forget answers (max |dNLL|): "
          f"{max(abs(u - f) for u, f in zip(got['unlearned'], got['ft'], strict=True)):.5f}")
    print(f"unlearning kept, merged then quantized:        {kept('merged_q'):.3f}")
    print(f"unlearning kept, adapter beside quantized base: {kept('adapter_q'):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
