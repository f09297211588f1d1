"""`fiubench run`: the run configuration, the step cache and the pipeline that composes the layers."""

from fiubench.pipeline.cache import StepCache, StepResult, step_key

__all__ = ["StepCache", "StepResult", "step_key"]
