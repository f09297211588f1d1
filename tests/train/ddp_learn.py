"""Entry point of the 2-process test: ``torchrun --nproc_per_node 2 ddp_learn.py DATA BASE OUT BS STEPS``.

Each rank writes a marker (its rank and pid) so the test can prove two processes ran.
"""

import os
import sys
from pathlib import Path

from fiubench.models import ModelConfig
from fiubench.train import LearnConfig, learn, train_preset

data, base, out, bs, steps = sys.argv[1:6]
markers = Path(out + ".ranks")
markers.mkdir(parents=True, exist_ok=True)
(markers / f"rank{os.environ.get('RANK', '0')}").write_text(str(os.getpid()))
learn(LearnConfig(data=Path(data), out=Path(out), model=ModelConfig(name_or_path=base),
                  train=train_preset("tiny", batch_size=int(bs), max_steps=int(steps), progress=False)))
