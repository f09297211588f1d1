"""Results store (SQLite) and the report: tables, curves, HTML/Markdown/CSV/LaTeX."""

from fiubench.report.build import Report, write_report
from fiubench.report.matched import MatchedPoint, fq_at_utility, matched_utility
from fiubench.report.store import ResultRow, ResultsStore, rows_to_csv

__all__ = [
    "MatchedPoint",
    "Report",
    "ResultRow",
    "ResultsStore",
    "fq_at_utility",
    "matched_utility",
    "rows_to_csv",
    "write_report",
]
