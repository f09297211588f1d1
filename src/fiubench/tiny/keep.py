"""Visual keep: a training term that replays the tiny base's stage-C objective replayed while stage 1 learns identities.

Stage 1 of the tiny preset (40 epochs of identity QA at lr 1e-3; 50, then 55 since the current base) erodes what the base
saw: from a base at 0.79 open / 0.75 yes/no on unseen faces, the fine-tuned model
answers 0.57-0.64 / 0.58-0.59, whatever label replay (``learn.visual_replay``: more
faces, a frozen projector) is mixed in (measured, ``fiubench.tiny.build``).
Replayed "Yes." / "No." labels cannot hold the yes/no comparison: it was never
learnable from those labels (a balanced yes/no label is the XOR of the named and the
seen value), only from stage C's hidden-state match to a text twin. So each stage-1
step adds stage C's loss on ``pairs`` yes/no questions about procedural faces (the
base's own seed space, split "keep", never a benchmark face: identical for the
fine-tuned and the retain model) and a third as many open questions:

    L_step = L_SFT + lambda * [CE(image) + CE(text) + w * sum_l ||h_l(image) - sg(h_l(text))||^2 / ||sg(h_l(text))||^2]

(``fiubench.tiny.distil``; w = 3 as in stage C). It is rehearsal (Robins 1995,
"Catastrophic forgetting, rehearsal and pseudorehearsal") of the objective that built
the skill rather than of its labels. A training device for small VLMs only: real
pretrained VLMs keep seeing without it (``visual_keep: 0``, the default).

Measured (retain model of the tiny preset's stage 1, 240 replayed QA; 50 unseen faces;
``studies/stage1_keeps_seeing.py --base DIR --keep K --weight W``, one row per
invocation, two at a time on a 2-core CPU, one thread each). From the shipped base's
ancestors on renderer 2 with ``--vision-features full`` (``fiubench.tiny.build``):

==============================================  =========  ======  ======  =========  ==========
stage 1                                         base       open    yes/no  retain EM  stage 1 s
==============================================  =========  ======  ======  =========  ==========
(the base itself)                               C 12000    0.77    0.82
no keep                                         C 12000    0.57    0.58    0.92       275
keep 8 pairs, lambda 0.1                        C 12000    0.75    0.77    0.83       492
keep 8 pairs, lambda 0.3                        C 12000    0.72    0.79    0.74       502
keep 16 pairs, lambda 0.1                       C 12000    0.71    0.80    0.89       774
(the base itself)                               C 15000    0.79    0.84
keep 8 pairs, lambda 0.1                        C 15000    0.73    0.79    0.79       541
(the base itself: shipped until 11-30)          C 18000    0.79    0.86
keep 8 pairs, lambda 0.1 (``tiny`` preset)      C 18000    0.74    0.81    0.86       659*
keep 16 pairs, lambda 0.1                       C 18000    0.72    0.80    0.89       649
keep 16 pairs, lambda 0.1, 28 epochs            C 18000    0.71    0.80    0.30       473
keep 8, lambda 0.1, projector frozen            C 18000    0.74    0.81    0.83       435
keep 8, lambda 0.1, no label replay             C 18000    0.77    0.81    0.61       326
keep 8, lambda 0.2, no label replay             C 18000    0.76    0.80    0.56       325
keep 8, lambda 0.1 (rerun, beside a build)      C 18000    0.74    0.82    0.83       312
  + 3 descriptions per step                     C 18000    0.74    0.80    0.89       455
(the base itself: shipped, 3000/6000 faces)     C 30000    0.82    0.90
keep 8 pairs, lambda 0.1, 40 epochs             C 30000    0.75    0.88    0.64       488
keep 8 pairs, lambda 0.05, 40 epochs            C 30000    0.74    0.88    0.68       367
keep 8, lambda 0.1, 50 epochs (``tiny``)        C 30000    0.77    0.87    0.94       433
==============================================  =========  ======  ======  =========  ==========

(* beside a test suite on the same 2 cores, not beside another row. The rows after it:
``--keep K --weight W [--epochs N] [--frozen-projector] [--replay 0] [--captions N]``.)

On 100 unseen faces (``--faces 100``; the shipped base answers 0.802 open / 0.863 yes/no
on them), two rows at a time on a 2-core CPU, 2026-11-30 (``--keep 8 --weight W
[--open N] [--keep-faces N] [--epochs N] --faces 100``):

================================================  ======  ======  =========  =========
stage 1 (keep 8 pairs)                            open    yes/no  retain EM  stage 1 s
================================================  ======  ======  =========  =========
lambda 0.1, 200 faces, 50 epochs (until 11-30)    0.748   0.844   0.943      381
  + 8 open questions per step (not 2)             0.748   0.842   0.938      435
lambda 0.1, 2000 faces                            0.753   0.852   0.938      435
lambda 0.2, 200 faces                             0.746   0.848   0.888      393
lambda 0.2, 2000 faces                            0.767   0.862   0.892      438
lambda 0.3, 2000 faces                            0.768   0.860   0.832      434
lambda 0.2, 5000 faces                            0.757   0.859   0.925      498
lambda 0.2, 2000 faces, 55 epochs (``tiny``)      0.764   0.859   0.965      463
================================================  ======  ======  =========  =========

What stage 1 erodes is reading, not answering: the retain model's wrong open answers
are well-formed values of the right attribute (young read as middle-aged, square face as
oval), spread over every attribute (``studies/visual_misreads.py --after MODEL``:
hair colour -0.10, face shape -0.09, glasses -0.09 on these faces). More open questions per keep step
(``learn.visual_keep_open``) keep no more of them. A larger keep pool does, together with
a larger lambda: with 200 faces the keep step fits those faces (each is drawn ~130 times
in 50 epochs: 2650 steps of 10 rows) and a larger lambda only costs memorised answers; with 2000 it rehearses
reading as stage C trained it, on thousands of faces. Each 100-face figure has a standard
error of ~0.015, so single rows are not told apart; the four 2000-5000-face rows at
lambda >= 0.2 (0.757-0.768) against the three 200-face rows (0.746-0.748) are the
evidence. Memorisation is noisier still (0.892 and 0.925 for neighbouring settings), so the
preset adds 5 epochs to stay clear of the 40-epoch collapse. Interpolating the
stage-1 weights back towards the base (WiSE-FT, Wortsman et al. 2022; alpha 0.9 / 0.8 /
0.7 of the first row's stage-1 model; ``studies/stage1_interpolate.py``) gives open 0.754 / 0.768 / 0.779 at retain EM 0.827 / 0.198 /
0.002: reading comes back only as the identities go.

The last row of the first table replays the base's stage-B reading too (``learn.visual_keep_captions: 3``:
three dense descriptions of the keep faces in each keep step, as
``--distil-caption-fraction`` does in stage C, where it keeps open answers): in stage 1
it keeps no more open answers (0.74 either way), yes/no is 0.02 lower (within the
~0.02 standard error of 50 faces) and the retain model memorises 0.89 of its answers
against 0.83 beside it (0.86 in the earlier row): what stage 1 erodes is not the
reading of descriptions. Off by default (``studies/stage1_keeps_seeing.py --keep 8
--weight 0.1 --captions 3``).

On the base shipped until 2026-11-30 nothing in stage 1 buys yes/no back: twice the keep pairs, a frozen
projector, no label replay all end at 0.80-0.81, and what changes is memorisation. It
falls with the number of SFT steps: without the 240 replayed QA an epoch has 600 items
instead of 840, and 40 epochs memorise 0.61 instead of 0.86; 28 epochs of keep 16, 0.30.

From the earlier 8000-step build at 0.79 open / 0.75 yes/no (renderer 1; GPU unless
noted): no keep 0.58 / 0.63 (EM 0.90, CPU); keep 8, lambda 0.1: 0.71 / 0.74 (EM 0.80,
CPU); lambda 0.3: 0.73 / 0.73 (0.66); lambda 1: 0.75 / 0.72 (0.44); keep 24, lambda 3:
0.76 / 0.75. (EM: greedy whole-answer exact match on the 600 retain QA it was trained on;
final SFT loss 0.12 / 0.13 / 0.24 at lambda 0.1 / 0.3 / 1, vs 0.09 without keep.)

Without keep, stage 1 takes any base back to chance on yes/no. With it the retain model
ends 0.03-0.06 below its base on yes/no, so the base's own level is what decides; each
50-face figure has a standard error of about 0.02, so rows 0.02 apart are not told apart.
The ``tiny`` preset uses 8 pairs at lambda 0.1: on the previous base (stage C 18000,
0.86) the cheapest setting that kept most of it and lost the fewest memorised answers
(retain model 0.81 yes/no, 0.74 open on these faces). On the current base (stage C 30000
on 3000 and 6000 faces, 0.90 here) 40 epochs keep 0.88 yes/no but memorise 0.64 of the
answers, where the previous base's memorised 0.83 beside it: the longer stage C left a
language model that learns the identities more slowly, and halving lambda buys back
little (0.68). 50 epochs do (0.94, open 0.77, yes/no 0.87), so the preset trained 50
since this base; the default run then took 12 min 04 s instead of 10 min 53 s. Since
2026-11-30 the preset uses lambda 0.2 on a pool of 2000 faces and 55 epochs (the second
table).
A step with keep takes ~1.8x as long on a CPU (2x on a GPU); 16 pairs 2.8x. Real
pretrained VLMs keep seeing without it (``visual_keep: 0``, the default).

Nor does a phase of keep alone after stage 1 win the seeing back for free
(``studies/keep_refresh.py``: 200 steps of stage C's loss, 8 pairs, cosine from lr,
on the retain model of the ``tiny`` row above, which came out at 0.74 open / 0.81 yes/no,
retain EM 0.86): from lr 1e-4, 0.74 / 0.82, EM 0.84; 3e-4, 0.71 / 0.83, EM 0.65; 1e-3,
0.68 / 0.79, EM 0.00. The ~1 M-parameter language model holds the identities and the
comparison in the same weights: what the keep wins back, the memorised answers pay.
"""

from __future__ import annotations

from typing import Any

import torch

from fiubench.tiny.distil import yesno_and_open, yesno_twins
from fiubench.tiny.pools import description_rows, procedural_pool

MATCH_WEIGHT = 3.0  # stage C's default distil_weight
KEEP_FACES = 200


class VisualKeep:
    """The keep term of one stage-1 run: its pool of procedural faces, encoded once.

    Joins training as any training term does (``fiubench.train.terms.TrainingTerm``):
    ``loss(model, step)`` is added to the step's loss once per optimiser step.
    """

    def __init__(self, vlm: Any, pairs: int, weight: float, seed: int, captions: int = 0,
                 open_questions: int | None = None, faces: int | None = None) -> None:
        self.vlm, self.pairs, self.weight, self.seed, self.captions = vlm, pairs, weight, seed, captions
        self.open_questions = max(1, pairs // 3) if open_questions is None else open_questions
        pool = procedural_pool(seed, "keep", KEEP_FACES if faces is None else faces, questions=yesno_and_open(1))
        self.data = yesno_twins(vlm, pool)
        self.n_open = len(self.data["open_rows"])
        if captions:  # appended to the open rows, sampled from their own range (as in stage C)
            self.data["open_rows"] += description_rows(vlm, pool)

    def loss(self, model: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """``lambda * L_keep`` for optimiser step ``step`` (deterministic in seed and step)."""
        from fiubench.tiny import distil  # looked up per call: tests spy on distil.distil_loss

        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        idx = torch.randint(0, len(self.data["rows"]), (self.pairs,), generator=gen).tolist()
        oidx = torch.randint(0, self.n_open, (self.open_questions,), generator=gen).tolist()
        if self.captions:  # drawn after the others: without descriptions the draws are unchanged
            oidx += torch.randint(self.n_open, len(self.data["open_rows"]), (self.captions,), generator=gen).tolist()
        loss, parts = distil.distil_loss(model, self.vlm, self.data, idx, oidx, MATCH_WEIGHT)
        return self.weight * loss, {f"keep_{k}": float(v.detach()) for k, v in parts.items()}
