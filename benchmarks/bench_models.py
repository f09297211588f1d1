"""Model-layer speed on this machine: batch building and training steps of the tiny VLM.

Prints measured numbers and ratios (no targets asserted):
- train_batch() per example, with the processor run every time vs collating
  pre-encoded examples (what `fiubench base build` does);
- optimizer steps/s at batch 32 with 1 and with all torch threads.

Usage: python benchmarks/bench_models.py [--steps 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    from fiubench.models import ModelConfig, TuningScope, load_vlm
    from fiubench.models.logprobs import batch_nll
    from fiubench.tiny.model import save_random_tiny
    from fiubench.tiny.pools import collate_rows, encode_rows, procedural_pool

    with tempfile.TemporaryDirectory() as d:
        save_random_tiny(f"{d}/m")
        vlm = load_vlm(ModelConfig(f"{d}/m", device="cpu", scope=TuningScope(vision=True)))
    pool = procedural_pool(0, "bench", 40)
    examples = [(img, it.question, it.answer) for img, items, _ in pool for it in items][:512]

    t = time.perf_counter()
    for s in range(0, len(examples), 32):
        vlm.train_batch(examples[s:s + 32])
    per_batch_proc = (time.perf_counter() - t) / (len(examples) / 32)
    rows = encode_rows(vlm, examples)
    t = time.perf_counter()
    for s in range(0, len(rows), 32):
        collate_rows(rows[s:s + 32], vlm.pad_token_id)
    per_batch_pre = (time.perf_counter() - t) / (len(rows) / 32)
    print(f"batch of 32: processor {per_batch_proc * 1e3:.1f} ms, pre-encoded collate "
          f"{per_batch_pre * 1e3:.1f} ms (x{per_batch_proc / per_batch_pre:.0f})")

    params = [p for p in vlm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    batch = collate_rows(rows[:32], vlm.pad_token_id)
    default_threads = torch.get_num_threads()
    rates = {}
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for i in range(args.steps + 3):
            if i == 3:
                t = time.perf_counter()
            loss = batch_nll(vlm.forward(batch), batch["labels"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        rates[threads] = args.steps / (time.perf_counter() - t)
        print(f"threads={threads}: {rates[threads]:.1f} steps/s (batch 32, seq {batch['input_ids'].shape[1]})")
    torch.set_num_threads(default_threads)
    if len(rates) == 2:
        print(f"ratio {default_threads} threads / 1 thread: {rates[default_threads] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
