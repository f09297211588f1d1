"""What each kind of pipeline step does, and what its key is made of.

One ``run_<kind>(step_dir, ...)`` per step kind (data, learn, eval, unlearn, attack):
module-level and picklable, so a worker process or a Ray task runs them. The key
helpers decide what of a config goes into a step's key (:func:`model_key`,
:func:`no_ui`, :func:`eval_key_config`): a field that does not change a result stays
out, so adding an option never invalidates the caches of runs that do not use it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fiubench.utils.config import to_dict
from fiubench.utils.faults import kill_point


def step_name(base: str, variant: str) -> str:
    return f"{base}/{variant}" if variant else base


# ------------------------------------------------------------- step functions
@functools.lru_cache(maxsize=2)
def load_dataset_cached(root: Path) -> Any:
    from fiubench.data import load_dataset

    return load_dataset(root)


def run_data(data_cfg: Any, d: Path) -> dict:
    from fiubench.data.build import build_dataset

    build_dataset(data_cfg, d / "dataset", overwrite=True)
    kill_point("data")
    return {"dataset": "dataset"}  # relative to the step directory: the run directory may move


def run_learn(d: Path, *, data: Path, model: Any, split: str, train: Any, visual_replay: int,
              visual_keep: int = 0, visual_keep_weight: float = 1.0, visual_keep_captions: int = 0,
              visual_keep_open: int | None = None, visual_keep_faces: int | None = None,
              train_phrasings: int = 0) -> dict:
    from fiubench import tiny
    from fiubench.train import LearnConfig, learn

    cfg = LearnConfig(data=data, out=d / "run", model=model, split=split, train=train,
                      visual_replay=visual_replay, visual_keep=visual_keep,
                      visual_keep_weight=visual_keep_weight, visual_keep_captions=visual_keep_captions,
                      visual_keep_open=visual_keep_open, visual_keep_faces=visual_keep_faces,
                      train_phrasings=train_phrasings)
    # the tiny base's replay and keep term, injected: train/ never imports fiubench.tiny
    run_dir = learn(cfg, terms=tiny.training_terms(cfg), replay=tiny.visual_replay)
    return {"model": str((run_dir / "model").relative_to(d))}


def run_eval(d: Path, *, model_dir: Path | str, data: Path, ecfg: Any, reference: Path | None,
             overrides: dict[str, Any]) -> dict:
    from fiubench.pipeline.evaluation import evaluate_checkpoint

    return evaluate_checkpoint(model_dir, load_dataset_cached(data), ecfg, d / "eval", reference=reference,
                               model_overrides=overrides)


def run_unlearn(d: Path, *, model: Any, data: Path, method: str, options: dict[str, Any], split: str,
                retain: str, early_stop: bool, loss_threshold: float | None, train: Any,
                reference: Any = "auto") -> dict:
    from fiubench.train import UnlearnConfig, unlearn

    run_dir = unlearn(UnlearnConfig(
        model=model, data=data, out=d / "run", method=method, method_options=options, forget=split,
        retain=retain, early_stop=early_stop, loss_threshold=loss_threshold, train=train, reference=reference,
    ))
    return {"run": str(run_dir.relative_to(d))}


def run_attack(d: Path, *, attack: str, options: dict[str, Any], model_dir: Path, data: Path,
               ctx: dict[str, Any]) -> dict:
    import shutil

    from fiubench.attacks import AttackContext
    from fiubench.attacks import run_attack as attack_model

    context = AttackContext(dataset=load_dataset_cached(data), work=d / "work", **ctx)
    res = attack_model(attack, options, model_dir, context, d / "attack")
    shutil.rmtree(d / "work", ignore_errors=True)  # relearned weights, perturbed images
    return {"variants": res["variants"], "seconds": res["seconds"]}


# ------------------------------------------------------------------ step keys
PLACEMENT = ("device_map", "max_memory", "offload_folder")


def model_key(model: Any) -> dict[str, Any]:
    """A model config as hashed into step keys. Where the weights sit (device_map,
    offload) does not change a result; quantization does, and is left out when off so
    that the keys of unquantized runs are what they were before the option existed."""
    d = to_dict(model)
    for k in PLACEMENT:
        d.pop(k, None)
    if d.get("quantization") is None:
        d.pop("quantization", None)
    if d.get("name_or_path") == "tiny":
        # "tiny" names package data, not weights: a new shipped base must not reuse the
        # stage-1 models a cache learnt from the old one.
        d["tiny_base"] = tiny_base_fingerprint()
    return d


@functools.cache
def tiny_base_fingerprint() -> str | None:
    from fiubench.models.loading import tiny_base_dir
    from fiubench.models.vlm import weights_fingerprint

    return weights_fingerprint(tiny_base_dir())


def no_ui(train: Any) -> dict[str, Any]:
    """A training config minus its logging/UI fields (they do not change the model)."""
    d = to_dict(train)
    for k in ("progress", "report_to"):
        d.pop(k, None)
    return d


def eval_key_config(cfg: Any) -> dict[str, Any]:
    from fiubench.metrics.version import METRICS_VERSION

    d = to_dict(cfg)
    # A new metric definition changes every evaluation's key: old evaluations rerun.
    d["metrics_version"] = METRICS_VERSION
    judge = d.get("judge") or {}
    for k in ("api_key", "api_key_env", "cache"):  # secrets and where things live: not in any key
        judge.pop(k, None)
    return d
