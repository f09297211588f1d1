"""Evaluation QA/s per model family: each image encoded once vs re-encoded per row.

    python benchmarks/bench_eval_families.py [--rows 48] [--families llava-1.6 qwen2-vl]

On each family's tiny random model (fiubench.tiny.testing), the same scoring rows
(an answer and three variants per question, 6 faces) and greedy generations run
through the evaluation engine with ``reuse_image_features`` on (the fast path) and
off (processor + vision model for every row). Prints QA/s of both, their ratio,
image encodes, and the largest log-prob difference (must be ~0). Tiny random models
make the vision model a larger share of a pass than a 7B LM would, and their
generations stop at random points: read the ratios as the path's effect, not as a
forecast for a real checkpoint.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=48, help="scored rows (12 questions x 4 answer variants)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs; the fastest counts (shared CPU)")
    ap.add_argument("--families", nargs="*", default=None)
    a = ap.parse_args()

    import torch
    from PIL import Image

    from fiubench.eval.engine import Engine, ScoreRow
    from fiubench.models import ModelConfig
    from fiubench.models.families import list_families
    from fiubench.models.loading import load_vlm
    from fiubench.tiny.testing import save_tiny_family

    tmp = Path(tempfile.mkdtemp(prefix="bench_eval_families."))
    g = torch.Generator().manual_seed(0)
    faces = []
    for i in range(6):
        p = tmp / f"face{i}.png"
        Image.fromarray((torch.rand(64, 64, 3, generator=g) * 255).to(torch.uint8).numpy()).save(p)
        faces.append(p)
    questions = ["What is the blood type of this person?", "Where does this person live?",
                 "What is this person's occupation?", "When was this person born?"]
    answers = ["AB negative", "12 Elm Street, Springfield", "a retired schoolteacher", "4 May 1961"]
    rows = [ScoreRow(faces[i % len(faces)], questions[i // 4 % 4], answers[(i + j) % 4], with_dist=j == 0)
            for i in range(a.rows // 4) for j in range(4)]
    pairs = [(faces[i % len(faces)], questions[i % 4]) for i in range(a.rows // 4)]
    n_qa = len(rows) // 4  # one QA = its generation + its 4 scored variants

    families = a.families or [f.name for f in list_families()]
    print(f"{'family':18s} {'fast QA/s':>10s} {'slow QA/s':>10s} {'ratio':>7s} {'encodes fast/slow':>18s} {'max |dlogp|':>12s}")
    for fam in families:
        vlm = load_vlm(ModelConfig(name_or_path=str(save_tiny_family(fam, tmp / fam)), device="cpu"))
        best = {True: float("inf"), False: float("inf")}
        out: dict[bool, tuple[list, list, int]] = {}
        Engine(vlm, a.batch_size, True).score(rows[:4])  # warm-up
        for _ in range(a.repeats):
            for reuse in (True, False):
                eng = Engine(vlm, a.batch_size, reuse)
                t = time.perf_counter()
                scores = eng.score(rows)
                gens = eng.generate(pairs, a.max_new_tokens)
                best[reuse] = min(best[reuse], time.perf_counter() - t)
                out[reuse] = (scores, gens, eng.stats["image_encodes"])
        diff = max(abs(x - y) for f, s in zip(out[True][0], out[False][0], strict=True)
                   for x, y in zip(f.logprobs, s.logprobs, strict=True))
        same = "" if out[True][1] == out[False][1] else "  GENERATIONS DIFFER"
        print(f"{fam:18s} {n_qa / best[True]:10.1f} {n_qa / best[False]:10.1f} {best[False] / best[True]:6.2f}x "
              f"{out[True][2]:>8d}/{out[False][2]:<9d} {diff:12.1e}{same}")


if __name__ == "__main__":
    main()
