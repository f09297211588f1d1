import argparse

import pytest

from fiubench.errors import ConfigError, FiubenchError
from fiubench.methods import METHODS, build_method
from fiubench.methods.registry import parse_option_value


def test_all_methods_registered_with_defaults_and_docstrings():
    assert set(METHODS.names()) >= {"ga", "gd", "kl", "po", "npo", "simnpo", "idkdpo", "rmu"}
    for name, cls in METHODS.items():
        if not cls.__module__.startswith("fiubench.methods"):
            continue  # methods registered by other tests
        assert "L =" in (__import__(cls.__module__, fromlist=["x"]).__doc__ or ""), name
        build_method(name)  # every option has a default


def test_unknown_method_did_you_mean():
    with pytest.raises(FiubenchError, match='Did you mean "simnpo"'):
        build_method("simnpoo")


def test_unknown_option_did_you_mean():
    with pytest.raises(ConfigError, match='Did you mean "beta"'):
        build_method("npo", {"betta": 0.2})


def test_parse_option_value():
    assert parse_option_value("0.5") == 0.5 and parse_option_value("3") == 3
    assert parse_option_value("none") is None and parse_option_value("true") is True
    assert parse_option_value("answer") == "answer"


def test_cli_methods_lists_every_method_with_options(capsys):
    import json

    from fiubench.cli.main import main

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in ("ga", "gd", "kl", "po", "npo", "simnpo", "idkdpo", "rmu"):
        assert f"\n{name} " in "\n" + out
    assert "--method-opt beta=0.1" in out and "early stop: loss < -20.0" in out
    assert main(["methods", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["kl"]["needs_reference"] and rows["po"]["needs_refusal"]
    assert main(["methods", "npoo"]) == 2
    assert 'Did you mean "npo"' in capsys.readouterr().err


def test_at_least_15_methods_each_with_a_description_and_a_paper():
    from fiubench.methods.plugins import source_of

    builtin = [(n, c) for n, c in METHODS.items() if source_of(n) == "built-in"
               and c.__module__.startswith("fiubench.methods")]
    assert len(builtin) >= 15
    for name, cls in builtin:
        assert cls.description and cls.paper and re_year(cls.paper), name


def re_year(text: str) -> bool:
    import re

    return re.search(r"\b20\d\d\b", text) is not None


def test_default_run_reports_the_newer_methods():
    from fiubench.presets import load_run_config

    assert {"undial", "wga", "scrub", "mmunlearner"} <= set(load_run_config("tiny", None).methods)


def test_docs_methods_table_is_generated_from_the_code():
    from pathlib import Path

    from fiubench.methods.card import TABLE_END, TABLE_START, markdown_table
    from fiubench.methods.plugins import source_of

    doc = (Path(__file__).parents[2] / "docs" / "methods.md").read_text()
    table = doc[doc.index(TABLE_START) + len(TABLE_START):doc.index(TABLE_END)].strip()
    builtin = sorted((n, c) for n, c in METHODS.items() if source_of(n) == "built-in"
                     and c.__module__.startswith("fiubench.methods"))
    assert table == markdown_table(builtin), "regenerate the table: fiubench.methods.card.markdown_table"


def test_cli_card_and_json_carry_sources_and_deviations(capsys):
    import json

    from fiubench.cli.methods import add_arguments, run

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert run(p.parse_args(["rmu"])) == 0
    out = capsys.readouterr().out
    assert "alpha=1200.0" in out and "--alpha 1200,1200" in out and "deviations from the reference" in out
    assert run(p.parse_args(["--json"])) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ga"]["deviations"] == [] and rows["ga"]["faithful"] is True
    assert rows["kl"]["deviations"] and rows["kl"]["faithful"] is False
    assert all(o["default_source"] for o in rows["simnpo"]["options"])
    assert rows["mmunlearner"]["updates"].startswith("vision tower")
    assert run(p.parse_args([])) == 0
    listing = capsys.readouterr().out
    assert "defaults: faithful" in listing and "defaults: 1 deviation" in listing
