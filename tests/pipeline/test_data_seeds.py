"""`fiubench run --data-seeds N`: draws of people, their aggregation and the stability report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from fiubench.errors import ConfigError
from fiubench.pipeline import data_seeds as ds
from fiubench.report.store import IntervalRow


def _row(draw: int, model: str, metric: str, est: float, half: float = 0.1) -> IntervalRow:
    return IntervalRow(run=f"d{draw}", model=model, role="unlearned", method=model.split("/")[0],
                       forget_split="forget10", variant="", metric=metric, estimate=est, low=est - half,
                       high=est + half, level=0.95, n_seeds=1, n_boot=100, k="k=2")


def test_aggregate_ranks_and_folds_between_draw_variance() -> None:
    fq = {"d0": {"ga/forget10": 0.8, "po/forget10": 0.5, "npo/forget10": 0.3},
          "d1": {"ga/forget10": 0.6, "po/forget10": 0.7, "npo/forget10": 0.2},
          "d2": {"ga/forget10": 0.9, "po/forget10": 0.4, "npo/forget10": 0.1}}
    draws = {d: [_row(i, m, "forget_quality", v) for m, v in per.items()] for i, (d, per) in enumerate(fq.items())}
    r = ds.ranking(draws, "forget_quality")["forget10"]
    assert r["p_first"]["ga/forget10"] == pytest.approx(2 / 3) and r["p_first"]["po/forget10"] == pytest.approx(1 / 3)
    models = sorted(fq["d0"])
    tau01 = stats.kendalltau([fq["d0"][m] for m in models], [fq["d1"][m] for m in models]).statistic
    assert r["kendall_tau"][0]["tau"] == pytest.approx(tau01)
    figs = {f["model"]: f for f in ds.figures(draws)}
    ga = figs["ga/forget10"]
    x = np.array([0.8, 0.6, 0.9])
    se = 0.1 / 1.959964
    assert ga["between_sd"] == pytest.approx(x.std(ddof=1))
    assert ga["within_se"] == pytest.approx(se, rel=1e-4)
    half = 1.96 * math.sqrt(max(x.var(ddof=1), se**2) / 3)
    assert (ga["low"], ga["high"]) == pytest.approx((x.mean() - half, x.mean() + half), rel=1e-4)
    # identical draws: no between-draw spread, every draw ranks the same, tau = 1
    same = {d: [_row(i, m, "forget_quality", v) for m, v in fq["d0"].items()] for i, d in enumerate(("a", "b"))}
    s = ds.ranking(same, "forget_quality")["forget10"]
    assert s["mean_tau"] == pytest.approx(1.0) and s["p_first"]["ga/forget10"] == 1.0
    assert all(f["between_sd"] == 0 for f in ds.figures(same))


def test_draw_configs_redraw_the_data_seed_and_reject_a_fixed_dataset() -> None:
    from fiubench.presets import load_run_config

    cfg = load_run_config("smoke", None)
    seeds = [c.data.seed for c in ds.draw_configs(cfg, 3)]
    assert seeds == [cfg.data.seed + i for i in range(3)]
    with pytest.raises(ConfigError, match="--data-seeds"):
        ds.draw_configs(cfg, 1)
    cfg.dataset = "/some/dataset"
    with pytest.raises(ConfigError, match="embedded dataset"):
        ds.draw_configs(cfg, 2)


@pytest.mark.slow
def test_smoke_with_three_data_draws_shows_the_stability_section(tmp_path: Path) -> None:
    """Three draws, as the issue asks (each smoke draw is a full run, ~1 min idle)."""
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "fiubench", "run", "--preset", "smoke", "--out", str(out),
                          "--data-seeds", "3"], capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    seeds = sorted(p.name for p in out.glob("data_seed=*"))
    assert seeds == ["data_seed=0", "data_seed=1", "data_seed=2"]
    assert all((out / s / "report" / "index.html").is_file() for s in seeds)
    # the draws differ: other people (profiles) behind the same split names
    profiles = [next((out / s / "steps").glob("data-*/dataset/profiles.jsonl")).read_text() for s in seeds]
    assert len(set(profiles)) == 3
    stab = json.loads((out / "stability.json").read_text())
    r = stab["ranking"]["forget_quality"]["forget10"]
    assert sum(r["p_first"].values()) == pytest.approx(1.0)
    assert len(r["kendall_tau"]) == 3  # every pair of draws
    md = (out / "report" / "report.md").read_text()
    assert "## Stability across data draws" in md and "P(ranks first)" in md and "Kendall tau" in md
