"""Every metric against values computed by hand."""

import math

import numpy as np
import pytest

from fiubench.metrics import accuracy as acc
from fiubench.metrics import mia
from fiubench.metrics.ks import ks_test
from fiubench.metrics.probability import forget_probability, retain_probability
from fiubench.metrics.text import keyword_match, mean_defined, rouge_l_recall
from fiubench.metrics.truth_ratio import (
    forget_truth_ratio_score,
    retain_truth_ratio_score,
    truth_ratio,
)


def test_rouge_l_recall_hand():
    # reference 4 tokens; LCS with prediction = "the cat sat" -> 3/4
    assert rouge_l_recall("the cat sat down", "the cat quickly sat") == pytest.approx(0.75)
    assert rouge_l_recall("the cat sat down", "") == 0.0
    # stemmer on: "running" ~ "run"
    assert rouge_l_recall("he runs", "he running") == pytest.approx(1.0)


def test_keyword_match():
    assert keyword_match(["John Smith", "1956"], "the name is john smith, born 1957") == 0.5
    assert keyword_match(["A"], "a") == 1.0
    assert keyword_match([], "x") is None
    assert mean_defined([1.0, None, 0.0]) == 0.5
    assert mean_defined([None]) is None


def test_probabilities():
    nll = [math.log(2), math.log(4)]  # P = 1/2, 1/4
    assert forget_probability(nll) == pytest.approx(0.375)
    # P(a)=1/2, perturbed 1/4 + 1/4 -> 0.5 / 1.0
    assert retain_probability([math.log(2)], [[math.log(4), math.log(4)]]) == pytest.approx(0.5)


def test_truth_ratio_arithmetic_and_geometric():
    # P(para) = 1/2, perturbed P = 1/4 and 1/16
    para, pert = math.log(2), [math.log(4), math.log(16)]
    arith = (0.25 + 0.0625) / 2 / 0.5
    geo = math.sqrt(0.25 * 0.0625) / 0.5
    assert truth_ratio(para, pert) == pytest.approx(arith)
    assert truth_ratio(para, pert, "geometric") == pytest.approx(geo)
    # extreme NLLs stay finite (stable log-mean-exp)
    assert math.isfinite(truth_ratio(1.0, [800.0, 900.0]))


def test_truth_ratio_scores():
    r = [0.5, 2.0, 1.0]
    assert retain_truth_ratio_score(r) == pytest.approx((0.5 + 0 + 0) / 3)
    assert forget_truth_ratio_score(r) == pytest.approx((0.5 + 0.5 + 1.0) / 3)


def test_ks_self_is_one_and_different_is_small():
    x = list(np.linspace(0.1, 3.0, 50))
    res = ks_test(x, x)
    assert res.p_value == 1.0 and res.statistic == 0.0 and res.log10_p == 0.0
    far = ks_test(x, [v + 10 for v in x])
    assert far.statistic == 1.0 and far.p_value < 1e-10
    assert far.log10_p == pytest.approx(math.log10(far.p_value))


def test_mia_scores_hand():
    lp = [-0.1, -2.0, -0.5, -4.0, -1.0]
    assert mia.loss_score(lp) == pytest.approx(-7.6 / 5)
    # k=0.2 of 5 tokens -> 1 lowest token; k=0.4 -> 2 lowest
    assert mia.min_k_score(lp, 0.2) == pytest.approx(-4.0)
    assert mia.min_k_score(lp, 0.4) == pytest.approx(-3.0)
    # floor would keep zero tokens of a 2-token answer at k=0.2; we keep one
    assert mia.min_k_score([-1.0, -3.0], 0.2) == pytest.approx(-3.0)
    up = np.mean([mia.min_k_score(lp, k) for k in (0.1, 0.2, 0.3, 0.4, 0.5)])
    # k=0.1 -> 1 token (-4), 0.2 -> -4, 0.3 -> 1 token (-4), 0.4 -> -3, 0.5 -> 2 tokens (-3)
    assert mia.upstream_min_k(lp) == pytest.approx(up) == pytest.approx((-4 - 4 - 4 - 3 - 3) / 5)
    import zlib

    text = "the answer"
    assert mia.zlib_score(lp, text) == pytest.approx(-7.6 / 5 / len(zlib.compress(text.encode())))
    mu, sigma = [-1.0] * 5, [2.0] * 5
    z = sorted((np.array(lp) + 1.0) / 2.0)
    assert mia.min_k_pp_score(lp, mu, sigma, 0.4) == pytest.approx(np.mean(z[:2]))


def test_mia_auc_orientation():
    members = [-0.1, -0.2, -0.15]
    non = [-3.0, -2.5, -4.0]
    assert mia.attack_auc(members, non) == 1.0
    assert mia.attack_auc(non, members) == 0.0
    assert mia.attack_auc([0.0, 1.0], [0.0, 1.0]) == 0.5
    with pytest.raises(ValueError):
        mia.attack_auc([], [1.0])


def test_accuracy():
    assert acc.parse_yes_no("Yes, she is.") == "yes"
    assert acc.parse_yes_no("  no") == "no"
    assert acc.parse_yes_no("maybe yes") is None
    flags = [acc.yes_no_correct(g, lab) for g, lab in [("yes", "yes"), ("No.", "no"), ("yes", "no"), ("", "yes")]]
    assert acc.accuracy(flags) == 0.5
    # Our visual QA labels are sentences ("Yes." / "No."), POPE's are bare words.
    assert acc.yes_no_correct("Yes.", "Yes.")
    assert acc.yes_no_correct("no", "No.")
    assert not acc.yes_no_correct("No.", "Yes.")
    with pytest.raises(ValueError):
        acc.yes_no_correct("yes", "maybe")
    assert acc.open_match("Brown", "the hair is brown.")
    assert acc.acc_plus(["a", "a", "b", "b"], [True, True, True, False]) == 0.5
