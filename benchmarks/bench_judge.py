"""Does the offline judge judge the fact? Pairs that share a template but differ in the value.

Usage: python benchmarks/bench_judge.py [--people N] [--seed S]

Builds, with the data layer's own generators (Faker profiles, the QA templates of every
field, the refusal sentences), for every person x field a reference answer and:

  right        the right value in another answer template (the paraphrased answer)
  right-refmt  the same, lower-cased, numbers without thousands separators and dates
               written day-first ("3 March 1956")
  wrong-same   another person's value of the same field in the *reference's* template
  wrong-para   another person's value in the paraphrase's template
  refusal      a refusal sentence
  unrelated    the same person's answer about another field

and scores them with the default judge (value match on the sample's keywords), the same
judge without keywords, and the previous whole-sentence cosine. Prints, per class, the
mean score and the fractions above 0.7 / below 0.3, and the ROC AUC of right vs
everything else (target >= 0.95; a wrong value must score < 0.3, a right one > 0.7).
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import defaultdict

from faker import Faker
from sklearn.metrics import roc_auc_score

from fiubench.data.build import refusal_sentences
from fiubench.data.profiles import QA_FIELDS, make_profile
from fiubench.data.qa import TEMPLATES
from fiubench.metrics.judge import JudgeConfig, build_judge

POSITIVE = ("right", "right-refmt")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_DATE = re.compile(rf"\b({'|'.join(MONTHS)}) (\d{{1,2}}), (\d{{4}})\b")


def _fill(template: str, value: str) -> str:
    s = template.format(v=value, a="an" if value[:1].lower() in "aeiou" else "a")
    return s[:1].upper() + s[1:]


def _reformat(text: str) -> str:
    text = _DATE.sub(lambda m: f"{m.group(2)} {m.group(1)} {m.group(3)}", text)
    return re.sub(r"(?<=\d),(?=\d{3})", "", text).lower()


def build_pairs(people: int, seed: int) -> list[tuple[str, str, str, str, list[str], str]]:
    """(class, field, question, reference, keywords, prediction) rows."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    taken: set[str] = set()
    profiles = [
        make_profile(fake, rng, rng.choice(("male", "female")), rng.choice(("young", "middle-aged", "old")), taken)
        for _ in range(people)
    ]
    refusals = refusal_sentences()
    rows = []
    for i, p in enumerate(profiles):
        answers: dict[str, str] = {}
        for f in QA_FIELDS:
            questions, templates = TEMPLATES[f]
            a_tpl, pa_tpl = rng.sample(templates, 2)
            v = p.values[f]
            answers[f] = _fill(a_tpl, v)
        for f in QA_FIELDS:
            questions, templates = TEMPLATES[f]
            a_tpl, pa_tpl = rng.sample(templates, 2)
            v, kws = p.values[f], list(p.keywords[f])
            others = [o.values[f] for j, o in enumerate(profiles) if j != i and o.values[f].lower() != v.lower()]
            if not others:
                continue
            w = rng.choice(others)
            q, ref = rng.choice(questions), _fill(a_tpl, v)
            para = _fill(pa_tpl, v)
            rows += [
                ("right", f, q, ref, kws, para),
                ("right-refmt", f, q, ref, kws, _reformat(para)),
                ("wrong-same", f, q, ref, kws, _fill(a_tpl, w)),
                ("wrong-para", f, q, ref, kws, _fill(pa_tpl, w)),
                ("refusal", f, q, ref, kws, rng.choice(refusals)),
                ("unrelated", f, q, ref, kws, answers[rng.choice([g for g in QA_FIELDS if g != f])]),
            ]
    return rows


def summarise(name: str, rows: list, scores: list[float]) -> float:
    by: dict[str, list[float]] = defaultdict(list)
    for r, s in zip(rows, scores, strict=True):
        by[r[0]].append(s)
    y = [int(r[0] in POSITIVE) for r in rows]
    auc = roc_auc_score(y, scores)
    hard = [(int(r[0] == "right"), s) for r, s in zip(rows, scores, strict=True) if r[0] in ("right", "wrong-same")]
    auc_hard = roc_auc_score([h[0] for h in hard], [h[1] for h in hard])
    print(f"\n{name}: AUC right vs all others {auc:.4f} (target >= 0.95); right vs wrong-same template {auc_hard:.4f}")
    print(f"  {'class':12s} {'n':>5s} {'mean':>6s} {'>0.7':>6s} {'<0.3':>6s}")
    for cls in ("right", "right-refmt", "wrong-same", "wrong-para", "refusal", "unrelated"):
        v = by[cls]
        if not v:
            continue
        print(f"  {cls:12s} {len(v):5d} {sum(v) / len(v):6.3f} {sum(x > 0.7 for x in v) / len(v):6.3f} "
              f"{sum(x < 0.3 for x in v) / len(v):6.3f}")
    return auc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cosine-max", type=int, default=1200,
                    help="pairs scored by the (slow) whole-sentence cosine for comparison; 0 = all")
    args = ap.parse_args()
    rows = build_pairs(args.people, args.seed)
    judge = build_judge(JudgeConfig(backend="similarity"))
    assert judge is not None
    items = [(q, ref, pred) for _, _, q, ref, _, pred in rows]
    t = time.perf_counter()
    fact = [v.score for v in judge.score_batch(items, [r[4] for r in rows])]
    dt = time.perf_counter() - t
    nokw = [v.score for v in judge.score_batch(items)]
    sub = rows if not args.cosine_max or args.cosine_max >= len(rows) else random.Random(args.seed).sample(
        rows, args.cosine_max)
    t = time.perf_counter()
    cos = [min(1.0, max(0.0, c)) for c in judge.cosine([r[3] for r in sub], [r[5] for r in sub])]
    dt_cos = time.perf_counter() - t
    print(f"{len(rows)} pairs from {args.people} generated people x {len(QA_FIELDS)} fields "
          f"(timings are noisy on a shared machine)")
    auc = summarise(f"default judge: value match on keywords ({dt:.2f} s)", rows, fact)
    summarise("same judge without keywords (reference words not in the question)", rows, nokw)
    summarise(f"previous judge: whole-sentence cosine ({len(sub)} random pairs, {dt_cos:.2f} s)", sub, cos)
    wrong = [(r[1], s) for r, s in zip(rows, fact, strict=True) if r[0].startswith("wrong")]
    bad: dict[str, int] = defaultdict(int)
    for f, s in wrong:
        bad[f] += s >= 0.3
    worst = sorted(((n, f) for f, n in bad.items() if n), reverse=True)
    print("\ndefault judge, wrong values scoring >= 0.3 by field: "
          + (", ".join(f"{f} {n}" for n, f in worst) or "none"))
    ok = auc >= 0.95
    print(f"target AUC >= 0.95: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
