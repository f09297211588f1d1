"""Training engine: stage 1 (``learn``) and stage 2 (``unlearn``) on one accelerate loop.

>>> learn(LearnConfig(data=Path("data"), out=Path("runs/ft")))
>>> unlearn(UnlearnConfig(model=ModelConfig("runs/ft/model"), data=Path("data"),
...                       out=Path("runs/ga"), method="ga"))
>>> list_checkpoints("runs/ga")  # [(6, Path(".../step-000006")), ...]
"""

from fiubench.train.checkpoint import list_checkpoints
from fiubench.train.config import (
    LEARN_PRESETS,
    LearnConfig,
    TrainConfig,
    UnlearnConfig,
    UnlearnTrainConfig,
    train_preset,
)
from fiubench.train.learn import learn
from fiubench.train.unlearn import unlearn

__all__ = [
    "LEARN_PRESETS",
    "LearnConfig",
    "TrainConfig",
    "UnlearnConfig",
    "UnlearnTrainConfig",
    "learn",
    "list_checkpoints",
    "train_preset",
    "unlearn",
]
