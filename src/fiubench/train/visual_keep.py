"""Visual keep: the tiny base's stage-C objective replayed while stage 1 learns identities.

Stage 1 of the tiny preset (40 epochs of identity QA at lr 1e-3) erodes what the base
saw: from a base at 0.79 open / 0.75 yes/no on unseen faces, the fine-tuned model
answers 0.57-0.64 / 0.58-0.59, whatever label replay (``learn.visual_replay``: more
faces, a frozen projector) is mixed in (measured, ``fiubench.models.base_build``).
Replayed "Yes." / "No." labels cannot hold the yes/no comparison: it was never
learnable from those labels (a balanced yes/no label is the XOR of the named and the
seen value), only from stage C's hidden-state match to a text twin. So each stage-1
step adds stage C's loss on ``pairs`` yes/no questions about procedural faces (the
base's own seed space, split "keep", never a benchmark face: identical for the
fine-tuned and the retain model) and a third as many open questions:

    L_step = L_SFT + lambda * [CE(image) + CE(text) + w * sum_l ||h_l(image) - sg(h_l(text))||^2 / ||sg(h_l(text))||^2]

(``fiubench.models.base_distil``; w = 3 as in stage C). It is rehearsal (Robins 1995,
"Catastrophic forgetting, rehearsal and pseudorehearsal") of the objective that built
the skill rather than of its labels. A training device for small VLMs only: real
pretrained VLMs keep seeing without it (``visual_keep: 0``, the default).

Measured (retain model of the tiny preset's stage 1, 240 replayed QA, from the
8000-step build at 0.79 open / 0.75 yes/no; 50 unseen faces; GPU unless noted):

====================================================  =====  ======  ============
stage 1                                               open   yes/no  retain EM
====================================================  =====  ======  ============
no keep (CPU: same 0.58 / 0.63)                       0.58   0.63    0.90 (CPU)
keep 8 pairs, lambda 0.1 (CPU)                        0.71   0.74    0.80 (CPU)
keep 8 pairs, lambda 0.3 (CPU)                        0.73   0.73    0.66 (CPU)
keep 8 pairs, lambda 1 (CPU: 0.75 / 0.74)             0.75   0.72    0.44 (CPU)
keep 8, lambda 1, projector frozen                    0.75   0.73
keep 24, lambda 1                                     0.74   0.74
keep 24, lambda 3                                     0.76   0.75
====================================================  =====  ======  ============

(EM: greedy whole-answer exact match on the 600 retain QA it was trained on; measured by
``benchmarks/stage1_keeps_seeing.py --base DIR --keep 0 8 --weight 0.1 0.3 1``.) The
keep term holds what the base saw and costs the identities: the 2-layer, 128-wide
language model does not hold both in 40 epochs (final SFT loss 0.12 / 0.13 / 0.24 at
lambda 0.1 / 0.3 / 1, vs 0.09). lambda 0.1 keeps most of the seeing (yes/no 0.74 vs
0.63) for 10 points of EM. A step takes 1.6x as long on a CPU (2x on a GPU). Off in the
``tiny`` preset while the shipped base itself does not see (0.58 yes/no): keeping that
buys nothing. The next lever is the language model's capacity (``fiubench base build
--lm-hidden``), chosen by measurement with the benchmark above.
"""

from __future__ import annotations

from typing import Any

import torch

MATCH_WEIGHT = 3.0  # stage C's default distil_weight
KEEP_FACES = 200


class VisualKeep:
    def __init__(self, vlm: Any, pairs: int, weight: float, seed: int) -> None:
        from fiubench.models.base_build import procedural_pool
        from fiubench.models.base_distil import yesno_and_open, yesno_twins

        self.vlm, self.pairs, self.weight, self.seed = vlm, pairs, weight, seed
        pool = procedural_pool(seed, "keep", KEEP_FACES, questions=yesno_and_open(1))
        self.data = yesno_twins(vlm, pool)

    def loss(self, model: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """``lambda * L_keep`` for optimiser step ``step`` (deterministic in seed and step)."""
        from fiubench.models.base_distil import distil_loss

        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        idx = torch.randint(0, len(self.data["rows"]), (self.pairs,), generator=gen).tolist()
        oidx = torch.randint(0, len(self.data["open_rows"]), (max(1, self.pairs // 3),), generator=gen).tolist()
        loss, parts = distil_loss(model, self.vlm, self.data, idx, oidx, MATCH_WEIGHT)
        return self.weight * loss, {f"keep_{k}": float(v.detach()) for k, v in parts.items()}
