"""Plugins through the ``fiubench.methods`` entry-point group, and the worked example of
docs/methods.md (examples/plugin), which is also what these tests install."""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fiubench.cli.main import main
from fiubench.errors import ConfigError, FiubenchError
from fiubench.methods import BROKEN, METHODS, UnlearnBatch, build_method, load_plugins
from fiubench.methods.plugins import SOURCES

from .fake import (
    LABELS,
    LABELS_R,
    LOGITS,
    LOGITS_B,
    FakeContext,
    inputs,
    logsoftmax,
    token_mean_nll,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugin"


def _example_module():
    spec = importlib.util.spec_from_file_location("fiubench_maxent_doc", EXAMPLE / "fiubench_maxent.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file executes
    spec.loader.exec_module(mod)
    return mod


def test_example_loss_by_hand():
    mod = _example_module()
    ctx = FakeContext()
    f, r = inputs(LABELS), inputs(LABELS_R)
    ctx.set(f, torch.tensor(LOGITS))
    ctx.set(r, torch.tensor(LOGITS_B))
    loss, logs = mod.MaxEnt(mod.MaxEntOptions(retain_weight=0.5)).compute_loss(ctx, UnlearnBatch(f), UnlearnBatch(r))
    pos = [(0, 1), (0, 2), (1, 0), (1, 1)]  # forget answer positions
    kl = sum(sum((1 / 3) * (math.log(1 / 3) - logsoftmax(LOGITS[b][t], v)) for v in range(3)) for b, t in pos) / 4
    assert logs["forget_kl_uniform"] == pytest.approx(kl, rel=1e-6)
    assert loss.item() == pytest.approx(kl + 0.5 * token_mean_nll(LOGITS_B, LABELS_R), rel=1e-6)


def test_docs_show_the_example_as_it_is():
    doc = (ROOT / "docs" / "methods.md").read_text()
    assert (EXAMPLE / "fiubench_maxent.py").read_text().rstrip() in doc
    assert (EXAMPLE / "pyproject.toml").read_text().rstrip() in doc


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin pip-installed (from a copy: pip leaves build files behind) into a
    directory that is put on sys.path: an ordinary installed distribution."""
    tmp = tmp_path_factory.mktemp("plugin")
    shutil.copytree(EXAMPLE, tmp / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    out = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(out), str(tmp / "src")], check=True, capture_output=True)
    return out


def _dist(root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """A hand-written installed distribution: a .dist-info with entry_points.txt."""
    root.mkdir(parents=True, exist_ok=True)
    for mod, src in modules.items():
        (root / f"{mod}.py").write_text(src)
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[fiubench.methods]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    return root


@pytest.fixture
def on_path(monkeypatch):
    """Put directories on sys.path and load their plugins; unregister them afterwards."""
    before = set(METHODS.names())

    def add(path: Path) -> None:
        monkeypatch.syspath_prepend(str(path))
        load_plugins()

    yield add
    for name in set(METHODS.names()) - before:
        METHODS._items.pop(name)  # noqa: SLF001 - test cleanup of the global registry
        SOURCES.pop(name, None)
    BROKEN.clear()


def test_installed_plugin_is_listed_with_its_source(site, on_path, capsys):
    on_path(site)
    assert "maxent" in METHODS and SOURCES["maxent"] == "fiubench-maxent 0.1.0"
    assert build_method("maxent", {"retain_weight": 0.5}).options.retain_weight == 0.5
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("maxent "))
    assert "[plugin: fiubench-maxent 0.1.0]" in line and "toward uniform" in line
    assert "paper: Yuan et al. 2024" in out
    assert out.index("\nga ") < out.index("\nmaxent ")  # built-ins first


BROKEN_MODULES = {
    "raises_on_import": "raise RuntimeError('plugin bug 42')\n",
    "not_a_method": "class Thing:\n    pass\n",
}


def test_broken_plugins_are_named_and_do_not_stop_the_built_ins(tmp_path, on_path, capsys):
    _dist(tmp_path / "p", "broken-plugins", {
        "crashy": "raises_on_import:Anything", "thing": "not_a_method:Thing", "ga": "not_a_method:Thing",
        "missing": "no_such_module:X",
    }, BROKEN_MODULES)
    on_path(tmp_path / "p")
    assert METHODS.get("ga").__module__ == "fiubench.methods.ga"  # a plugin cannot take a built-in's name
    assert main(["methods"]) == 0
    cap = capsys.readouterr()
    for name in ("ga", "npo", "undial", "mmunlearner"):
        assert f"\n{name} " in "\n" + cap.out
    assert "plugin method 'crashy'" in cap.err and "broken-plugins 1.0" in cap.err and "plugin bug 42" in cap.err
    assert "plugin method 'thing'" in cap.err and "not an UnlearningMethod subclass" in cap.err
    assert "plugin method 'ga'" in cap.err and "taken by a built-in" in cap.err
    assert "plugin method 'missing'" in cap.err and "ModuleNotFoundError" in cap.err
    assert main(["methods", "crashy"]) == 2
    assert "plugin bug 42" in capsys.readouterr().err
    with pytest.raises(FiubenchError, match="plugin method 'crashy'.*failed to load"):
        build_method("crashy")
    from fiubench.pipeline.config import RunConfig

    with pytest.raises(ConfigError, match=r"run.methods\[1\]: plugin method 'thing'"):
        RunConfig(methods=["ga", "thing"]).validate()


def _env(*paths: Path) -> dict[str, str]:
    src = str(ROOT / "src")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, paths), src]), PYTHONUNBUFFERED="1")


@pytest.mark.slow
def test_plugin_runs_in_fiubench_run(site, tmp_path):
    from fiubench.report.store import ResultsStore

    listing = subprocess.run([sys.executable, "-m", "fiubench", "methods"], capture_output=True, text=True,
                             env=_env(site), timeout=120)
    assert listing.returncode == 0 and "[plugin: fiubench-maxent 0.1.0]" in listing.stdout
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "base: smoke\nmethods: [maxent]\nevaluate_base: false\nevaluate_checkpoints: false\n"
        "unlearn:\n  method_options: {maxent: {retain_weight: 0.5}}\n"
    )
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out)],
                         capture_output=True, text=True, env=_env(site), timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    with ResultsStore(out / "results.sqlite", create=False) as st:
        rows = st.rows(method="maxent", metric="forget_quality")
    assert rows and rows[-1].final
    assert "<th scope=\"row\">MAXENT</th>" in (out / "report" / "index.html").read_text()
