"""`fiubench run --preset smoke` with `--jobs 2` and `--executor ray` gives the local results.

The local (sequential, in-process) run is the reference; the parallel runs execute
every step in other processes (worker processes, Ray tasks) and must store exactly
the same rows: same steps, same keys, same metric values.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fiubench.report.store import ResultsStore

from .test_smoke_run import _config

pytestmark = pytest.mark.slow


def _run(cfg: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out), "--no-report", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _rows(out: Path) -> list[tuple]:
    with ResultsStore(out / "results.sqlite", create=False) as st:
        rows = st.rows()
    return sorted(
        (r.model, r.role, r.method or "", r.forget_split or "", r.step, r.final, r.config_hash, r.metric,
         "nan" if r.value is None else repr(r.value))
        for r in rows
    )


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple]]:
    tmp = tmp_path_factory.mktemp("executors")
    cfg = _config(tmp)
    out = tmp / "local"
    _run(cfg, out)
    return cfg, _rows(out)


def _same_as_local(local_run: tuple[Path, list[tuple]], out: Path, *extra: str) -> str:
    cfg, expected = local_run
    proc = _run(cfg, out, *extra)
    got = _rows(out)
    assert len(got) == len(expected) > 50
    assert got == expected
    return proc.stderr


def test_jobs_2_gives_the_local_results(local_run, tmp_path: Path) -> None:
    log = _same_as_local(local_run, tmp_path / "jobs2", "--jobs", "2")
    assert "unlearn/ga/forget10: running" in log and "unlearn/po/forget10: running" in log


def test_ray_executor_gives_the_local_results(local_run, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed: pip install 'fiubench[ray]' to run this test")
    log = _same_as_local(local_run, tmp_path / "ray", "--executor", "ray")
    assert "ray: started a local instance" in log


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path: Path) -> None:
    # a stub that makes `import ray` fail, first on the path
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "ray.py").write_text("raise ImportError('no ray here')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "fiubench", "run", "--preset", "smoke", "--executor", "ray",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert 'pip install "fiubench[ray]"' in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_plan_counts_the_steps_the_run_made(local_run) -> None:
    from fiubench.pipeline.cost import plan_run
    from fiubench.presets import load_run_config

    cfg, _ = local_run
    steps = [p for p in (cfg.parent / "local" / "steps").iterdir()
             if (p / "DONE.json").is_file() and not p.name.startswith("uncertainty")]  # the report's own
    assert len(plan_run(load_run_config(None, cfg)).steps) == len(steps) > 20


def test_ray_on_a_multi_node_cluster_from_ray_address_gives_the_local_results(local_run, tmp_path: Path) -> None:
    """A head and two worker nodes of one CPU each; the driver finds them through
    RAY_ADDRESS (no --address) and checks versions and storage on every node first."""
    pytest.importorskip("ray", reason="ray is not installed: pip install 'fiubench[ray]' to run this test")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        os.environ["RAY_ADDRESS"] = cluster.address
        try:
            log = _same_as_local(local_run, tmp_path / "cluster", "--executor", "ray")
        finally:
            del os.environ["RAY_ADDRESS"]
    finally:
        cluster.shutdown()
    assert "(RAY_ADDRESS)" in log and "3 node(s) checked" in log
    assert re.search(r"progress: (\d+)/\1 steps", log)  # k/N reached N


def test_keep_going_finishes_the_rest_reports_what_is_missing_and_resumes(local_run, tmp_path: Path) -> None:
    """Every unlearning worker is killed at its first checkpoint (a dead worker, as on a
    lost node); with --keep-going the stage-1 models, their evaluations and attacks still
    finish and are reported, the unlearned models are marked missing, the command exits 1
    naming the failed steps; the same command without the fault resumes to the local results."""
    cfg, expected = local_run
    out = tmp_path / "kg"
    env = dict(os.environ, OMP_NUM_THREADS="1", FIUBENCH_KILL_AT="unlearn:1")
    cmd = [sys.executable, "-m", "fiubench", "run", "--config", str(cfg), "--out", str(out), "--jobs", "2",
           "--retries", "0", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "--keep-going: 2 step(s) failed" in proc.stderr
    assert "FAILED unlearn/ga/forget10" in proc.stderr and "FAILED unlearn/po/forget10" in proc.stderr
    roles = {r[1] for r in _rows(out)}
    assert {"finetuned", "retain", "base"} <= roles and "unlearned" not in roles
    report = (out / "report" / "report.md").read_text()
    assert "INCOMPLETE" in report
    _run(cfg, out, "--jobs", "2")  # resume: the fault is gone
    assert _rows(out) == expected


def test_own_stage1_models_are_imported_and_give_the_same_results(local_run, tmp_path: Path) -> None:
    """Bring your own stage 1 (tiny family): the local run's fine-tuned and retain models
    imported by path skip learning and give every other row unchanged."""
    cfg, expected = local_run
    steps = cfg.parent / "local" / "steps"
    ft = next(steps.glob("learn_finetuned-*")) / "run" / "model"
    rt = next(steps.glob("learn_retain-*")) / "run" / "model"
    own = tmp_path / "own.yaml"
    import yaml

    d = yaml.safe_load((cfg.parent / "local" / "run_config.yaml").read_text())
    d["learn"]["finetuned_from"], d["learn"]["retain_from"] = str(ft), str(rt)
    own.write_text(yaml.safe_dump(d))
    out = tmp_path / "own"
    proc = _run(own, out)
    assert "learn/finetuned: done" in proc.stderr
    new_steps = out / "steps"
    marker = json.loads((next(new_steps.glob("learn_finetuned-*")) / "DONE.json").read_text())
    assert marker["summary"]["imported_from"] == str(ft)
    rec = json.loads((next(new_steps.glob("learn_retain-*")) / "imported.json").read_text())
    assert rec["source"] == str(rt) and all(len(f["sha256"]) == 64 for f in rec["files"].values())

    def values(rows: list[tuple]) -> list[tuple]:  # config hashes follow the (imported) step keys
        return sorted(r[:6] + r[7:] for r in rows)

    assert values(_rows(out)) == values(expected)


def test_sharded_evaluations_inside_a_run_give_the_local_results(local_run, tmp_path: Path) -> None:
    """resources.eval.processes: 2 -- every evaluation step is two torchrun processes
    (gloo on CPU), each with half of the batches; the stored rows are the one-process ones."""
    cfg, expected = local_run
    sharded = tmp_path / "sharded.yaml"
    # only the final models' evaluations (no curves, no attacks): the test's cost is torch's start-up x 3 per step
    sharded.write_text(cfg.read_text() + "resources:\n  eval: {processes: 2}\nevaluate_checkpoints: false\n"
                       "attacks: {names: []}\nuncertainty: {n_boot: 0}\n")
    out = tmp_path / "sharded"
    _run(sharded, out)
    got = _rows(out)
    evals = [r for r in expected if r[5] or r[1] != "unlearned"]  # every evaluation of a final model
    keys = {r[:8] for r in got}
    assert len(got) > 50 and sorted(r for r in evals if r[:8] in keys) == got
    res = json.loads(next((out / "steps").glob("eval_base_*/eval/results.json")).read_text())
    assert res["engine"]["processes"] == 2
