"""GPU measurements at real model size, with nothing to download.

Usage:
    python benchmarks/bench_gpu.py                 # on a CUDA GPU: real sizes, bf16
    python benchmarks/bench_gpu.py --small         # tiny sizes on CPU (the code path; CI)
    python benchmarks/bench_gpu.py --models llava-1.5-7b --json out.json --peak-tflops 989

Models are random-initialised from configs written here (no weights, no download):

* ``llava-1.5-7b``: LLaVA-1.5-7B's architecture -- CLIP ViT-L/14 at 336 px (576 image
  tokens, features of the second-last layer) + 2-layer MLP projector + a Llama-2-7B
  language model (Vicuna-7B: 32 layers, hidden 4096, MLP 11008, vocabulary 32064);
* ``llava-phi-3-mini``: the FIUBench paper's main model -- the same vision tower and
  projector + a Phi-3-mini language model (32 layers, hidden 3072, MLP 8192).

Prompts are tokenised with the embedded tiny tokenizer (its ids are valid in the
32k vocabularies); with 576 image tokens per example the prompt text is a small
share of the sequence, as with the real tokenizers.

Measured, per model (each phase on a fresh model, peak memory reset before it):

* training step throughput (examples/s, tokens/s) and MFU of
  - LoRA r=128 (alpha 256) on the language model + the full projector (the paper's
    stage-2 recipe), and
  - full fine-tuning of projector + language model (the paper's stage 1), when it
    fits (an out-of-memory is reported as such);
  AdamW, bf16 weights, gradient checkpointing at real size, the fiubench model layer
  (``VLM.train_batch``, ``apply_scope``).
* evaluation QA/s with and without the encode-each-image-once path of
  ``fiubench.eval.engine.Engine`` (greedy generation + scoring of answer variants);
* peak GPU memory of each phase.

MFU = model FLOPs per second / the GPU's peak dense bf16 FLOP/s. Model FLOPs count
the weight matmuls only (attention-score FLOPs are left out: a lower bound): per
token, 2N forward; full fine-tuning adds 4N backward (activation and weight
gradients); LoRA adds 2N (activation gradients through the frozen weights; the
adapters' own FLOPs are negligible). The vision tower is frozen: 2N per image token
forward only. Peak FLOP/s come from a table of GPUs by name or ``--peak-tflops``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

# Dense bf16 tensor-core peak, TFLOP/s (vendor data sheets, SXM parts, no sparsity).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L40": 181.0, "A6000": 155.0,
               "A10G": 70.0, "A10": 125.0, "L4": 121.0, "V100": 125.0, "4090": 165.0}

REAL = {
    "llava-1.5-7b": {"lm": "llama", "hidden": 4096, "inter": 11008, "layers": 32, "heads": 32, "kv": 32,
                     "vocab": 32064},
    "llava-phi-3-mini": {"lm": "phi3", "hidden": 3072, "inter": 8192, "layers": 32, "heads": 32, "kv": 32,
                         "vocab": 32064},
}
REAL_VISION = {"hidden": 1024, "inter": 4096, "layers": 24, "heads": 16, "image": 336, "patch": 14}
SMALL_LM = {"hidden": 64, "inter": 128, "layers": 2, "heads": 4, "kv": 4}
SMALL_VISION = {"hidden": 32, "inter": 64, "layers": 2, "heads": 2, "image": 64, "patch": 16}


def build_config(name: str, tokenizer: Any, small: bool) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, Phi3Config

    spec = dict(REAL[name])
    if small:
        spec.update(SMALL_LM, vocab=len(tokenizer))
    v = SMALL_VISION if small else REAL_VISION
    vision = CLIPVisionConfig(hidden_size=v["hidden"], intermediate_size=v["inter"], num_hidden_layers=v["layers"],
                              num_attention_heads=v["heads"], image_size=v["image"], patch_size=v["patch"],
                              projection_dim=768 if not small else v["hidden"])
    common = dict(vocab_size=spec["vocab"], hidden_size=spec["hidden"], intermediate_size=spec["inter"],
                  num_hidden_layers=spec["layers"], num_attention_heads=spec["heads"],
                  num_key_value_heads=spec["kv"], max_position_embeddings=4096,
                  pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    text = LlamaConfig(**common) if spec["lm"] == "llama" else Phi3Config(**common)
    return LlavaConfig(vision_config=vision, text_config=text,
                       image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                       vision_feature_select_strategy="default", vision_feature_layer=-2,
                       projector_hidden_act="gelu", pad_token_id=tokenizer.pad_token_id)


def build_vlm(name: str, small: bool, device: str, dtype: torch.dtype, scope: Any, checkpointing: bool) -> Any:
    """A random-initialised VLM of ``name``'s architecture, wrapped by the fiubench model layer."""
    from transformers import CLIPImageProcessorPil, LlavaForConditionalGeneration, LlavaProcessor

    from fiubench.models.config import ModelConfig
    from fiubench.models.families import PHI3_TEMPLATE, get_family
    from fiubench.models.loading import _finish
    from fiubench.tiny.model import load_tokenizer

    tok = load_tokenizer()
    cfg = build_config(name, tok, small)
    v = cfg.vision_config
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": v.image_size},
                                              crop_size={"height": v.image_size, "width": v.image_size}),
        tokenizer=tok, patch_size=v.patch_size, num_additional_image_tokens=1,
        vision_feature_select_strategy="default", chat_template=PHI3_TEMPLATE,
    )
    torch.manual_seed(0)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):  # built where it runs: no 7B copy through host memory
            model = LlavaForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(prev)
    tiny = get_family("tiny")  # the embedded tokenizer's chat conventions
    lm_regex = get_family("llava-phi-3-mini" if REAL[name]["lm"] == "phi3" else "llava-1.5").lora_target_regex
    fam = dataclasses.replace(tiny, name=name, lora_target_regex=lm_regex)
    mcfg = ModelConfig(name_or_path=f"<random {name}>", dtype={torch.bfloat16: "bfloat16"}.get(dtype, "float32"),
                       scope=scope, gradient_checkpointing=checkpointing, device=device)
    return _finish(mcfg, model, processor, fam, mcfg.name_or_path)


def param_counts(model: Any) -> dict[str, int]:
    counts = {"vision": 0, "projector": 0, "language": 0, "trainable": 0}
    for n, p in model.named_parameters():
        part = ("vision" if "vision_tower" in n else "projector" if "multi_modal_projector" in n else "language")
        if "lora_" not in n:
            counts[part] += p.numel()
        if p.requires_grad:
            counts["trainable"] += p.numel()
    return counts


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def _images(n: int, size: int, folder: Path) -> list[Path]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


QUESTION = "What is the blood type of the person in the image?"
ANSWER = "The blood type of the person in the image is AB negative, as recorded at the hospital."


def bench_train(vlm: Any, kind: str, batch: int, steps: int, warmup: int, device: str, peak: float | None,
                images: list[Path]) -> dict[str, Any]:
    from PIL import Image

    model = vlm.model
    counts = param_counts(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    model.train()
    ex = [(Image.open(images[i % len(images)]).convert("RGB"), QUESTION, ANSWER) for i in range(batch)]
    data = vlm.train_batch(ex)
    tokens = int(data["attention_mask"].sum())
    n_img_tokens = int((data["input_ids"] == model.config.image_token_id).sum()) if hasattr(model, "config") else 0
    times = []
    for i in range(warmup + steps):
        _sync(device)
        t = time.perf_counter()
        loss = model(**data).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    step = sorted(times)[len(times) // 2]  # median
    n_vis_tokens = batch * (n_img_tokens // max(1, batch) + 1)  # + the CLS token the tower also computes
    lm_factor = 6 if kind == "full" else 4
    flops = lm_factor * counts["language"] * tokens + 2 * counts["vision"] * n_vis_tokens \
        + 6 * counts["projector"] * n_img_tokens
    del opt
    return {
        "kind": kind, "batch": batch, "tokens_per_step": tokens, "step_s": step,
        "examples_per_s": batch / step, "tokens_per_s": tokens / step, "tflops_per_s": flops / step / 1e12,
        "mfu": (flops / step) / (peak * 1e12) if peak else None, "params": counts,
        "peak_gib": _peak_gib(device), "final_loss": float(loss.detach()),
    }


def bench_eval(vlm: Any, n_images: int, per_image: int, batch: int, max_new_tokens: int, reuse: bool,
               device: str, images: list[Path]) -> dict[str, Any]:
    from fiubench.eval.engine import Engine, ScoreRow

    questions = [f"{QUESTION} ({k})" for k in range(per_image)]
    gen = [(images[i], q) for i in range(n_images) for q in questions]
    rows = [ScoreRow(images[i], q, ANSWER + v, with_dist=True)
            for i in range(n_images) for q in questions for v in ("", " Really.", " Or not.")]
    engine = Engine(vlm, batch_size=batch, reuse_image_features=reuse)
    engine.generate(gen[:batch], max_new_tokens)  # warm-up (kernels, caches of a first batch)
    engine = Engine(vlm, batch_size=batch, reuse_image_features=reuse)
    _sync(device)
    t = time.perf_counter()
    engine.generate(gen, max_new_tokens)
    engine.score(rows)
    _sync(device)
    dt = time.perf_counter() - t
    return {"encode_once": reuse, "fast_path": engine.stats["fast_path"], "qa": len(gen), "seconds": dt,
            "qa_per_s": len(gen) / dt, "image_encodes": engine.stats["image_encodes"],
            "peak_gib": _peak_gib(device)}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _gib(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f} GiB"


def _free(*objs: Any) -> None:
    for o in objs:
        del o
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="tiny sizes on CPU: the code path, not the figures")
    ap.add_argument("--models", nargs="+", default=list(REAL), choices=list(REAL))
    ap.add_argument("--batch", type=int, help="training batch (default 8 real, 2 small)")
    ap.add_argument("--steps", type=int, help="timed training steps (default 10 real, 2 small)")
    ap.add_argument("--eval-images", type=int, help="images in the evaluation test (default 16 real, 3 small)")
    ap.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak (default: from its name)")
    ap.add_argument("--skip-full", action="store_true", help="do not try full fine-tuning")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    from fiubench.models.config import TuningScope

    small = args.small
    if not small and not torch.cuda.is_available():
        ap.error("no CUDA GPU here: real sizes need one (use --small for the CPU code path)")
    device = "cpu" if small else "cuda"
    dtype = torch.float32 if small else torch.bfloat16
    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)
    batch = args.batch or (2 if small else 8)
    steps = args.steps or (2 if small else 10)
    warmup = 1 if small else 3
    n_eval = args.eval_images or (3 if small else 16)
    out: dict[str, Any] = {"device": gpu, "peak_tflops": peak, "dtype": str(dtype), "small": small, "models": {}}
    print(f"device: {gpu} (peak bf16 {peak or 'unknown'} TFLOP/s); {'small CPU sizes' if small else 'real sizes'}",
          flush=True)
    lora = TuningScope(vision=False, projector=True, language=True, lora=True, lora_r=128, lora_alpha=256)
    full = TuningScope(vision=False, projector=True, language=True, lora=False)
    with tempfile.TemporaryDirectory() as tmp:
        size = SMALL_VISION["image"] if small else REAL_VISION["image"]
        images = _images(max(n_eval, batch), size, Path(tmp))
        for name in args.models:
            res: dict[str, Any] = {}
            for kind, scope in (("lora", lora), ("full", full)):
                if kind == "full" and args.skip_full:
                    continue
                _reset_peak(device)
                vlm = None
                try:
                    vlm = build_vlm(name, small, device, dtype, scope, checkpointing=not small)
                    r = bench_train(vlm, kind, batch, steps, warmup, device, peak, images)
                except torch.cuda.OutOfMemoryError as e:
                    r = {"kind": kind, "batch": batch, "fits": False, "error": str(e).splitlines()[0]}
                res[f"train_{kind}"] = r
                _free(vlm)
                vlm = None
                line = (f"{name} train {kind}: does not fit ({r['error']})" if r.get("fits") is False else
                        f"{name} train {kind}: {r['examples_per_s']:.2f} ex/s, {r['tokens_per_s']:.0f} tok/s, "
                        f"{r['tflops_per_s']:.1f} TFLOP/s, MFU {_pct(r['mfu'])}, peak {_gib(r['peak_gib'])} "
                        f"(trainable {r['params']['trainable'] / 1e6:.1f} M)")
                print(line, flush=True)
            _reset_peak(device)
            vlm = build_vlm(name, small, device, dtype, TuningScope(), checkpointing=False)
            for reuse in (True, False):
                r = bench_eval(vlm, n_eval, 2, 8 if not small else 4, 16 if not small else 4, reuse, device, images)
                res[f"eval_{'encode_once' if reuse else 'encode_each'}"] = r
                print(f"{name} eval {'encode-once' if reuse else 'encode-each'}: {r['qa_per_s']:.2f} QA/s "
                      f"({r['qa']} QA, {r['image_encodes']} image encodes, fast path {r['fast_path']}), "
                      f"peak {_gib(r['peak_gib'])}", flush=True)
            once, each = res["eval_encode_once"]["qa_per_s"], res["eval_encode_each"]["qa_per_s"]
            print(f"{name} eval speed-up of encode-once: x{once / each:.2f}", flush=True)
            _free(vlm)
            out["models"][name] = res
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
