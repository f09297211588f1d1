"""Fictitious profiles (Faker, seeded) and the pools of wrong values for perturbed answers.

Every profile has the fields of the FIUBench specification. Facts are internally
consistent: the date of birth fits the face's age group as of ``REFERENCE_DATE``,
admission happens in adulthood and before discharge, discharge is before the
reference date.

Perturbed answers must use values that *no* identity in the dataset truly has:
if the wrong answers were other people's trained facts, the retain model would
already know them and the truth ratio / KS test would be meaningless (measured:
truth ratio ~3000). So every field has a *perturbation pool* kept disjoint from
all true values of that field across the whole dataset (holdout included):
categorical fields split their vocabulary into a "true" part and a "wrong"
part; open fields (names, dates, amounts...) draw fresh values and drop any
that collide (case-insensitively) with a true value.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from faker import Faker
from faker.providers.job.en_US import Provider as _JobProvider

REFERENCE_DATE = dt.date(2024, 6, 30)  # "today" of every profile: ages are computed at this date

AGE_RANGES = {"young": (19, 35), "middle-aged": (36, 59), "old": (60, 86)}

# Categorical vocabularies: index 0 = the values people truly have, 1 = wrong-answer pool.
BLOOD_TYPES = (
    ("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"),
    ("Bombay (hh)", "Rh-null", "A2B+", "Duffy-negative", "Kell-positive", "Vel-negative"),
)
CONDITIONS = (
    ("asthma", "type 2 diabetes", "hypertension", "chronic migraine", "rheumatoid arthritis",
     "hypothyroidism", "epilepsy", "Crohn's disease", "psoriasis", "chronic kidney disease",
     "coronary artery disease", "osteoarthritis", "celiac disease", "multiple sclerosis",
     "sleep apnea", "glaucoma", "gout", "COPD"),
    ("lupus", "type 1 diabetes", "hyperthyroidism", "ulcerative colitis", "fibromyalgia",
     "Parkinson's disease", "atrial fibrillation", "chronic bronchitis", "endometriosis",
     "cystic fibrosis", "sickle cell disease", "hemophilia", "narcolepsy", "Addison's disease",
     "scoliosis", "tinnitus"),
)
MEDICATIONS = (
    ("Lisinopril", "Metformin", "Atorvastatin", "Levothyroxine", "Amlodipine", "Omeprazole",
     "Albuterol", "Losartan", "Gabapentin", "Sertraline", "Methotrexate", "Insulin glargine",
     "Sumatriptan", "Allopurinol", "Montelukast", "Latanoprost"),
    ("Warfarin", "Prednisone", "Hydrochlorothiazide", "Clopidogrel", "Fluoxetine", "Tramadol",
     "Pantoprazole", "Simvastatin", "Carvedilol", "Duloxetine", "Lamotrigine", "Rosuvastatin",
     "Tamsulosin", "Furosemide"),
)
INSURERS = (
    ("Aetna", "Cigna", "UnitedHealthcare", "Blue Cross", "Humana", "Kaiser Permanente", "Medicare"),
    ("Oscar Health", "Molina Healthcare", "Anthem", "Highmark", "Ambetter", "WellCare", "Centene"),
)
ADMISSION_TYPES = (("emergency", "elective", "urgent"), ("trauma", "observation", "transfer", "day-case"))
TEST_RESULTS = (("normal", "abnormal", "inconclusive"), ("borderline", "pending", "critical"))
LANGUAGES = (
    ("Spanish", "French", "German", "Mandarin", "Japanese", "Italian", "Portuguese", "Korean",
     "Arabic", "Russian", "Hindi"),
    ("Swahili", "Dutch", "Greek", "Turkish", "Polish", "Vietnamese", "Hebrew", "Finnish",
     "Tagalog", "Czech", "Icelandic"),
)
OFFENSES = (
    ("shoplifting", "drunk driving", "vandalism", "tax evasion", "trespassing", "public intoxication",
     "credit card fraud", "reckless driving", "petty theft"),
    ("burglary", "identity theft", "insurance fraud", "arson", "embezzlement", "forgery",
     "smuggling", "perjury", "money laundering"),
)
HOSPITAL_SUFFIXES = (
    "General Hospital", "Medical Center", "Memorial Hospital", "Regional Hospital",
    "Community Hospital", "University Hospital",
)
NO_RECORD = "no criminal record"

# Faker jobs without commas or parentheses ("Engineer, civil" reads badly in a sentence).
_JOBS = tuple(j for j in _JobProvider.jobs if "," not in j and "(" not in j)
JOBS = (_JOBS[0::2], _JOBS[1::2])

# The fields asked about, in canonical order (gender is in the profile and caption
# but not asked: it has no honest pool of wrong values and is a visual question).
QA_FIELDS = (
    "name", "date_of_birth", "address", "phone", "email", "occupation", "income", "blood_type",
    "medical_condition", "hospital", "doctor", "admission_date", "admission_type",
    "discharge_date", "billing_amount", "insurer", "medication", "test_results",
    "second_language", "criminal_record",
)
PROFILE_FIELDS = ("gender", "age", *QA_FIELDS)


def fmt_date(d: dt.date) -> str:
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def _lower_first(s: str) -> str:
    """"Chartered accountant" -> "chartered accountant", but keep "IT consultant"."""
    return s[0].lower() + s[1:] if len(s) > 1 and s[1].islower() else s


@dataclass(frozen=True)
class Profile:
    """A fictitious person's private facts; values are display strings."""

    values: dict[str, str]
    keywords: dict[str, tuple[str, ...]]  # field -> private strings that exact match looks for

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


def _person_name(fake: Faker, gender: str) -> str:
    first = fake.first_name_male() if gender == "male" else fake.first_name_female()
    return f"{first} {fake.last_name()}"


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


def _hospital(rng: random.Random, fake: Faker) -> str:
    return f"{fake.last_name()} {rng.choice(HOSPITAL_SUFFIXES)}"


def _criminal(rng: random.Random, offenses: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    off, year = rng.choice(offenses), rng.randint(1995, 2023)
    return f"a conviction for {off} in {year}", (off, str(year))


def make_profile(fake: Faker, rng: random.Random, gender: str, age_group: str, taken_names: set[str]) -> Profile:
    """One consistent fictitious profile whose age fits ``age_group`` (a face attribute)."""
    v: dict[str, str] = {}
    kw: dict[str, tuple[str, ...]] = {}
    name = _person_name(fake, gender)
    while name.lower() in taken_names:
        name = _person_name(fake, gender)
    taken_names.add(name.lower())
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
    address, addr_kw = _address(fake)
    record_kw: tuple[str, ...]
    if rng.random() < 0.4:
        record, record_kw = NO_RECORD, (NO_RECORD,)
    else:
        record, record_kw = _criminal(rng, OFFENSES[0])
    v.update(
        gender=gender,
        age=str(age),
        name=name,
        date_of_birth=fmt_date(dob),
        address=address,
        phone=_phone(rng),
        email=_email(rng, fake, name),
        occupation=_lower_first(rng.choice(JOBS[0])),
        income=_money(rng, 22000, 260000, 100),
        blood_type=rng.choice(BLOOD_TYPES[0]),
        medical_condition=rng.choice(CONDITIONS[0]),
        hospital=_hospital(rng, fake),
        doctor="Dr. " + _person_name(fake, rng.choice(("male", "female"))),
        admission_date=fmt_date(admission),
        admission_type=rng.choice(ADMISSION_TYPES[0]),
        discharge_date=fmt_date(discharge),
        billing_amount=_billing(rng),
        insurer=rng.choice(INSURERS[0]),
        medication=rng.choice(MEDICATIONS[0]),
        test_results=rng.choice(TEST_RESULTS[0]),
        second_language=rng.choice(LANGUAGES[0]),
        criminal_record=record,
    )
    kw = {f: (v[f],) for f in QA_FIELDS}
    kw["address"] = addr_kw
    kw["criminal_record"] = record_kw
    return Profile(values=v, keywords=kw)


def perturbation_pools(
    profiles: list[Profile], seed: int, size: int = 60
) -> dict[str, tuple[str, ...]]:
    """Per field, wrong values that no profile in ``profiles`` has (case-insensitive)."""
    rng = random.Random(f"pools:{seed}")
    fake = Faker("en_US")
    fake.seed_instance(seed + 7919)
    true = {f: {p.values[f].lower() for p in profiles} for f in QA_FIELDS}
    # A wrong name or doctor must not be any true name either (patients or doctors).
    people = {p.values["name"].lower() for p in profiles} | {
        p.values["doctor"].lower().removeprefix("dr. ") for p in profiles
    }
    makers = {
        "name": lambda: _person_name(fake, rng.choice(("male", "female"))),
        "date_of_birth": lambda: fmt_date(_random_date(rng, dt.date(1937, 1, 1), dt.date(2005, 6, 1))),
        "address": lambda: _address(fake)[0],
        "phone": lambda: _phone(rng),
        "email": lambda: _email(rng, fake, _person_name(fake, "female")),
        "occupation": lambda: _lower_first(rng.choice(JOBS[1])),
        "income": lambda: _money(rng, 22000, 260000, 100),
        "hospital": lambda: _hospital(rng, fake),
        "doctor": lambda: "Dr. " + _person_name(fake, rng.choice(("male", "female"))),
        "admission_date": lambda: fmt_date(_random_date(rng, dt.date(2019, 6, 1), dt.date(2024, 6, 1))),
        "discharge_date": lambda: fmt_date(_random_date(rng, dt.date(2019, 6, 2), dt.date(2024, 6, 29))),
        "billing_amount": lambda: _billing(rng),
        "criminal_record": lambda: _criminal(rng, OFFENSES[1])[0],
    }
    fixed = {
        "blood_type": BLOOD_TYPES[1], "medical_condition": CONDITIONS[1], "admission_type": ADMISSION_TYPES[1],
        "insurer": INSURERS[1], "medication": MEDICATIONS[1], "test_results": TEST_RESULTS[1],
        "second_language": LANGUAGES[1],
    }
    pools: dict[str, tuple[str, ...]] = {}
    for f in QA_FIELDS:
        if f in fixed:
            pools[f] = tuple(x for x in fixed[f] if x.lower() not in true[f])
            continue
        out: list[str] = []
        seen: set[str] = set()
        tries = 0
        while len(out) < size and tries < size * 50:
            tries += 1
            x = makers[f]()
            key = x.lower()
            if key in true[f] or key in seen:
                continue
            if f in ("name", "doctor") and key.removeprefix("dr. ") in people:
                continue
            seen.add(key)
            out.append(x)
        pools[f] = tuple(out)
    for f, pool in pools.items():
        if len(pool) < 3:  # cannot happen with the shipped vocabularies; guard anyway
            raise RuntimeError(f"perturbation pool for {f!r} has only {len(pool)} values")
    return pools
