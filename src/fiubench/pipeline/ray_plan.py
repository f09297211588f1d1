"""What ``fiubench run --executor ray`` decides before any step runs.

* :func:`ray_options`: the ``runtime_env`` (``--runtime-env``) and the names of the
  secret variables the run's steps need (Hugging Face token, each judge's
  ``api_key_env``), for :class:`~fiubench.pipeline.ray_executor.RayExecutor`;
* :func:`ray_preflight`: GPUs per step from the *cluster* (a CPU head node has none:
  ``resources.<kind>.gpus: null`` becomes what the family needs when any node has a
  GPU), every kind of step checked against the largest node, then the versions and
  shared storage checks on every node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError

KINDS = ("data", "learn", "unlearn", "eval", "attack")


def load_runtime_env(spec: str | None) -> dict[str, Any] | None:
    """``--runtime-env``: inline JSON, or a YAML/JSON file holding a mapping."""
    if spec is None:
        return None
    text = spec
    if not spec.lstrip().startswith("{"):
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"--runtime-env: {spec} is neither a file nor inline JSON")
        text = path.read_text(encoding="utf-8")
    try:
        import yaml

        env = yaml.safe_load(text) if not text.lstrip().startswith("{") else json.loads(text)
    except (ValueError, yaml.YAMLError) as e:
        raise ConfigError(f"--runtime-env: not valid JSON/YAML ({e})") from None
    if not isinstance(env, dict):
        raise ConfigError(f"--runtime-env: must be a mapping (working_dir, pip, env_vars...), got {type(env).__name__}")
    from fiubench.utils.secrets import is_secret_name

    leaked = [k for k in (env.get("env_vars") or {}) if is_secret_name(str(k))]
    if leaked:
        raise ConfigError(f"--runtime-env: env_vars {', '.join(leaked)} look like secrets; Ray writes the "
                          "runtime_env into its logs. Set them in the driver's environment instead: they are "
                          "forwarded to each step without being written anywhere (docs/scale.md)")
    return env


def ray_options(cfg: Any, runtime_env: str | None) -> dict[str, Any]:
    from fiubench.pipeline.ray_nodes import secret_names

    judges = [cfg.eval.judge, cfg.checkpoint_eval_config(cfg.forget_splits[0]).judge]
    return {"runtime_env": load_runtime_env(runtime_env), "secret_env": secret_names(judges)}


def used_kinds(cfg: Any) -> list[str]:
    return [k for k in KINDS if (k != "data" or cfg.dataset is None) and (k != "attack" or cfg.attacks.names)]


def resolve_gpus(cfg: Any, cluster_has_gpu: bool) -> None:
    """``gpus: null`` decided from the cluster, not from the driver's machine."""
    from fiubench.pipeline.config import auto_gpus

    device = cfg.model.device
    on_gpu = device.startswith("cuda") if device is not None else cluster_has_gpu
    for kind in KINDS:
        r = getattr(cfg.resources, kind)
        if r.gpus is None:
            r.gpus = auto_gpus(cfg, kind) if on_gpu else 0.0


def planned_names(cfg: Any) -> dict[str, str]:
    """The first planned step of each kind (for the error that names it)."""
    from fiubench.pipeline.cost import plan_run

    try:
        steps = plan_run(cfg).steps
    except ConfigError:  # a family the planner does not size: name the kind only
        return {}
    names: dict[str, str] = {}
    for s in steps:
        names.setdefault(s.kind, s.name)
    return names


def ray_preflight(executor: Any, cfg: Any, out: Path) -> None:
    from fiubench.pipeline.config import step_resources
    from fiubench.pipeline.ray_nodes import cluster_nodes

    resolve_gpus(cfg, any(n.gpus > 0 for n in cluster_nodes(executor.ray)))
    names = planned_names(cfg)
    planned = [(f"{names.get(k, k)} (run.resources.{k})", step_resources(cfg, k)) for k in used_kinds(cfg)]
    executor.preflight(out, planned)


__all__ = ["load_runtime_env", "ray_options", "ray_preflight", "resolve_gpus"]
