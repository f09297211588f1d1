"""Stage-1 training speed of the paths that replace the plain forward, on the tiny VLM.

    python benchmarks/bench_train_paths.py [--steps 30] [--rounds 3] [--model tiny]

Four variants of the same optimiser step (batch 16, pre-encoded samples of the
embedded dataset, frozen vision tower, trainable projector + LM as in the tiny
preset): plain (the tower runs every step, logits at every position), the frozen
vision-feature cache (``train.cache_vision_features``), answer-only logits
(``logits_to_keep`` from the first answer position), and both (what ``fiubench learn``
does). Variants alternate round by round and the fastest round counts (other
processes share the CPU). Prints samples/s and the ratio against plain, and the
largest loss difference against plain after the same steps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default="tiny", help="checkpoint (default: the embedded tiny base)")
    a = ap.parse_args()

    import torch

    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models import ModelConfig, TuningScope, load_image
    from fiubench.models.features import install_feature_cache
    from fiubench.models.loading import load_vlm
    from fiubench.models.logprobs import answer_window, sequence_logprob
    from fiubench.train.encode import EncodedPool, collate

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_paths."))
    ds = load_dataset(build_dataset(DataConfig(n_identities=8, qa_per_identity=20), tmp / "data"))
    triples = [(e.image_path, e.question, e.answer) for e in ds.examples("full")]
    scope = TuningScope(vision=False, projector=True, language=True)

    def variant(cache: bool, window: bool):
        torch.manual_seed(0)
        vlm = load_vlm(ModelConfig(name_or_path=a.model, scope=scope, device="cpu"))
        if cache:
            install_feature_cache(vlm)
        pool = EncodedPool(triples, vlm.train_batch, load_image)
        pool.encode_all()
        opt = torch.optim.AdamW([p for p in vlm.model.parameters() if p.requires_grad], lr=1e-3)
        batches = [collate([pool.get((s * a.batch_size + i) % len(pool)) for i in range(a.batch_size)],
                           vlm.pad_token_id) for s in range(a.steps)]

        def run() -> tuple[float, float]:
            t = time.perf_counter()
            loss = torch.zeros(())
            for b in batches:
                inputs = {k: v for k, v in b.items() if k != "labels"}
                labels = b["labels"]
                w = answer_window(labels) if window else 0
                logits = vlm.model(**inputs, use_cache=False, logits_to_keep=labels.shape[1] - w).logits
                loss = -sequence_logprob(logits, labels[:, w:])[0].sum() / labels[:, 1:].ne(-100).sum()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            return time.perf_counter() - t, float(loss.detach())

        return run

    names = {"plain": (False, False), "feature cache": (True, False), "answer-only logits": (False, True),
             "both (fiubench learn)": (True, True)}
    best = dict.fromkeys(names, float("inf"))
    losses: dict[str, float] = {}
    for _ in range(a.rounds):
        for name, (cache, window) in names.items():
            secs, loss = variant(cache, window)()  # fresh model and optimiser: same trajectory
            best[name] = min(best[name], secs)
            losses[name] = loss
    n = a.steps * a.batch_size
    for name in names:
        print(f"{name:24s} {n / best[name]:7.1f} samples/s  x{best['plain'] / best[name]:.2f} vs plain  "
              f"(final loss {losses[name]:.5f}, |diff| {abs(losses[name] - losses['plain']):.1e})")


if __name__ == "__main__":
    main()
