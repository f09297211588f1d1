"""Run configurations shipped with the package, and loading/merging of YAML configs.

Presets (``fiubench run --preset NAME``): ``tiny`` (the embedded default), ``smoke``
(seconds; CI), ``paper`` (LLaVA-Phi-3-mini on the official release, GPU). Sweep
configs (``paper_main``, ``forget_ratio``, ``tuning_ablation``, ``tiny_lr_sweep``)
start from a preset with ``base: NAME`` and override some keys.

Merging: a mapping merges key by key into its base; any other value (lists
included) replaces the base's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError
from fiubench.utils.registry import did_you_mean

DEFAULT_PRESET = "tiny"


def list_presets() -> list[str]:
    files = resources.files(__name__)
    return sorted(p.name[: -len(".yaml")] for p in files.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    names = list_presets()
    if name not in names:
        raise ConfigError(f"--preset: unknown preset {name!r}.{did_you_mean(name, names)} Known: {', '.join(names)}.")
    return (resources.files(__name__) / f"{name}.yaml").read_text(encoding="utf-8")


def _parse(text: str, where: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of run-config keys at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _resolve(data: dict[str, Any], where: str, seen: tuple[str, ...]) -> dict[str, Any]:
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{where}: base: expected a preset name, got {base!r}")
    if base in seen:
        raise ConfigError(f"{where}: base: preset cycle {' -> '.join((*seen, base))}")
    parent = _resolve(_parse(preset_text(base), f"preset {base}"), f"preset {base}", (*seen, base))
    return deep_merge(parent, data)


def raw_config(
    preset: str | None = None, config: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The merged mapping: a preset, or a file on top of its ``base:`` preset (default
    ``--preset`` or ``tiny``; ``base: null`` starts from the dataclass defaults), then overrides."""
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"--config {path}: no such file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--config {path}: cannot read ({e})") from None
        data = _parse(text, str(path))
        if not data:
            # An empty file is a mistake (a truncated copy, a wrong path), not "run the
            # default preset": that would start a long run nobody asked for.
            raise ConfigError(
                f"--config {path}: the file is empty (no run-config keys); write at least "
                f"`base: {preset or DEFAULT_PRESET}` to run a preset unchanged"
            )
        if "base" not in data:
            data["base"] = preset or DEFAULT_PRESET
        elif preset is not None and data["base"] != preset:
            raise ConfigError(f"--preset {preset} conflicts with base: {data['base']} in {path}; drop one")
        data = _resolve(data, str(path), ())
    else:
        name = preset or DEFAULT_PRESET
        data = _resolve(_parse(preset_text(name), f"preset {name}"), f"preset {name}", (name,))
    if overrides:
        data = deep_merge(data, overrides)
    return data


def load_run_config(
    preset: str | None = None, config: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Any:
    """A validated :class:`~fiubench.pipeline.config.RunConfig` (nothing heavy is loaded).

    A config file's keys override those of its ``base:`` preset (default: ``preset``,
    else ``tiny``).
    """
    from fiubench.pipeline.config import RunConfig
    from fiubench.utils.config import from_dict

    return from_dict(RunConfig, raw_config(preset, config, overrides), "run")
