"""The options both front ends offer are declared once: the CLI's flags, the form's values and
DefragOptions' defaults all come from SHARED_OPTIONS."""

from __future__ import annotations

import dataclasses

import pytest

from etcdtui.cli import build_parser
from etcdtui.runbooks.defrag.options import (
    SHARED_OPTIONS,
    DefragOptions,
    OptionKind,
    from_form,
)
from etcdtui.runbooks.defrag.rule import RuleError


def test_every_shared_option_is_a_defrag_flag_with_its_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["defrag", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in SHARED_OPTIONS:
        assert f"{option.flag} {option.metavar}" in text if option.metavar else option.flag in text
        assert " ".join(option.help.split()) in text


def test_the_flags_default_to_the_declared_defaults() -> None:
    args = build_parser().parse_args(["defrag"])
    for option in SHARED_OPTIONS:
        assert getattr(args, option.name) == option.default


def test_defrag_options_take_their_defaults_from_the_declaration() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(DefragOptions)}
    for option in SHARED_OPTIONS:
        assert defaults[option.name] == option.default


def test_the_form_makes_options_and_an_empty_rule_means_every_member() -> None:
    assert from_form({"rule": "", "compact": False, "move_leader": False}) == DefragOptions()
    options = from_form({"rule": " dbSize > 1 ", "compact": True, "move_leader": True})
    assert options.rule is not None and options.compact and options.move_leader
    assert [o.kind for o in SHARED_OPTIONS].count(OptionKind.RULE) == 1


def test_a_bad_rule_in_the_form_is_refused() -> None:
    with pytest.raises(RuleError):
        from_form({"rule": "dbSize >"})
