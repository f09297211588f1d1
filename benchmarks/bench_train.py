"""Training-engine speed on the tiny VLM: pre-encoded vs re-encoded batches, steps/s.

    python benchmarks/bench_train.py [--identities 20] [--qa 5] [--steps 30]

Prints measured numbers and ratios; no thresholds (speed is not a test).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--identities", type=int, default=20)
    ap.add_argument("--qa", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    a = ap.parse_args()

    from fiubench.data import load_dataset
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models import ModelConfig, load_image
    from fiubench.models.loading import load_vlm
    from fiubench.tiny.model import save_random_tiny
    from fiubench.train import LearnConfig, learn, train_preset
    from fiubench.train.encode import EncodedPool, collate

    tmp = Path(tempfile.mkdtemp())
    data = build_dataset(DataConfig(n_identities=a.identities, qa_per_identity=a.qa), tmp / "data")
    base = save_random_tiny(tmp / "base")
    ds = load_dataset(data)
    ex = ds.examples("full")
    vlm = load_vlm(ModelConfig(name_or_path=str(base)))
    triples = [(e.image_path, e.question, e.answer) for e in ex]

    t = time.perf_counter()
    pool = EncodedPool(triples, vlm.train_batch, load_image)
    pool.encode_all()
    encode_once = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, len(ex), 16):
        collate([pool.get(j) for j in range(i, min(i + 16, len(ex)))], vlm.pad_token_id)
    collate_epoch = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, len(ex), 16):
        vlm.train_batch([(load_image(p), q, ans) for p, q, ans in triples[i : i + 16]])
    reencode_epoch = time.perf_counter() - t
    print(f"samples: {len(ex)}")
    print(f"encode once: {encode_once:.2f} s; per epoch: collate {collate_epoch:.3f} s vs "
          f"re-encode {reencode_epoch:.3f} s (x{reencode_epoch / max(collate_epoch, 1e-9):.1f})")

    t = time.perf_counter()
    out = learn(LearnConfig(data=data, out=tmp / "run", model=ModelConfig(name_or_path=str(base)),
                            train=train_preset("tiny", max_steps=a.steps, progress=False, save_every=10**9)))
    wall = time.perf_counter() - t
    import json

    s = json.loads((out / "summary.json").read_text())
    print(f"learn: {s['steps']} steps in {wall:.1f} s ({s['steps'] / wall:.2f} steps/s incl. load+save), "
          f"peak memory {s['peak_memory_bytes'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
