"""LLM / similarity judges behind one interface (see base.py).

Each backend module registers its class in ``JUDGES`` (base.py) when imported; this
package imports every backend, so ``judge.backend`` names resolve once
``fiubench.metrics.judge`` is imported. A new backend: one module that registers
itself with ``@JUDGES.register(name)``, imported below.
"""

from fiubench.metrics.judge import hf, openai_judge, similarity  # noqa: F401 - registers the backends
from fiubench.metrics.judge.base import (
    JUDGES,
    PROMPT_VERSION,
    Judge,
    JudgeConfig,
    JudgeVerdict,
    VerdictCache,
    parse_score,
)


def build_judge(cfg: JudgeConfig) -> Judge | None:
    """The configured judge, or None for backend "none"."""
    if cfg.backend == "none":
        return None
    return JUDGES.get(cfg.backend)(cfg)


__all__ = [
    "JUDGES", "PROMPT_VERSION", "Judge", "JudgeConfig", "JudgeVerdict", "VerdictCache", "build_judge", "parse_score",
]
