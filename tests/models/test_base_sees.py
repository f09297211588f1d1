"""The shipped tiny base sees: attribute questions about faces it has never seen.

Fresh faces are drawn from a seed the build never used; the answers are scored with
the evaluator's own rules (``fiubench.metrics.accuracy``). Thresholds are computed
from chance, not copied from the build's numbers: each accuracy must reach chance + 60 %
of the way from chance to perfect (0.8 for yes/no, ~0.7 for open questions of ~4-5
values), and its one-sided 99 % lower confidence bound must lie above chance.
"""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from fiubench.data.faces import ATTRIBUTE_VALUES
from fiubench.metrics import accuracy as acc
from fiubench.models import ModelConfig, load_vlm
from fiubench.models.loading import tiny_base_dir
from fiubench.tiny.pools import procedural_pool

FRESH_SEED = 271828  # the build uses seed 0's pools; this one's faces were never seen
SHARE_OF_HEADROOM = 0.6


def _open_chance(attribute: str) -> float:
    vals = [v for v in ATTRIBUTE_VALUES[attribute] if not (attribute == "hair_color" and v == "none")]
    return 1.0 / len(vals)


@pytest.mark.skipif(not (tiny_base_dir() / "config.json").is_file(), reason="tiny base not installed")
def test_shipped_base_sees_unseen_faces() -> None:
    vlm = load_vlm(ModelConfig())
    items = [(img, it) for img, its, _ in procedural_pool(FRESH_SEED, "unseen", 24) for it in its]
    outs = vlm.generate([i for i, _ in items], [it.question for _, it in items], max_new_tokens=24)
    flags = {"yesno": [], "open": []}
    chance = {"yesno": [], "open": []}
    for (_, it), out in zip(items, outs, strict=True):
        if it.kind == "yesno":
            flags["yesno"].append(acc.yes_no_correct(out, it.answer))
            chance["yesno"].append(0.5)
        else:
            flags["open"].append(acc.open_match(it.answer, out))
            chance["open"].append(_open_chance(it.attribute))
    for kind in ("yesno", "open"):
        n, k = len(flags[kind]), sum(flags[kind])
        c = sum(chance[kind]) / n
        threshold = c + SHARE_OF_HEADROOM * (1 - c)
        low = binomtest(k, n, alternative="greater").proportion_ci(0.99).low
        assert k / n >= threshold and low > c, (
            f"{kind}: accuracy {k}/{n} = {k / n:.3f} (99 % lower bound {low:.3f}); "
            f"need >= {threshold:.3f} with chance {c:.3f}"
        )
