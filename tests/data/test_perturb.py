"""Perturbed answers are exchangeable with the true one for a model that never saw the person.

Checked on the values themselves: same sentence as the paraphrased answer, a
different value, in the field's vocabulary; and, over many identities, a wrong
value has the same distribution as a true one (per field). A naive sampler (the
vocabulary's frequencies minus the person's value) is the control that the
statistical test must reject.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from faker import Faker
from scipy.stats import chi2_contingency, ks_2samp

from fiubench.data import load_dataset
from fiubench.data.profiles import (
    AGE_RANGES,
    BLOOD_TYPES,
    CRIMINAL_RECORDS,
    GENERATED_FIELDS,
    QA_FIELDS,
    VOCABULARIES,
    Perturber,
    Vocabulary,
    exchangeable_tilt,
    make_profile,
)
from fiubench.data.qa import TEMPLATES


def _template_regex(template: str) -> re.Pattern[str]:
    pat = re.escape(template[0].upper() + template[1:])
    pat = pat.replace(re.escape("{v}"), "(?P<v>.+)").replace(re.escape("{a}"), "(?:a|an)")
    return re.compile("^" + pat + "$")


def _value_in(template: str, sentence: str) -> str | None:
    m = _template_regex(template).match(sentence)
    return m.group("v") if m else None


def test_perturbed_answers_share_the_paraphrase_sentence(small_ds: Path) -> None:
    ds = load_dataset(small_ds)
    names = {p.name.casefold() for p in ds.identities.values()}
    n = 0
    for p in ds.identities.values():
        assert p.profile is not None
        for qa in p.qa_list:
            assert qa.field is not None
            value = p.profile[qa.field]
            tpl = next(t for t in TEMPLATES[qa.field][1] if _value_in(t, qa.paraphrased_answer) == value)
            assert value in qa.answer and qa.keywords
            for wrong in qa.perturbed_answer:
                w = _value_in(tpl, wrong)  # the paraphrased answer's sentence, only the value differs
                assert w is not None, (tpl, wrong)
                assert w.casefold() != value.casefold()
                if qa.field in VOCABULARIES:
                    assert w in VOCABULARIES[qa.field].values
                if qa.field == "name":
                    assert w.casefold() not in names  # true names are unique: wrong ones are nobody's
                n += 1
            if qa.field in GENERATED_FIELDS or (
                VOCABULARIES.get(qa.field) and VOCABULARIES[qa.field].weights is None
                and len(VOCABULARIES[qa.field].values) > 3
            ):
                assert len(set(qa.perturbed_answer)) == 3
    assert n == 44 * 5 * 3


@pytest.mark.parametrize("probs", [(0.25, 0.25, 0.25, 0.25), (0.45, 0.3, 0.25), BLOOD_TYPES.probabilities,
                                   CRIMINAL_RECORDS.probabilities, (0.4, 0.35, 0.1, 0.1, 0.05)])
def test_exchangeable_tilt_gives_a_symmetric_pair(probs: tuple[float, ...]) -> None:
    p = np.asarray(probs) / sum(probs)
    v = np.asarray(exchangeable_tilt(probs))
    joint = p[:, None] * v[None, :] / (1.0 - v[:, None])  # P(true = a, wrong = b), b != a
    np.fill_diagonal(joint, 0.0)
    assert np.allclose(joint, joint.T, atol=1e-12)
    assert np.allclose(joint.sum(0), p, atol=1e-10)  # a wrong value has the vocabulary's frequencies
    if np.allclose(p, p[0]):
        assert np.allclose(v, p)


def test_exchangeable_tilt_refuses_a_majority_value() -> None:
    with pytest.raises(ValueError, match="1/2"):
        exchangeable_tilt((0.6, 0.2, 0.2))


def _population(n: int, seed: int) -> tuple[list, Perturber]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    taken: set[str] = set()
    profiles = [
        make_profile(fake, rng, rng.choice(("male", "female")), rng.choice(tuple(AGE_RANGES)), taken)
        for _ in range(n)
    ]
    return profiles, Perturber(profiles, seed)


def _feature(field: str, value: str) -> str:
    """A coarse, shared feature of a generated value (its values are unique)."""
    if field in ("date_of_birth", "admission_date", "discharge_date"):
        return str(dt.datetime.strptime(value, "%B %d, %Y").year)
    if field in ("income", "billing_amount"):
        return str(int(float(value.strip("$").replace(",", "")) // 10000))
    if field in ("name", "doctor"):
        return value.removeprefix("Dr. ").split(" ")[0]  # first name: gender and frequency
    if field == "email":
        return value.split("@")[1]
    if field == "address":
        return value.rsplit(",", 1)[1].split()[0]  # state
    if field == "hospital":
        return value.split(" ", 1)[1]
    if field == "phone":
        return value[1]
    raise AssertionError(field)


def _same_distribution_p(true: list[str], wrong: list[str]) -> float:
    """Chi-square test of two samples of categories (rare ones pooled)."""
    counts = Counter(true) + Counter(wrong)
    keep = {k for k, c in counts.items() if c >= 20}
    rows = [Counter(x if x in keep else "<rare>" for x in xs) for xs in (true, wrong)]
    cats = sorted(set(rows[0]) | set(rows[1]))
    table = np.array([[r.get(c, 0) for c in cats] for r in rows])
    return float(chi2_contingency(table)[1]) if len(cats) > 1 else 1.0


@pytest.fixture(scope="module")
def population() -> tuple[list, Perturber]:
    return _population(3000, seed=5)


@pytest.mark.parametrize("field", QA_FIELDS)
def test_wrong_values_are_distributed_like_true_ones(field: str, population: tuple[list, Perturber]) -> None:
    """Exchangeability, per field: over many identities, the true value's distribution
    equals that of a wrong value (each of the 3 slots)."""
    profiles, perturber = population
    wrong = [perturber.wrong_values(p, field) for p in profiles]
    true = [p.values[field] for p in profiles]
    for slot in range(3):
        w = [x[slot] for x in wrong]
        if field in GENERATED_FIELDS:
            p_value = _same_distribution_p([_feature(field, x) for x in true], [_feature(field, x) for x in w])
        else:
            p_value = _same_distribution_p(true, w)
        assert p_value > 1e-3, (field, slot, p_value)
    if field in ("date_of_birth",):  # conditioned on the face's age group, not only marginally
        for p, ws in zip(profiles[:300], wrong[:300], strict=True):
            lo, hi = AGE_RANGES[p.age_group]
            years = [dt.datetime.strptime(x, "%B %d, %Y").year for x in ws]
            assert all(2024 - hi - 1 <= y <= 2024 - lo for y in years)


def test_naive_sampler_is_caught(population: tuple[list, Perturber]) -> None:
    """Control: "the vocabulary's frequencies minus the own value" over-samples rare values
    (a conviction's wrong value is "no criminal record" ~24 % of the time, the truth 40 %)."""
    profiles, _ = population
    rng = random.Random(0)

    def naive(vocab: Vocabulary, own: str) -> str:
        while True:
            x = vocab.draw(rng)
            if x != own:
                return x

    for field in ("criminal_record", "blood_type"):
        vocab = VOCABULARIES[field]
        true = [p.values[field] for p in profiles]
        assert _same_distribution_p(true, [naive(vocab, t) for t in true]) < 1e-6
        # and values that no identity has (the old pools) are caught as well
        assert _same_distribution_p(true, ["<unseen>"] * len(true)) < 1e-6


def test_perturber_is_deterministic() -> None:
    a_prof, a = _population(50, seed=9)
    b_prof, b = _population(50, seed=9)
    for f in QA_FIELDS:
        assert [a.wrong_values(p, f) for p in a_prof] == [b.wrong_values(p, f) for p in b_prof]


def test_same_sentence_pair_holdout_has_perturbations(small_ds: Path) -> None:
    ds = load_dataset(small_ds)
    for p in ds.split("holdout"):
        assert all(len(qa.perturbed_answer) == 3 and qa.paraphrased_answer for qa in p.qa_list)


def test_ks_matches_for_dates(population: tuple[list, Perturber]) -> None:
    """Dates compared as numbers too (the year buckets above are coarse)."""
    profiles, perturber = population
    for field in ("date_of_birth", "admission_date", "discharge_date"):
        true = [dt.datetime.strptime(p.values[field], "%B %d, %Y").toordinal() for p in profiles]
        wrong = [dt.datetime.strptime(perturber.wrong_values(p, field)[0], "%B %d, %Y").toordinal()
                 for p in profiles]
        assert ks_2samp(true, wrong).pvalue > 1e-3, field
