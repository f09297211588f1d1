"""LLM / similarity judges behind one interface (see base.py)."""

from fiubench.metrics.judge.base import (
    JUDGES,
    PROMPT_VERSION,
    Judge,
    JudgeConfig,
    JudgeVerdict,
    VerdictCache,
    build_judge,
    parse_score,
)

__all__ = [
    "JUDGES", "PROMPT_VERSION", "Judge", "JudgeConfig", "JudgeVerdict", "VerdictCache", "build_judge", "parse_score",
]
