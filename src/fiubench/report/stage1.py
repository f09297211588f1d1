"""The report's stage-1 section: did stage 1 teach what forget quality grades?

Per forget split, two tables:

* "Informative terms": each forget-quality term (and each attack) with the fine-tuned -
  retain comparison it is judged on (person-level interval, k, permutation p) and its
  verdict (``fiubench.metrics.informative``);
* "Forget quality, informative terms": every final model's FQ as defined, FQ with the
  uninformative terms' weight shared out, and the fraction of forget identities stage 1
  learnt (``fiubench.metrics.gate``, stored by the pipeline as ``gate.*`` on the fine-tuned
  model), so that the fraction stands next to every forget-quality figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fiubench.metrics.aggregate import AggregateConfig
from fiubench.metrics.informative import TERMS, TermCheck, informative_forget_quality, term_checks
from fiubench.report.entries import Entry, parent
from fiubench.report.store import ComparisonRow
from fiubench.report.table_base import Column, Table, finals, ordered
from fiubench.report.uncertainty import seedless

TERM_NAMES = {"ks": "KS (distance D)", "em": "EM", "mia": "MIA (FQ term)", "ape": "APE"}
GATE_METRICS = ("gate.fraction_learnt", "gate.n_identities", "gate.passed", "gate.overridden")


def _ft_name(e: Entry) -> str:
    v = seedless(e.variant)
    return f"finetuned/{v}" if v else "finetuned"


def checks_by_model(comparisons: Sequence[ComparisonRow], split: str) -> dict[str, dict[str, TermCheck]]:
    """fine-tuned model name -> term -> verdict, from its "vs retain" comparisons."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    alpha: dict[str, float] = {}
    for r in comparisons:
        if r.forget_split != split or not r.model_a.startswith("finetuned") or r.family not in (None, "vs retain"):
            continue
        rows.setdefault(r.model_a, {})[r.metric] = {"estimate": r.estimate, "low": r.low, "high": r.high,
                                                    "p_differs": r.p_differs, "k": r.k}
        alpha[r.model_a] = 1.0 - r.level
    return {m: term_checks(d, alpha[m]) for m, d in rows.items()}


def _verdict(v: bool | None) -> str:
    return {True: "informative", False: "UNINFORMATIVE", None: "unknown (no comparison)"}[v]


def _interval(c: TermCheck) -> str:
    if c.estimate is None:
        return "—"
    iv = "" if c.low is None or c.high is None else f" [{c.low:+.3f}, {c.high:+.3f}]"
    return f"{c.estimate:+.3f}{iv}"


def terms_table(entries: Sequence[Entry], comparisons: Sequence[ComparisonRow], split: str,
                agg: AggregateConfig) -> Table | None:
    checks = checks_by_model(comparisons, split)
    fts = [e for e in finals(entries) if e.role == "finetuned" and e.forget_split == split]
    if not checks and not fts:
        return None
    cols = [Column("weight in FQ", decimals=2, scale=1.0), Column("fine-tuned - retain [interval]"),
            Column("k"), Column("p (permutation)", scale=1.0, decimals=4), Column("verdict"), Column("rule")]
    t = Table(f"informative_{split}", f"Informative forget-quality terms, {split} (fine-tuned vs retain model)",
              cols, row_header="term")
    for ft in fts or [None]:
        name = _ft_name(ft) if ft is not None else next(iter(checks))
        suffix = f" [{seedless(ft.variant)}]" if ft is not None and seedless(ft.variant) else ""
        for term, c in (checks.get(name) or term_checks({}, 0.05)).items():
            t.rows.append((TERM_NAMES[term] + suffix, [agg.fq_weights.get(term), _interval(c), c.k or "—",
                                                       c.p_differs, _verdict(c.informative), c.rule]))
        for a, v in _attacks(ft).items():
            t.rows.append((f"attack {a}{suffix}", [None, "—", "—", None, _verdict(v),
                                                    "attacks summary: fine-tuned - retain interval"]))
    t.notes.append(
        "A term is informative when the fine-tuned model (which learnt the forget people) is measurably "
        "worse on it than the retain model (which never saw them), person-level interval excluding 0; KS "
        "is judged on its person-level permutation test, since the retain model's own KS p is 1 by "
        "construction. An uninformative term cannot tell a model that forgot from one that never knew."
    )
    return t


def _attacks(ft: Entry | None) -> dict[str, bool | None]:
    if ft is None:
        return {}
    out = {}
    for m, v in ft.metrics.items():
        if m.startswith("attack.") and m.endswith(".informative"):
            out[m[len("attack."):-len(".informative")]] = None if v is None else bool(v)
    return out


def gate_text(ft: Entry | None) -> str:
    """"8 of 10 (80 %)" / "8 of 10 (80 %), BELOW THE FLOOR (overridden)" / "not checked"."""
    if ft is None or ft.get("gate.fraction_learnt") is None:
        return "not checked"
    frac, n = ft.get("gate.fraction_learnt") or 0.0, int(ft.get("gate.n_identities") or 0)
    text = f"{round(frac * n)} of {n} ({frac:.0%})"
    if not ft.get("gate.passed"):
        text += ", BELOW THE FLOOR (gate.override)"
    return text


def fq_table(entries: Sequence[Entry], comparisons: Sequence[ComparisonRow], split: str,
             agg: AggregateConfig, skip: Sequence[str] = (), methods: Sequence[str] | None = None) -> Table:
    checks = checks_by_model(comparisons, split)
    cols = [Column("FQ (as defined)", ("forget_quality",), higher_is_better=True),
            Column("FQ (informative terms; uninformative weight shared out)", higher_is_better=True),
            Column("uninformative terms"), Column("stage 1 learnt (forget identities)"),
            Column("exposure, bits (chance)")]
    t = Table(f"fq_informative_{split}", f"Forget quality and what stage 1 taught, {split}", cols)
    rows = [e for e in ordered(finals(entries), methods) if e.forget_split == split and e.role != "base"]
    for e in rows:
        ft = e if e.role == "finetuned" else parent(e, entries, "finetuned")
        c = checks.get(_ft_name(ft)) if ft is not None else None
        flags = {term: (c[term].informative if c else None) for term in TERMS}
        shared = informative_forget_quality(e.metrics, agg, flags, skip) if c else None
        bad = ", ".join(TERM_NAMES[k] for k, v in flags.items() if v is False) or ("—" if c else "unknown")
        t.rows.append((e.label, [e.get("forget_quality"), shared, bad, gate_text(ft), _exposure(e)]))
    t.notes.append("FQ (informative terms): the weights of the terms marked UNINFORMATIVE above set to 0 and the "
                   "others renormalised to sum to 1; equal to FQ when every term is informative. Exposure: "
                   "log2 |C| - log2 rank of the true value among its field's candidate values (metrics.exposure); "
                   "a model that forgot ranks it like the retain model, near the chance level in brackets.")
    return t


def _exposure(e: Entry) -> str:
    x, chance = e.get("forget.exposure"), e.get("forget.exposure_chance")
    return "—" if x is None else f"{x:.2f}" + ("" if chance is None else f" ({chance:.2f})")


def gate_note(entries: Sequence[Entry], split: str) -> str | None:
    """One line for the main table of ``split``: the fraction stage 1 learnt (a warning if low)."""
    fts = [e for e in finals(entries) if e.role == "finetuned" and e.forget_split == split]
    if not fts:
        return None
    parts = [gate_text(e) + (f" [{seedless(e.variant)}]" if seedless(e.variant) else "") for e in fts]
    warn = any(e.get("gate.fraction_learnt") is not None and not e.get("gate.passed") for e in fts)
    head = "WARNING: stage 1 did not learn enough of the forget identities; " if warn else ""
    return f"{head}Forget identities stage 1 learnt (fine-tuned vs retain model): {'; '.join(parts)}."


def stage1_section(entries: Sequence[Entry], comparisons: Sequence[ComparisonRow], split: str, config: Any,
                   methods: Sequence[str] | None, main: Table | None = None) -> list[Table]:
    """The section's tables for ``split``; the gate line also goes into ``main``'s notes.
    ``config``: the run's RunConfig (its FQ weights and skips), None for the defaults."""
    ecfg = getattr(config, "eval", None)
    agg = getattr(ecfg, "aggregate", None) or AggregateConfig()
    skip = list(getattr(ecfg, "skip", None) or [])
    note = gate_note(entries, split)
    if main is not None and note:
        main.notes.append(note)
    terms = terms_table(entries, comparisons, split, agg)
    if terms is None:
        return []
    return [terms, fq_table(entries, comparisons, split, agg, skip, methods)]
