"""`fiubench run`: the whole benchmark in one command, with a report.

    fiubench run [--preset tiny|smoke|paper|...] [--config FILE] [--out DIR] [--no-report]
                 [--jobs N] [--executor local|ray [--address auto|HOST:PORT] [--runtime-env F]]
                 [--retries K] [--keep-going]

Default: the `tiny` preset into ./runs/<name>. Rerunning skips finished steps; a
killed run continues where it stopped; a changed config or dataset redoes what it
changes; `--overwrite` starts over in place. One run per directory at a time.

`--data-seeds N`: N full runs over N draws of people and splits (data.seed = base +
0..N-1) under OUT/data_seed=<seed>/, then OUT/report/: the ranking's stability across
draws and the figures' between-draw spread (fiubench.pipeline.data_seeds).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "the whole benchmark in one command, with a report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="shipped preset: tiny (default), smoke, paper, ... (`fiubench config list`)")
    p.add_argument("--config", type=Path, help="YAML run config, applied on top of its base: preset")
    p.add_argument("--out", type=Path, help="run directory (default ./runs/<config name>)")
    p.add_argument("--no-report", action="store_true", help="stop after filling results.sqlite")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="repeat unlearning under N seeds (config key `seeds`); the report aggregates over "
                        "seeds and identities")
    p.add_argument("--seeds-learn", action="store_true",
                   help="with --seeds: repeat stage-1 learning under each seed too (config key `seeds_learn`)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local executor: run up to N independent steps at once, each in its own process "
                        "(a GPU each when steps use GPUs); default: the config's `jobs` (1: one at a "
                        "time in this process; the tiny preset: 2)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local (default) or ray: every step a Ray task (pip install 'fiubench[ray]'); "
                        "see docs/scale.md")
    p.add_argument("--address", metavar="auto|HOST:PORT",
                   help="--executor ray: the Ray cluster to join (default: start a local Ray instance)")
    p.add_argument("--runtime-env", metavar="FILE|JSON",
                   help="--executor ray: Ray runtime_env for the steps (working_dir, pip, conda, container "
                        "image...), a YAML/JSON file or inline JSON; see docs/scale.md")
    p.add_argument("--retries", type=int, default=None, metavar="K",
                   help="retry a step that failed for the machine's sake (node lost, worker died, out of "
                        "memory once) up to K times; a step's own error is never retried "
                        "(default: 2 with --executor ray or --jobs > 1, else 0)")
    p.add_argument("--keep-going", action="store_true",
                   help="a failed step does not stop the run: its dependants are skipped, everything else "
                        "finishes and is reported (missing models marked), then the command exits 1 listing them")
    p.add_argument("--data-seeds", type=int, default=None, metavar="N",
                   help="N >= 2 full runs, each on a new draw of people and splits (data.seed = base + 0..N-1, "
                        "under OUT/data_seed=<seed>/); OUT/report shows the ranking's stability across draws")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in place: delete every step and result of --out first")


def run(args: argparse.Namespace, cfg: Any = None) -> int:
    """``cfg``: an already resolved RunConfig (``fiubench sweep``); default: from the flags."""
    from fiubench.presets import load_run_config

    if cfg is None:
        cfg = load_run_config(args.preset, args.config)  # every key checked before anything heavy
    if args.seeds is not None or args.seeds_learn:
        from fiubench.errors import ConfigError

        if args.seeds is not None and args.seeds < 1:
            raise ConfigError(f"--seeds: must be >= 1, got {args.seeds}")
        if args.seeds is not None:
            cfg.seeds = args.seeds
        cfg.seeds_learn = cfg.seeds_learn or args.seeds_learn
        cfg.validate()
    out = args.out or Path("runs") / cfg.name
    from fiubench.errors import ConfigError
    from fiubench.pipeline.graph import StepFailed

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs: must be >= 1, got {args.jobs}")
    if args.executor == "ray" and args.jobs not in (None, 1):
        raise ConfigError("--jobs: only with --executor local (Ray places steps by their resources)")
    jobs = 1 if args.executor == "ray" else (args.jobs if args.jobs is not None else cfg.jobs)
    if args.retries is not None and args.retries < 0:
        raise ConfigError(f"--retries: must be >= 0, got {args.retries}")
    workers = args.executor == "ray" or jobs > 1
    retries = args.retries if args.retries is not None else (2 if workers else 0)
    if args.runtime_env is not None and args.executor != "ray":
        raise ConfigError("--runtime-env: only with --executor ray")
    if args.data_seeds is not None:
        from fiubench.pipeline.data_seeds import draw_configs, run_draws

        draw_configs(cfg, args.data_seeds)  # every draw's config checked before anything runs

        def one(c: Any, d: Path) -> Any:
            return _run_one(args, c, d, jobs, retries)

        try:
            result = run_draws(cfg, out, args.data_seeds, one)
        except StepFailed as e:
            import sys

            print(f"fiubench run: error: {e}", file=sys.stderr)
            return 1
        print(result)
        return 0
    try:
        result = _run_one(args, cfg, out, jobs, retries)
    except StepFailed as e:
        import sys

        print(f"fiubench run: error: {e}", file=sys.stderr)
        return 1
    print(result)
    return 0


def _run_one(args: argparse.Namespace, cfg: Any, out: Path, jobs: int, retries: int) -> Path:
    """One pipeline run with a fresh executor."""
    from fiubench.pipeline.executors import make_executor
    from fiubench.pipeline.run import run_pipeline

    if args.executor == "ray":
        from fiubench.pipeline.ray_plan import ray_options, ray_preflight

        executor = make_executor("ray", address=args.address, **ray_options(cfg, args.runtime_env))
        try:
            ray_preflight(executor, cfg, out)
        except BaseException:
            executor.close()
            raise
    else:
        executor = make_executor(args.executor, jobs=jobs, address=args.address)
    return run_pipeline(cfg, out, report=not args.no_report, executor=executor, retries=retries,
                        overwrite=args.overwrite, keep_going=args.keep_going)
