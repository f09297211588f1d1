"""Fictitious profiles (Faker, seeded) and the wrong values of perturbed answers.

Every profile has the fields of the FIUBench specification. Facts are internally
consistent: the date of birth fits the face's age group as of ``REFERENCE_DATE``,
admission happens in adulthood and before discharge, discharge is before the
reference date.

Perturbed answers must be *exchangeable* with the true one for a model that never
saw the person: the true value and each wrong value must be draws from the same
distribution, or the truth ratio measures something other than knowledge. Both
extremes fail (shared measurements): wrong values that are other trained people's
facts are known to the retain model (truth ratio ~3000); values that no identity
has are unknown to every model (median R ~0.02 on blood types: R then measures
vocabulary). So (:class:`Perturber`):

- *generated fields* (name, dates, address, phone, email, amounts, hospital,
  doctor): fresh draws from the very generator that made the true values, given
  what the face shows (gender, age group), distinct from the person's value and
  from each other; a name is also never another identity's name, as true names
  are unique;
- *categorical fields* (blood type, condition, medication, insurer, admission
  type, test results, language, occupation, criminal record): other values of
  the same :class:`Vocabulary`, never the person's own. With a uniform vocabulary
  the three are distinct (the four candidates are then a uniformly random ordered
  set: fully exchangeable). With uneven frequencies, drawing "the vocabulary's
  frequencies, minus the own value" would under-represent frequent values (a
  conviction's wrong value would be "no criminal record" 24 % of the time, the
  truth 40 %), so each wrong value is drawn from a tilted distribution chosen so
  that P(true = a, wrong = b) = P(true = b, wrong = a) (:func:`exchangeable_tilt`):
  every wrong value then has exactly the vocabulary's frequencies.

Gender is in the profile and caption but not asked: it is visible in the face, so
a never-seen person's gender is not private knowledge.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from faker import Faker
from faker.providers.job.en_US import Provider as _JobProvider
from faker.providers.person.en_US import Provider as _PersonProvider

REFERENCE_DATE = dt.date(2024, 6, 30)  # "today" of every profile: ages are computed at this date

AGE_RANGES = {"young": (19, 35), "middle-aged": (36, 59), "old": (60, 86)}


def exchangeable_tilt(probs: Sequence[float]) -> list[float]:
    """Weights v such that a ~ p, b ~ v conditioned on b != a is a symmetric pair.

    P(a, b) = p_a v_b / (1 - v_a) is symmetric iff p_a / (v_a (1 - v_a)) is the same
    constant c for every value; then b's marginal is p too. Each v_a is a root of
    v (1 - v) = p_a / c; at most one value (the most frequent) takes the larger root.
    c is found by bisection so that sum(v) = 1. Needs every p_a < 1/2 (a value with
    half the mass or more cannot be paired with a different value that often).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.size < 2 or (p <= 0).any():
        raise ValueError("a vocabulary needs at least 2 values, all with positive weight")
    p = p / p.sum()
    top = int(p.argmax())
    if p[top] >= 0.5:
        raise ValueError(f"no exchangeable wrong value: one value has probability {p[top]:.3f} >= 1/2")

    def roots(c: float, big: bool) -> np.ndarray:
        d = np.sqrt(np.clip(1.0 - 4.0 * p / c, 0.0, None))
        v = (1.0 - d) / 2.0
        if big:
            v[top] = (1.0 + d[top]) / 2.0
        return v

    lo = 4.0 * p[top]
    big = bool(roots(lo, False).sum() < 1.0)  # small roots cannot reach 1: the top value takes the large one
    hi = lo * 2.0
    while (roots(hi, big).sum() > 1.0) != big:
        hi *= 2.0
    for _ in range(200):  # sum(roots) is monotone in c on [lo, hi]
        mid = (lo + hi) / 2.0
        if (roots(mid, big).sum() > 1.0) != big:
            lo = mid
        else:
            hi = mid
    v = roots((lo + hi) / 2.0, big)
    return [float(x) for x in v / v.sum()]


@dataclass(frozen=True)
class Vocabulary:
    """A categorical field: its values and their frequencies (None = uniform)."""

    values: tuple[str, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len({v.casefold() for v in self.values}) != len(self.values):
            raise ValueError(f"duplicate values in vocabulary {self.values[:3]}...")
        if self.weights is not None and len(self.weights) != len(self.values):
            raise ValueError("one weight per value")

    @cached_property
    def probabilities(self) -> tuple[float, ...]:
        w = self.weights or (1.0,) * len(self.values)
        s = sum(w)
        return tuple(x / s for x in w)

    @cached_property
    def _cum(self) -> list[float]:
        return list(itertools.accumulate(self.probabilities))

    @cached_property
    def _wrong_cum(self) -> list[float]:
        return list(itertools.accumulate(exchangeable_tilt(self.probabilities)))

    def draw(self, rng: random.Random) -> str:
        """A true value, at the vocabulary's frequencies."""
        if self.weights is None:
            return rng.choice(self.values)
        return rng.choices(self.values, cum_weights=self._cum)[0]

    def wrong(self, rng: random.Random, value: str, k: int) -> tuple[str, ...]:
        """``k`` wrong values for a person whose value is ``value`` (see the module docstring)."""
        own = value.casefold()
        if self.weights is None:
            others = [v for v in self.values if v.casefold() != own]
            if len(others) >= k:
                return tuple(rng.sample(others, k))
            return tuple(rng.choice(others) for _ in range(k))
        out: list[str] = []
        while len(out) < k:  # rejection: b ~ tilt, conditioned on b != own
            b = rng.choices(self.values, cum_weights=self._wrong_cum)[0]
            if b.casefold() != own:
                out.append(b)
        return tuple(out)


# Blood groups at their (approximate, US) population frequencies, in %.
BLOOD_TYPES = Vocabulary(
    ("O+", "A+", "B+", "AB+", "O-", "A-", "B-", "AB-"), (37.4, 35.7, 8.5, 3.4, 6.6, 6.3, 1.5, 0.6)
)
CONDITIONS = Vocabulary((
    "asthma", "type 2 diabetes", "hypertension", "chronic migraine", "rheumatoid arthritis",
    "hypothyroidism", "epilepsy", "Crohn's disease", "psoriasis", "chronic kidney disease",
    "coronary artery disease", "osteoarthritis", "celiac disease", "multiple sclerosis",
    "sleep apnea", "glaucoma", "gout", "COPD", "lupus", "type 1 diabetes", "hyperthyroidism",
    "ulcerative colitis", "fibromyalgia", "Parkinson's disease", "atrial fibrillation",
    "chronic bronchitis", "endometriosis", "cystic fibrosis", "sickle cell disease", "hemophilia",
    "narcolepsy", "Addison's disease", "scoliosis", "tinnitus",
))
MEDICATIONS = Vocabulary((
    "Lisinopril", "Metformin", "Atorvastatin", "Levothyroxine", "Amlodipine", "Omeprazole",
    "Albuterol", "Losartan", "Gabapentin", "Sertraline", "Methotrexate", "Insulin glargine",
    "Sumatriptan", "Allopurinol", "Montelukast", "Latanoprost", "Warfarin", "Prednisone",
    "Hydrochlorothiazide", "Clopidogrel", "Fluoxetine", "Tramadol", "Pantoprazole", "Simvastatin",
    "Carvedilol", "Duloxetine", "Lamotrigine", "Rosuvastatin", "Tamsulosin", "Furosemide",
))
INSURERS = Vocabulary((
    "Aetna", "Cigna", "UnitedHealthcare", "Blue Cross", "Humana", "Kaiser Permanente", "Medicare",
    "Oscar Health", "Molina Healthcare", "Anthem", "Highmark", "Ambetter", "WellCare", "Centene",
))
ADMISSION_TYPES = Vocabulary(("emergency", "elective", "urgent", "trauma", "observation", "transfer", "day-case"))
TEST_RESULTS = Vocabulary(("normal", "abnormal", "inconclusive", "borderline", "critical"))
LANGUAGES = Vocabulary((
    "Spanish", "French", "German", "Mandarin", "Japanese", "Italian", "Portuguese", "Korean",
    "Arabic", "Russian", "Hindi", "Swahili", "Dutch", "Greek", "Turkish", "Polish", "Vietnamese",
    "Hebrew", "Finnish", "Tagalog", "Czech", "Icelandic",
))
OFFENSES = (
    "shoplifting", "drunk driving", "vandalism", "tax evasion", "trespassing", "public intoxication",
    "credit card fraud", "reckless driving", "petty theft", "burglary", "identity theft",
    "insurance fraud", "arson", "embezzlement", "forgery", "smuggling", "perjury", "money laundering",
)
CONVICTION_YEARS = range(1995, 2024)
NO_RECORD = "no criminal record"
NO_RECORD_SHARE = 0.4
# A criminal record is "no criminal record" (40 %) or one conviction (offence x year, uniform).
_CONVICTIONS = {f"a conviction for {o} in {y}": (o, str(y)) for o in OFFENSES for y in CONVICTION_YEARS}
CRIMINAL_RECORDS = Vocabulary(
    (NO_RECORD, *_CONVICTIONS),
    (NO_RECORD_SHARE, *[(1.0 - NO_RECORD_SHARE) / len(_CONVICTIONS)] * len(_CONVICTIONS)),
)
# Faker's US name lists with its frequencies, sampled from our own seeded stream
# (Faker's weighted sampling recomputes its distribution on every call: 10x slower).
FIRST_NAMES = {
    "male": Vocabulary(tuple(_PersonProvider.first_names_male), tuple(_PersonProvider.first_names_male.values())),
    "female": Vocabulary(tuple(_PersonProvider.first_names_female), tuple(_PersonProvider.first_names_female.values())),
}
LAST_NAMES = Vocabulary(tuple(_PersonProvider.last_names), tuple(_PersonProvider.last_names.values()))
HOSPITAL_SUFFIXES = (
    "General Hospital", "Medical Center", "Memorial Hospital", "Regional Hospital",
    "Community Hospital", "University Hospital",
)


def _lower_first(s: str) -> str:
    """"Chartered accountant" -> "chartered accountant", but keep "IT consultant"."""
    return s[0].lower() + s[1:] if len(s) > 1 and s[1].islower() else s


def whole_words_in(value: str, text: str) -> bool:
    """``value`` occurs in ``text`` as whole words, case-insensitively (exact match's rule
    for a keyword that is not a number: ``fiubench.metrics.text.keyword_found``)."""
    return re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", text, re.IGNORECASE) is not None


def without_contained(values: Sequence[str]) -> tuple[str, ...]:
    """``values`` minus every value found as whole words inside another one
    ("administrator" in "database administrator"): exact match would credit the
    shorter value's keyword when a model says the longer, wrong, one."""
    return tuple(a for a in values
                 if not any(b.casefold() != a.casefold() and whole_words_in(a, b) for b in values))


# Faker jobs without commas or parentheses ("Engineer, civil" reads badly in a sentence),
# and none inside another (30 of 465 dropped: "administrator", "restaurant manager", ...;
# datasets generated before metrics version 4 drew from all 465).
OCCUPATIONS = Vocabulary(without_contained(tuple(dict.fromkeys(
    _lower_first(j) for j in _JobProvider.jobs if "," not in j and "(" not in j
))))

VOCABULARIES: dict[str, Vocabulary] = {
    "occupation": OCCUPATIONS, "blood_type": BLOOD_TYPES, "medical_condition": CONDITIONS,
    "admission_type": ADMISSION_TYPES, "insurer": INSURERS, "medication": MEDICATIONS,
    "test_results": TEST_RESULTS, "second_language": LANGUAGES, "criminal_record": CRIMINAL_RECORDS,
}

# The fields asked about, in canonical order.
QA_FIELDS = (
    "name", "date_of_birth", "address", "phone", "email", "occupation", "income", "blood_type",
    "medical_condition", "hospital", "doctor", "admission_date", "admission_type",
    "discharge_date", "billing_amount", "insurer", "medication", "test_results",
    "second_language", "criminal_record",
)
PROFILE_FIELDS = ("gender", "age", *QA_FIELDS)
GENERATED_FIELDS = tuple(f for f in QA_FIELDS if f not in VOCABULARIES)


def fmt_date(d: dt.date) -> str:
    return f"{d.strftime('%B')} {d.day}, {d.year}"


@dataclass(frozen=True)
class Profile:
    """A fictitious person's private facts; values are display strings."""

    values: dict[str, str]
    keywords: dict[str, tuple[str, ...]]  # field -> private strings that exact match looks for
    age_group: str  # what the face shows ("young", ...): wrong values keep it

    def __getitem__(self, key: str) -> str:
        return self.values[key]


def _random_date(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    return lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))


def _money(rng: random.Random, lo: int, hi: int, step: int) -> str:
    return f"${rng.randrange(lo, hi, step):,}"


def _billing(rng: random.Random) -> str:
    return f"${rng.randint(800, 60000):,}.{rng.randint(0, 99):02d}"


def _phone(rng: random.Random) -> str:
    return f"({rng.randint(201, 989)}) {rng.randint(201, 989)}-{rng.randint(0, 9999):04d}"


def _person_name(rng: random.Random, gender: str) -> str:
    return f"{FIRST_NAMES[gender].draw(rng)} {LAST_NAMES.draw(rng)}"


def _email(rng: random.Random, fake: Faker, name: str) -> str:
    first, last = name.lower().split(" ", 1)
    last = "".join(c for c in last if c.isalnum())
    first = "".join(c for c in first if c.isalnum())
    style = rng.randrange(3)
    local = (f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}", f"{last}.{first}{rng.randint(1, 9)}")[style]
    return f"{local}@{fake.free_email_domain()}"


def _address(fake: Faker) -> tuple[str, tuple[str, ...]]:
    street, city = fake.street_address(), fake.city()
    return f"{street}, {city}, {fake.state_abbr()} {fake.zipcode()}", (street, city)


def _hospital(rng: random.Random) -> str:
    return f"{LAST_NAMES.draw(rng)} {rng.choice(HOSPITAL_SUFFIXES)}"


def _dates(rng: random.Random, age_group: str) -> tuple[int, dt.date, dt.date, dt.date]:
    """(age, date of birth, admission, discharge): one consistent draw for ``age_group``."""
    lo_age, hi_age = AGE_RANGES[age_group]
    age = rng.randint(lo_age, hi_age)
    # Born between (ref - age - 1 years, ref - age years]: age at REFERENCE_DATE is exactly `age`.
    hi_dob = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
    lo_dob = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age - 1) + dt.timedelta(days=1)
    dob = _random_date(rng, lo_dob, hi_dob)
    adult = dob.replace(year=dob.year + 18) if not (dob.month == 2 and dob.day == 29) else dt.date(dob.year + 18, 3, 1)
    adm_lo = max(adult, REFERENCE_DATE - dt.timedelta(days=5 * 365))
    admission = _random_date(rng, adm_lo, REFERENCE_DATE - dt.timedelta(days=30))
    discharge = admission + dt.timedelta(days=rng.randint(1, 21))
    return age, dob, admission, discharge


# The generator of each generated field given the face (gender, age group): the same
# functions make the true profile (make_profile) and the wrong values (Perturber).
_GENERATORS: dict[str, Callable[[Faker, random.Random, str, str], str]] = {
    "name": lambda fake, rng, g, a: _person_name(rng, g),
    "date_of_birth": lambda fake, rng, g, a: fmt_date(_dates(rng, a)[1]),
    "address": lambda fake, rng, g, a: _address(fake)[0],
    "phone": lambda fake, rng, g, a: _phone(rng),
    "email": lambda fake, rng, g, a: _email(rng, fake, _person_name(rng, g)),
    "income": lambda fake, rng, g, a: _money(rng, 22000, 260000, 100),
    "hospital": lambda fake, rng, g, a: _hospital(rng),
    "doctor": lambda fake, rng, g, a: "Dr. " + _person_name(rng, rng.choice(("male", "female"))),
    "admission_date": lambda fake, rng, g, a: fmt_date(_dates(rng, a)[2]),
    "discharge_date": lambda fake, rng, g, a: fmt_date(_dates(rng, a)[3]),
    "billing_amount": lambda fake, rng, g, a: _billing(rng),
}
assert set(_GENERATORS) == set(GENERATED_FIELDS)


def vocabulary_keywords(fld: str, value: str) -> tuple[str, ...]:
    """The keywords exact match looks for when a vocabulary field has ``value``: the value
    itself, or a conviction's offence and year (two facts, one keyword each)."""
    if fld == "criminal_record":
        return _CONVICTIONS.get(value, (value,))
    return (value,)


def make_profile(fake: Faker, rng: random.Random, gender: str, age_group: str, taken_names: set[str]) -> Profile:
    """One consistent fictitious profile whose age fits ``age_group`` (a face attribute)."""
    name = _person_name(rng, gender)
    while name.lower() in taken_names:
        name = _person_name(rng, gender)
    taken_names.add(name.lower())
    age, dob, admission, discharge = _dates(rng, age_group)
    address, addr_kw = _address(fake)
    v: dict[str, str] = {
        "gender": gender,
        "age": str(age),
        "name": name,
        "date_of_birth": fmt_date(dob),
        "address": address,
        "phone": _phone(rng),
        "email": _email(rng, fake, name),
        "occupation": OCCUPATIONS.draw(rng),
        "income": _money(rng, 22000, 260000, 100),
        "blood_type": BLOOD_TYPES.draw(rng),
        "medical_condition": CONDITIONS.draw(rng),
        "hospital": _hospital(rng),
        "doctor": "Dr. " + _person_name(rng, rng.choice(("male", "female"))),
        "admission_date": fmt_date(admission),
        "admission_type": ADMISSION_TYPES.draw(rng),
        "discharge_date": fmt_date(discharge),
        "billing_amount": _billing(rng),
        "insurer": INSURERS.draw(rng),
        "medication": MEDICATIONS.draw(rng),
        "test_results": TEST_RESULTS.draw(rng),
        "second_language": LANGUAGES.draw(rng),
        "criminal_record": CRIMINAL_RECORDS.draw(rng),
    }
    kw = {f: vocabulary_keywords(f, v[f]) if f in VOCABULARIES else (v[f],) for f in QA_FIELDS}
    kw["address"] = addr_kw
    return Profile(values=v, keywords=kw, age_group=age_group)


class Perturber:
    """Draws the wrong values of perturbed answers (see the module docstring).

    Its own random streams (seeded from ``seed``) keep the profiles independent of
    how many wrong values are drawn. ``profiles``: every identity of the dataset
    (a wrong name is never one of their names).
    """

    def __init__(self, profiles: Sequence[Profile], seed: int) -> None:
        self.rng = random.Random(f"perturb:{seed}")
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed + 7919)
        self.names = {p.values["name"].casefold() for p in profiles}

    def wrong_values(self, profile: Profile, fld: str, k: int = 3) -> tuple[str, ...]:
        own = profile.values[fld]
        if fld in VOCABULARIES:
            return VOCABULARIES[fld].wrong(self.rng, own, k)
        gen = _GENERATORS[fld]
        gender, age_group = profile.values["gender"], profile.age_group
        seen = {own.casefold()}
        out: list[str] = []
        for _ in range(1000 * k):
            x = gen(self.fake, self.rng, gender, age_group)
            key = x.casefold()
            if key in seen or (fld == "name" and key in self.names):
                continue
            seen.add(key)
            out.append(x)
            if len(out) == k:
                return tuple(out)
        raise RuntimeError(f"cannot draw {k} distinct wrong values for field {fld!r}")
