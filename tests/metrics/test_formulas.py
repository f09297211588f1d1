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
    assert geo == pytest.approx(0.25) and arith == pytest.approx(0.3125)
    # the default is the geometric mean (TOFU / FIUBench code)
    assert truth_ratio(para, pert) == pytest.approx(geo)
    assert truth_ratio(para, pert, "geometric") == pytest.approx(geo)
    assert truth_ratio(para, pert, "arithmetic") == pytest.approx(arith)
    # extreme NLLs stay finite (stable log-mean-exp)
    assert math.isfinite(truth_ratio(1.0, [800.0, 900.0], "arithmetic"))
    with pytest.raises(ValueError, match="unknown truth-ratio mean"):
        truth_ratio(para, pert, "harmonic")  # type: ignore[arg-type]


def test_ks_refuses_a_reference_of_another_definition():
    from fiubench.errors import ConfigError
    from fiubench.metrics.ks import DefinitionMismatch, require_same_definition

    require_same_definition("geometric", "geometric", 2, 2)  # same: fine
    with pytest.raises(DefinitionMismatch) as e:
        require_same_definition("geometric", "arithmetic")
    msg = str(e.value)
    assert "geometric" in msg and "arithmetic" in msg and "retain" in msg
    assert isinstance(e.value, ConfigError)  # exit status 2 at the CLI
    with pytest.raises(DefinitionMismatch, match="unrecorded"):
        require_same_definition("geometric", None)
    with pytest.raises(DefinitionMismatch, match="metrics version 1.*metrics version 2"):
        require_same_definition("geometric", "geometric", 2, 1)


def test_compute_metrics_ks_refuses_mixed_definitions():
    from fiubench.eval.compute import RetainReference, add_derived, compute_metrics
    from fiubench.metrics.ks import DefinitionMismatch

    recs = [add_derived({
        "kind": "qa", "split": "forget", "unique_id": "a", "qa_index": i, "answer": "x y", "keywords": ["x"],
        "generation": "x", "answer_nll": 1.0, "answer_logprobs": [-1.0, -1.0], "answer_mu": [-1.0, -1.0],
        "answer_sigma": [1.0, 1.0], "paraphrased_nll": 1.0 + i / 10, "perturbed_nll": [2.0, 3.0 + i],
    }, "geometric") for i in range(3)]
    ratios = {("a", i): float(i + 1) for i in range(3)}
    ok = compute_metrics(recs, tr_mean="geometric", metrics_version=2,
                         reference=RetainReference(ratios, "geometric", 2, {}))
    assert ok["forget.ks_p"] is not None
    with pytest.raises(DefinitionMismatch, match="arithmetic"):
        compute_metrics(recs, tr_mean="geometric", metrics_version=2,
                        reference=RetainReference(ratios, "arithmetic", 2, {}))
    # the retain model itself: KS against its own ratios, p = 1
    own = compute_metrics(recs, tr_mean="geometric", metrics_version=2, self_reference=True)
    assert own["forget.ks_p"] == 1.0


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
    import zlib

    text = "the answer"
    assert mia.zlib_score(lp, text) == pytest.approx(-7.6 / 5 / len(zlib.compress(text.encode())))
    mu, sigma = [-1.0] * 5, [2.0] * 5
    z = sorted((np.array(lp) + 1.0) / 2.0)
    assert mia.min_k_pp_score(lp, mu, sigma, 0.4) == pytest.approx(np.mean(z[:2]))


def test_upstream_min_k_hand():
    """sum_k w_k exp(mean of the int(k n) lowest log-probs); k with int(k n) < 1 dropped, not renormalised."""
    lp = [-0.1, -2.0, -0.5, -4.0, -1.0]  # n = 5, sorted: -4, -2, -1, -0.5, -0.1
    # int(k*5): k=.1 -> 0 (dropped), .2 -> 1, .3 -> 1, .4 -> 2, .5 -> 2
    want = 0.3 * math.exp(-4) + 0.2 * math.exp(-4) + 0.1 * math.exp(-3) + 0.1 * math.exp(-3)
    assert mia.upstream_min_k(lp) == pytest.approx(want)
    # n = 10: every k keeps int(10 k) = 1..5 tokens
    lp10 = [-float(i) for i in range(10)]  # sorted: -9, -8, ..., 0
    want10 = (0.3 * math.exp(-9) + 0.3 * math.exp(-8.5) + 0.2 * math.exp(-8) + 0.1 * math.exp(-7.5)
              + 0.1 * math.exp(-7))
    assert mia.upstream_min_k(lp10) == pytest.approx(want10)
    # n = 1: int(k) = 0 for every k -> 0 (upstream's behaviour, no renormalisation)
    assert mia.upstream_min_k([-0.2]) == 0.0
    # a perfectly memorised 10-token answer scores the weight sum, 1
    assert mia.upstream_min_k([0.0] * 10) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        mia.upstream_min_k([])


def test_mia_tpr_at_fpr_and_leak():
    members = [0.9, 0.8, 0.7, 0.2]
    non = [0.85, 0.1, 0.05, 0.0]
    # the only threshold with FPR 0 above every non-member (> 0.85) catches 0.9: TPR 1/4
    assert mia.tpr_at_fpr(members, non, 0.01) == pytest.approx(0.25)
    # FPR 0.2 < 1/4 still allows no false positive
    assert mia.tpr_at_fpr(members, non, 0.2) == pytest.approx(0.25)
    # FPR <= 0.25 allows one false positive (0.85): threshold 0.2 catches every member
    assert mia.tpr_at_fpr(members, non, 0.25) == pytest.approx(1.0)
    assert mia.tpr_at_fpr(members, non, 1.0) == 1.0
    assert mia.privacy_leak(0.75, 0.5) == pytest.approx(0.5)
    assert mia.privacy_leak(0.5, 0.5) == 0.0
    assert mia.privacy_leak(0.1, 0.5) == pytest.approx(-0.8)
    assert mia.two_sided_term(0.1) == pytest.approx(mia.two_sided_term(0.9)) == pytest.approx(0.2)
    assert mia.two_sided_term(0.5) == 1.0


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
    assert not acc.open_match("red", "the hair is reddish.")  # whole words only


def test_open_visual_attribute_spans():
    answers = ["The person in the image has blonde hair.", "The person in the image has black hair.",
               "The person in the image has red hair."]
    spans = acc.attribute_spans(answers)
    assert spans[answers[0]] == "blonde" and spans[answers[1]] == "black"
    facial = ["The person in the image has no facial hair.", "The person in the image has a beard.",
              "The person in the image has a goatee."]
    fs = acc.attribute_spans(facial)
    assert fs[facial[0]] == "no facial hair" and fs[facial[1]] == "beard"
    # the attribute is scored, not the sentence
    assert acc.open_match(spans[answers[0]], "The person has blonde hair")
    assert not acc.open_match(spans[answers[0]], "The person in the image has black hair.")
    # a single distinct answer has no template to strip
    assert acc.attribute_spans(["The background of the image is blue."]) == {
        "The background of the image is blue.": "the background of the image is blue"
    }
    assert acc.acc_plus(["a", "a", "b", "b"], [True, True, True, False]) == 0.5


def test_probabilities_in_log_space_at_extreme_log_probs():
    """A model broken far enough gives mean NLLs beyond exp's range (> ~745): the retain
    ratio P(a) / (P(a) + sum P(p)) must stay defined (exp-first gives 0 / 0 = NaN)."""
    from fiubench.metrics.probability import normalized_prob

    a, ps = 2000.0, [2000.0, 2000.0, 2000.0]
    assert retain_probability([a], [ps]) == pytest.approx(0.25)  # four equally unlikely answers
    # by hand: P(a) / (P(a) + P(p)) = 1 / (1 + e^(a - p)); a 1000 nats more likely than p
    assert retain_probability([1000.0], [[2000.0]]) == pytest.approx(1.0)
    assert retain_probability([2001.0], [[2000.0]]) == pytest.approx(1 / (1 + math.e))
    assert retain_probability([0.5], [[1.0, 2.0]]) == pytest.approx(
        math.exp(-0.5) / (math.exp(-0.5) + math.exp(-1.0) + math.exp(-2.0)))
    with np.errstate(all="ignore"):  # the exp-first form: what the log-space form avoids
        assert math.isnan(float(np.exp(-a) / (np.exp(-a) + np.exp(-np.asarray(ps)).sum())))
    assert forget_probability([1e4, 0.0]) == pytest.approx(0.5) and normalized_prob(1e4) == 0.0
    with pytest.raises(ValueError, match="NaN mean NLL"):
        retain_probability([float("nan")], [[1.0]])


def test_tpr_at_low_fpr_needs_ten_over_x_negatives():
    assert mia.min_negatives(0.01) == 1000 and mia.min_negatives(0.05) == 200
    assert mia.tpr_unavailable(400, 0.01) == "n/a: needs 1000 never-seen answers, has 400"
    assert mia.tpr_unavailable(400, 0.05) is None


def test_tpr_at_fpr_equals_roc_curve():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(4)
    for _ in range(30):
        m, n = rng.normal(0.3, 1, 57).round(1), rng.normal(0, 1, 211).round(1)  # ties included
        f, t, _ = roc_curve([1] * m.size + [0] * n.size, np.concatenate([m, n]), drop_intermediate=False)
        for fpr in (0.01, 0.05, 0.2):
            assert mia.tpr_at_fpr(m, n, fpr) == pytest.approx(float(t[f <= fpr + 1e-12].max()))
