"""What the Ray executor runs on the nodes, and what it checks there before a run.

* :func:`run_step` is the body of every step task: the step's threads set to the
  cores Ray gave it, the forwarded secrets in its environment for the step's
  duration only, and a manifest of the files it wrote, which the driver checks it
  can see before it schedules anything that reads them.
* :func:`preflight` runs one check task pinned to each node before any step: the
  node's fiubench and metrics versions must be the driver's, and the node must see
  the run directory the driver sees (a probe file each way).
* :func:`cluster_nodes` / :func:`largest_fit`: a step must fit on one node (its GPUs,
  CPUs and memory together), not merely in the cluster's totals.

Which environment variables travel, and how: :data:`PASS_ENV` (paths and switches)
go in the job's ``runtime_env.env_vars``; secrets (:data:`SECRET_ENV` and each
judge's ``api_key_env``) go with each task's arguments and into ``os.environ`` for
the step only, because Ray's runtime-env agent writes the whole ``runtime_env``,
values included, into its log file on every node.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiubench.errors import ConfigError
from fiubench.pipeline.cache import LOG, MARKER

PASS_ENV = ("PYTHONPATH", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
            "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "TORCH_HOME")
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
PROBE = ".fiubench-probe-"


def secret_names(judge_configs: Iterable[Any]) -> list[str]:
    """:data:`SECRET_ENV` plus the ``api_key_env`` of every judge a run uses."""
    names = list(SECRET_ENV)
    for j in judge_configs:
        name = getattr(j, "api_key_env", None)
        if name and name not in names:
            names.append(name)
    return names


def versions() -> dict[str, Any]:
    """What must match between the driver and every node."""
    import fiubench
    from fiubench.metrics.version import METRICS_VERSION

    return {"fiubench": fiubench.__version__, "metrics": METRICS_VERSION}


# ----------------------------------------------------------------- on the nodes
def run_step(payload: dict[str, Any], out: Path, secret_env: Mapping[str, str], cpus: float) -> dict[str, Any]:
    """One step, in a Ray worker: returns its seconds, the files it wrote, its node."""
    from fiubench.pipeline.graph import _call
    from fiubench.utils.secrets import register_secret

    threads = max(1, int(cpus))  # the cores Ray reserved for this task, no more
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    saved = {k: os.environ.get(k) for k in secret_env}
    os.environ.update(secret_env)
    for v in secret_env.values():
        register_secret(v)  # scrubbed from the step's log and error messages
    try:
        seconds = _call(payload, out, True)
    finally:  # a CPU worker is reused: the next step gets only its own secrets
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"seconds": seconds, "files": manifest(out), "node": socket.gethostname()}


def manifest(out: Path) -> dict[str, int]:
    """Every file of a finished step (relative path -> size), its log aside."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != LOG:
            files[p.relative_to(out).as_posix()] = p.stat().st_size
    return files


def missing_outputs(out: Path, files: Mapping[str, int]) -> list[str]:
    """The files of ``files`` that the driver does not see at ``out`` as the node wrote them."""
    bad = [] if MARKER in files else [MARKER]
    for rel, size in files.items():
        p = out / rel
        if not p.is_file():
            bad.append(rel)
        elif p.stat().st_size != size:
            bad.append(f"{rel} ({p.stat().st_size} bytes here, {size} on the node)")
    return bad


def node_check(out: str, token: str) -> dict[str, Any]:
    """On one node: its versions, whether it sees the driver's probe, and its own probe."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    root = Path(out)
    sees = (root / f"{PROBE}{token}").is_file()
    wrote = False
    if sees:
        try:
            (root / f"{PROBE}{token}-{node[:16]}").write_text(node)
            wrote = True
        except OSError:
            pass
    return {"node": node, "host": socket.gethostname(), "sees": sees, "wrote": wrote, **versions()}


# ------------------------------------------------------------------- on the driver
@dataclass(frozen=True)
class Node:
    """An alive node of the cluster and what it offers."""

    node_id: str
    ip: str
    cpus: float
    gpus: float
    memory: float  # bytes Ray may reserve for tasks

    def describe(self) -> str:
        return f"{self.cpus:g} CPU, {self.gpus:g} GPU, {self.memory / 2**30:.0f} GiB (node {self.ip})"


def cluster_nodes(ray: Any) -> list[Node]:
    nodes = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        r = n.get("Resources", {})
        nodes.append(Node(n["NodeID"], n.get("NodeManagerAddress", "?"), r.get("CPU", 0.0), r.get("GPU", 0.0),
                          r.get("memory", 0.0)))
    return nodes


def largest_fit(nodes: Sequence[Node], res: Any) -> str | None:
    """Why a step asking ``res`` (cpus, gpus, memory_gb) fits on no single node (None: it fits)."""
    mem = (res.memory_gb or 0) * 2**30
    if any(n.cpus >= res.cpus and n.gpus >= res.gpus and n.memory >= mem for n in nodes):
        return None
    want = f"{res.gpus:g} GPU(s), {res.cpus:g} CPU(s)" + (f", {res.memory_gb:g} GiB" if res.memory_gb else "")
    if not nodes:
        return f"needs {want}; the Ray cluster has no alive node"
    big = max(nodes, key=lambda n: (n.gpus, n.cpus, n.memory))
    return (f"needs {want} on one node; the largest node has {big.describe()} "
            f"(most GPUs on a node: {max(n.gpus for n in nodes):g}, most CPUs: {max(n.cpus for n in nodes):g}); "
            "lower run.resources or add a bigger node")


def preflight(ray: Any, nodes: Sequence[Node], out: Path, log: Callable[[str], None],
              timeout: float = 600.0) -> None:
    """One check task on every node: same versions as the driver, and the run directory
    shared both ways. Raises :class:`ConfigError` naming the nodes at fault."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    probe = out / f"{PROBE}{token}"
    probe.write_text("written by the driver")
    try:
        check = ray.remote(num_cpus=0, max_retries=0)(node_check)
        refs = {check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False))
                .remote(str(out), token): n for n in nodes}
        t0 = time.monotonic()
        ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        if late:
            raise ConfigError("--executor ray: no answer within {:.0f}s from node(s) {} (a runtime_env still "
                              "installing, or nodes without free workers)".format(
                                  time.monotonic() - t0, ", ".join(refs[r].ip for r in late)))
        answers = [(refs[r], ray.get(r)) for r in ready]
        _check_answers(answers, out, token)
    finally:
        for p in out.glob(f"{PROBE}{token}*"):
            p.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()  # a refused run leaves nothing behind
    log(f"ray: {len(nodes)} node(s) checked: same fiubench and metrics version, {out} shared")


def _check_answers(answers: Sequence[tuple[Node, dict[str, Any]]], out: Path, token: str) -> None:
    mine = versions()
    wrong = [f"node {n.ip} ({a['host']}): fiubench {a['fiubench']}, metrics version {a['metrics']}"
             for n, a in answers if {k: a[k] for k in mine} != mine]
    if wrong:
        raise ConfigError(
            f"--executor ray: the driver runs fiubench {mine['fiubench']} (metrics version {mine['metrics']}) "
            f"but {'; '.join(wrong)}. Install the same fiubench on every node, or ship the driver's "
            "(--runtime-env with working_dir / pip / container: docs/scale.md)")
    blind = [n for n, a in answers if not a["sees"]]
    unseen = [n for n, a in answers if a["sees"] and not (
        a["wrote"] and (out / f"{PROBE}{token}-{a['node'][:16]}").is_file())]
    if blind or unseen:
        which = ", ".join(f"{n.ip}" for n in blind + unseen)
        raise ConfigError(
            f"--out {out}: the run directory is not shared with node(s) {which} (a file written "
            f"{'by the driver was not found there' if blind else 'there was not found by the driver'}). "
            "Every node must mount the same shared filesystem (NFS, Lustre, GPFS, a cloud file store) "
            f"at the same path and --out must be on it, e.g. mount it at {out.parent} on every node "
            "(docs/scale.md, 'The one requirement')")


__all__ = ["Node", "PASS_ENV", "SECRET_ENV", "cluster_nodes", "largest_fit", "manifest", "missing_outputs",
           "preflight", "run_step", "secret_names", "versions"]
