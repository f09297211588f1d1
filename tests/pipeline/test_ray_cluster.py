"""The Ray executor on a simulated multi-node cluster (``ray.cluster_utils.Cluster``).

One cluster for the module: a head node with no CPU (steps go to the workers) and two
worker nodes with one logical GPU each (Ray hands them out and sets
``CUDA_VISIBLE_DEVICES``; no real GPU is needed). Cheap steps from ``graph_steps``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fiubench.errors import ConfigError
from fiubench.pipeline.cache import StepCache
from fiubench.pipeline.graph import Resources, Scheduler, Step

from . import graph_steps

ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'fiubench[ray]'")
pytestmark = pytest.mark.slow

SECRET = "hf_not_a_real_token_5dc1e2"


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), str(Path(__file__).resolve().parents[1]),
         os.environ.get("PYTHONPATH", "")])}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the nodes' workers import fiubench and these tests' step functions
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    c.add_node(num_cpus=2, num_gpus=1)
    c.add_node(num_cpus=1, num_gpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _executor(address: str | None, **kw):
    from fiubench.pipeline.executors import make_executor

    logs: list[str] = []
    return make_executor("ray", address=address, log=logs.append, **kw), logs


def _where(cache: StepCache, step: Step) -> dict:
    return json.loads((cache.path(step.name, step.key) / "where.json").read_text())


def _step(name: str, gpus: float = 0, cpus: float = 1, **kw) -> Step:
    return Step(name, {"v": name}, functools.partial(graph_steps.where, value=name, **kw),
                resources=Resources(cpus=cpus, gpus=gpus))


def test_ray_address_is_honoured_and_a_step_too_big_for_every_node_fails_at_plan_time(
        cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    ex, logs = _executor(None)  # no --address: RAY_ADDRESS, joined without num_cpus
    try:
        assert any("connected to" in m and "(RAY_ADDRESS)" in m and "3 node(s)" in m for m in logs)
        # 2 GPUs in the cluster, but at most 1 on a node: refused before anything runs
        with pytest.raises(ConfigError, match=r"step learn/finetuned \(run.resources.learn\): needs 2 GPU.*"
                                              r"largest node has 2 CPU, 1 GPU"):
            ex.preflight(tmp_path / "run", [("data", Resources(cpus=1)),
                                            ("learn/finetuned (run.resources.learn)", Resources(cpus=1, gpus=2))])
        assert not (tmp_path / "run").exists()
        ex.preflight(tmp_path / "run", [("learn/finetuned", Resources(cpus=2, gpus=1))])
        assert any("3 node(s) checked" in m for m in logs)
        assert not (tmp_path / "run").exists()  # the probes are cleaned up
    finally:
        ex.close()


def test_gpu_steps_get_fresh_workers_their_gpu_and_the_cores_ray_gave(cluster, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    ex, _ = _executor(cluster.address)
    cache = StepCache(tmp_path / "steps")
    gpu = [_step(f"g{i}", gpus=1) for i in range(3)]
    cpu = [_step(f"c{i}") for i in range(3)] + [_step("wide", cpus=2)]
    try:
        Scheduler(cache, ex).run(cpu[:2] + gpu + cpu[2:])
    finally:
        ex.close()
    g = [_where(cache, s) for s in gpu]
    c = [_where(cache, s) for s in cpu]
    assert len({w["pid"] for w in g}) == 3  # max_calls=1: one worker process per GPU step
    assert not {w["pid"] for w in g} & {w["pid"] for w in c}  # ... never a CPU step's worker
    assert all(w["cuda"] in ("0",) for w in g)  # the node's one GPU, as Ray assigned it
    assert [w["threads"] for w in c] == [1, 1, 1, 2]  # threads = the CPUs the step asked for
    want = hashlib.sha256(SECRET.encode()).hexdigest()
    assert all(w["token"] == want for w in g + c)  # HF_TOKEN reached every step ...
    session = Path(cluster.head_node.get_session_dir_path())
    for root in (session, tmp_path):  # ... and was written to no file or log
        for p in root.rglob("*"):
            if p.is_file() and not p.is_socket() and p.stat().st_size < 50_000_000:
                assert SECRET.encode() not in p.read_bytes(), p


def test_a_node_killed_mid_run_is_survived_with_keep_going_and_resume(cluster, tmp_path: Path) -> None:
    flag = str(tmp_path / "go")
    victim = _step("victim", flag=flag)
    others = [_step(f"other{i}") for i in range(2)]
    cache = StepCache(tmp_path / "steps")
    ex, _ = _executor(cluster.address)
    sched = Scheduler(cache, ex, retries=0, keep_going=True)
    import threading

    def kill() -> None:
        node_file = Path(flag + ".node")
        deadline = time.time() + 120
        while not node_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        node_id = node_file.read_text()
        while time.time() < deadline and not all(cache.is_done(o.name, o.key) for o in others):
            time.sleep(0.1)  # the others finish first (on any node), then the victim's node dies
        node = next(n for n in cluster.worker_nodes if n.node_id == node_id)
        cluster.remove_node(node, allow_graceful=False)
        # The flag is not touched here: the killed node's worker can outlive its raylet for a
        # moment and would then finish the step; a retry elsewhere would wait for the flag.

    t = threading.Thread(target=kill)
    t.start()
    try:
        done = sched.run([victim, *others])
    finally:
        t.join()
        Path(flag).touch()  # release any copy of the victim still waiting
        ex.close()
    assert set(done) == set(others)  # the rest finished
    assert set(sched.failed) == {victim}
    from fiubench.pipeline.graph import InfrastructureError

    assert isinstance(sched.failed[victim], InfrastructureError)
    cluster.add_node(num_cpus=1, num_gpus=1)  # the lost node comes back (for the next tests too)
    cluster.wait_for_nodes()
    logs: list[str] = []
    ex, _ = _executor(cluster.address)
    try:  # resume: the finished steps are cached, the lost one runs again
        done = Scheduler(StepCache(tmp_path / "steps", logs.append), ex).run([victim, *others])
    finally:
        ex.close()
    assert done[victim].ran and not done[others[0]].ran and not done[others[1]].ran


def test_versions_differing_on_a_node_are_refused() -> None:
    from fiubench.pipeline.ray_nodes import Node, _check_answers, versions

    mine = versions()
    node = Node("n1", "10.0.0.7", 8, 1, 2**34)
    ok = {"node": "n1", "host": "gpu7", "sees": True, "wrote": False, **mine}
    with pytest.raises(ConfigError, match=r"node 10.0.0.7 \(gpu7\): fiubench 0.0.9"):
        _check_answers([(node, {**ok, "fiubench": "0.0.9"})], Path("/nowhere"), "t")
    with pytest.raises(ConfigError, match="metrics version 1"):
        _check_answers([(node, {**ok, "metrics": 1})], Path("/nowhere"), "t")


def test_outputs_the_driver_cannot_see_are_named(tmp_path: Path) -> None:
    from fiubench.pipeline.cache import MARKER
    from fiubench.pipeline.ray_nodes import manifest, missing_outputs

    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "w.safetensors").write_bytes(b"x" * 10)
    (tmp_path / MARKER).write_text("{}")
    files = manifest(tmp_path)
    assert missing_outputs(tmp_path, files) == []
    (tmp_path / "run" / "model" / "w.safetensors").write_bytes(b"x" * 3)
    assert missing_outputs(tmp_path, files) == ["run/model/w.safetensors (3 bytes here, 10 on the node)"]
    (tmp_path / MARKER).unlink()
    assert MARKER in missing_outputs(tmp_path, files)


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare -m` (root) to give a node its own filesystem")
def test_a_node_that_does_not_share_the_run_directory_is_refused_before_any_step(cluster, tmp_path: Path) -> None:
    """A node started in its own mount namespace with an empty tmpfs over the run
    directory's parent: it sees that path, but not the driver's files."""
    base = tmp_path / "shared"
    base.mkdir()
    ray_bin = Path(shutil.which("ray") or "ray")
    script = f"mount -t tmpfs tmpfs {base} && exec {ray_bin} start --address {cluster.address} --num-cpus 1 --block"
    proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        ex, _ = _executor(cluster.address)
        try:
            while len(ex.nodes) < 4 and time.time() < deadline:
                time.sleep(1)
                from fiubench.pipeline.ray_nodes import cluster_nodes

                ex.nodes = cluster_nodes(ray)
            assert len(ex.nodes) == 4, "the extra node never joined"
            with pytest.raises(ConfigError, match=r"the run directory is not shared with node\(s\).*mount"):
                ex.preflight(base / "run")
            assert not (base / "run").exists()
        finally:
            ex.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_runtime_env_is_read_from_a_file_or_json_and_refuses_secrets(tmp_path: Path) -> None:
    from fiubench.pipeline.ray_plan import load_runtime_env

    f = tmp_path / "renv.yaml"
    f.write_text("working_dir: /shared/fiubench\nenv_vars: {TRANSFORMERS_VERBOSITY: error}\n")
    assert load_runtime_env(str(f)) == {"working_dir": "/shared/fiubench",
                                        "env_vars": {"TRANSFORMERS_VERBOSITY": "error"}}
    assert load_runtime_env('{"pip": ["fiubench"]}') == {"pip": ["fiubench"]}
    with pytest.raises(ConfigError, match="HF_TOKEN look like secrets"):
        load_runtime_env('{"env_vars": {"HF_TOKEN": "hf_x"}}')
    with pytest.raises(ConfigError, match="--runtime-env: .*neither a file nor inline JSON"):
        load_runtime_env(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="--runtime-env: not valid"):
        load_runtime_env('{"pip": [')
