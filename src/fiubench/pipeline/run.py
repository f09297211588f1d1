"""``fiubench run``: the whole two-stage benchmark as one resumable pipeline.

    data (build or load) -> base model -> learn full + retain (per learning variant)
      -> evaluate retain, fine-tuned, base (per forget split)
      -> for each variant x method x forget split: unlearn, evaluate every checkpoint
      -> attacks (``attacks.names``) on the fine-tuned, retain and every final model
      -> results.sqlite -> report/

Every step runs through :class:`~fiubench.pipeline.cache.StepCache` under
``<out>/steps/``: its key hashes its config and its inputs' keys, so a rerun skips
finished steps, redoes changed ones and a killed run continues where it stopped
(training resumes from its own checkpoints inside the step directory).

The steps are declared by :class:`~fiubench.pipeline.plan.Planner` (what each does:
:mod:`fiubench.pipeline.steps`); this module executes them, stores their rows
(:mod:`fiubench.pipeline.results`) and hands the database to the report.

Run directory::

    run_config.yaml     the resolved configuration
    provenance.json     config, seed, versions, git revision
    steps/<step>-<key>/ each step's output and its DONE.json marker
    results.sqlite      every evaluation (one row per model x checkpoint x metric)
    report/             index.html, report.md, tables/*.csv|tex, plots/*.png
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiubench.pipeline.cache import LOG, StepCache, StepResult
from fiubench.pipeline.config import RunConfig
from fiubench.pipeline.graph import Executor, Scheduler, Step, StepFailed
from fiubench.pipeline.plan import Planner
from fiubench.pipeline.results import final_groups, store_attacks, store_eval, store_uncertainty
from fiubench.pipeline.sequential import store_sequential
from fiubench.pipeline.stage1 import store_gates
from fiubench.pipeline.steps import load_dataset_cached
from fiubench.report.store import ResultsStore
from fiubench.utils.config import to_dict
from fiubench.utils.io import atomic_write_json, atomic_write_text
from fiubench.utils.provenance import provenance

DB_NAME = "results.sqlite"


def config_yaml(cfg: RunConfig) -> str:
    import yaml

    # Complete: reloaded with `base: null`, not layered on a preset (whose dict-valued keys,
    # e.g. attacks.options, would otherwise merge back in).
    from fiubench.utils.secrets import redact

    d = redact({"base": None, **to_dict(cfg)})  # never print or write secrets
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


class Pipeline(Planner):
    """One ``fiubench run``: the :class:`~fiubench.pipeline.plan.Planner`'s steps executed,
    their results stored, the report written. ``log`` receives the progress lines;
    ``executor``: where the steps run (default: one at a time in this process);
    ``retries``: attempts after a step's first failure for the machine's sake;
    ``keep_going``: a failed step does not stop the rest (see :meth:`_check_missing`)."""

    def __init__(self, cfg: RunConfig, out: str | Path, log: Callable[[str], None] | None = None, *,
                 executor: Executor | None = None, retries: int = 0, overwrite: bool = False,
                 keep_going: bool = False) -> None:
        out = Path(out)
        self._t0 = time.perf_counter()
        self._log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        # absolute: workers (other processes, other nodes) find the steps at the same path
        super().__init__(cfg, out, StepCache(out.resolve() / "steps", self.log))
        self.overwrite = overwrite
        self._db: ResultsStore | None = None  # written as evaluations finish
        self.scheduler = Scheduler(self.cache, executor, retries=retries, log=self.log, keep_going=keep_going)
        self.run_name = self.out.resolve().name

    def log(self, msg: str) -> None:
        from fiubench.utils.secrets import scrub

        dt = time.perf_counter() - self._t0
        self._log(scrub(f"[fiubench run {int(dt) // 60:02d}:{int(dt) % 60:02d}] {msg}"))

    def run(self, *, report: bool = True) -> Path:
        """Run (or resume) everything; returns the report's index.html (or the database).

        One process per run directory (a lock naming the holder's pid). Inputs are
        checked before anything is written: a rejected config or dataset leaves nothing
        behind in a fresh ``--out``.
        """
        from fiubench.utils.lock import RunLock

        load_dataset_cached.cache_clear()  # a dataset directory may have changed since the last run
        fresh = not self.out.exists() or not any(self.out.iterdir())
        try:
            with RunLock(self.out) as lock:
                if self.overwrite and not fresh:
                    self.log(f"--overwrite: starting over in {self.out}")
                    _clear(self.out, keep=lock.path)
                    fresh = True
                return self._run(report, lock, fresh)
        finally:
            self.scheduler.close()

    def _prepare(self, lock: Any, fresh: bool) -> tuple[Path, str, Step | None]:
        """The dataset (built, checked, its content keys); a rejected input leaves nothing."""
        from fiubench.errors import FiubenchError
        from fiubench.pipeline.inputs import DatasetInputs, default_hash_cache

        try:
            data, data_key, data_step = self.data_step()
            if data_step is not None:
                # first, alone: every split the run needs is checked before anything trains
                self.scheduler.run([data_step])
                self._check_missing()  # nothing goes on without the dataset
            self.check_dataset(data)
            hashes = default_hash_cache(self.out)
            self.inputs = DatasetInputs(data, self.dataset(data), hashes)
            hashes.save()
        except FiubenchError:
            if fresh:
                lock.release()
                import shutil

                shutil.rmtree(self.out, ignore_errors=True)
            raise
        return data, data_key, data_step

    def _run(self, report: bool, lock: Any, fresh: bool) -> Path:
        cfg = self.cfg
        data, data_key, data_step = self._prepare(lock, fresh)
        atomic_write_text(self.out / "run_config.yaml", config_yaml(cfg))
        atomic_write_json(self.out / "provenance.json", provenance(cfg, cfg.learn.train.seed))
        variants = cfg.variants()
        self.log(
            f"{len(cfg.methods)} method(s) x {len(cfg.forget_splits)} forget split(s) x {len(variants)} "
            f"variant(s) -> {self.out}"
        )
        # Written as evaluations finish (so `fiubench report` on a stopped run shows what
        # there is, and marks the rest incomplete), then rebuilt in the sequential order.
        self._db = ResultsStore(self.out / DB_NAME)
        try:
            self._db.delete_run(self.run_name)  # rebuilt from the (cached) evaluations: never stale
            self._db.set_plan(self.run_name, self.planned_models())
            if cfg.search.active:
                from fiubench.pipeline.selection import SearchPhase

                phase = SearchPhase(self, data, data_key, data_step)
                self.selections = phase.select(self.scheduler.run(phase.steps()))
                self._check_missing()  # a selection among the candidates that ran would be another one
            done = self.scheduler.run(self.plan(data, data_key, data_step))
            self._store_all(self._db, done)
        finally:
            self._db.close()
            self._db = None
        from fiubench.pipeline.selection import SELECTION_FILE, write_selection

        if cfg.search.active:
            write_selection(self.out, self.selections, done)
        else:
            (self.out / SELECTION_FILE).unlink(missing_ok=True)  # never a stale selection table
        self.log(f"results: {self.out / DB_NAME}")
        result = self._report() if report else self.out / DB_NAME
        self._check_missing()
        return result

    def _check_missing(self) -> None:
        """With keep_going: once everything else has finished (and been stored and reported,
        the missing models marked incomplete), the failed and skipped steps as one error."""
        failed, skipped = self.scheduler.failed, self.scheduler.skipped
        if not failed:
            return
        lines = [f"  FAILED {s.name} ({type(e).__name__}: {e}); log: {self.cache.path(s.name, s.key) / LOG}"
                 for s, e in failed.items()]
        lines += [f"  skipped {s.name} (a step it reads failed)" for s in skipped]
        raise StepFailed(f"--keep-going: {len(failed)} step(s) failed and {len(skipped)} were skipped; everything "
                         "else finished (the report marks the missing models). Rerun the same command to retry "
                         "them:\n" + "\n".join(lines))

    def _store_all(self, store: ResultsStore, done: dict[Step, StepResult]) -> None:
        """The run's rows rebuilt in the sequential run's order, whatever order the steps finished in."""
        cfg = self.cfg
        store.delete_run(self.run_name)
        store.set_plan(self.run_name, self.planned_models())
        ordered = sorted(done.items(), key=lambda kv: self.scheduler.order_of(kv[0]))
        for step, res in ordered:
            if step.meta.get("store"):
                store_eval(store, res, run=self.run_name, **step.meta["store"])
        store_attacks(store, ordered, cfg, self.run_name)
        store_gates(store, ordered, self.run_name, self.log)  # gate.* on the fine-tuned rows; overrides warned
        store_sequential(cfg, self.cache, store, self.run_name, ordered)  # per-request figures, penalty
        if cfg.uncertainty.n_boot > 0:
            for split, groups in final_groups(ordered, cfg.forget_splits).items():
                store_uncertainty(store, self.cache, cfg, self.run_name, split, groups)

    def _report(self) -> Path:
        """The report hand-off: ``report/`` from the finished database."""
        from fiubench.report.build import write_report

        cfg = self.cfg
        index = write_report(self.out / DB_NAME, self.out / "report", run=self.run_name, methods=cfg.methods,
                             title=f"FIUBench report: {cfg.name}", config=cfg)
        self.log(f"report: {index}")
        ran = sum(r.ran for r in self.cache.results)
        self.log(f"finished: {ran} step(s) run, {len(self.cache.results) - ran} cached")
        return index

    def _store_now(self, res: StepResult, *, store: dict[str, Any]) -> list[Step]:
        """``then`` of an evaluation: its rows go to the store as soon as it finished."""
        if self._db is not None:
            store_eval(self._db, res, run=self.run_name, **store)
        return []


def _clear(out: Path, keep: Path) -> None:
    """Remove everything in ``out`` but ``keep`` (the lock we hold)."""
    import shutil

    for p in out.iterdir():
        if p == keep:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def run_pipeline(cfg: RunConfig, out: str | Path, *, report: bool = True,
                 log: Callable[[str], None] | None = None, executor: Executor | None = None,
                 retries: int = 0, overwrite: bool = False, keep_going: bool = False) -> Path:
    """Run (or resume) the benchmark described by ``cfg`` in ``out`` (see
    :mod:`fiubench.pipeline.graph` for ``executor``, ``retries`` and ``keep_going``;
    ``overwrite``: start over in place)."""
    return Pipeline(cfg, out, log, executor=executor, retries=retries, overwrite=overwrite,
                    keep_going=keep_going).run(report=report)
