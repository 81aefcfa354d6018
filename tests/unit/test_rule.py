"""The defrag runbook's member-selection rule: parsing, typing, evaluation and refusals."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from etcdtui.errors import UsageError
from etcdtui.runbooks.defrag import rule as rule_module
from etcdtui.runbooks.defrag.rule import (
    MAX_DEPTH,
    MAX_LENGTH,
    VARIABLES,
    Rule,
    RuleError,
    member_values,
    parse_rule,
)

MIB = 1024 * 1024
GIB = 1024 * MIB
ZEROS = dict.fromkeys(VARIABLES, 0.0)


def holds(text: str, **values: float) -> bool:
    return parse_rule(text).evaluate({**ZEROS, **values})


def refusal(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3 == 7", True),
        ("(1 + 2) * 3 == 9", True),
        ("10 - 4 - 3 == 3", True),  # right-associative would give 9
        ("100 / 10 / 5 == 2", True),  # right-associative would give 50
        ("2 * 3 % 4 == 2", True),  # 2 * (3 % 4) would be 6
        ("7 % 4 * 2 == 6", True),
        ("-2 * 3 == -6", True),
        ("2 - -2 == 4", True),
        ("- -3 == 3", True),
        ("-(2 + 3) == -5", True),
        ("1 + 2 < 4", True),
        ("7 / 2 == 3.5", True),  # floating point, unlike Go's integer division
        ("-7 % 3 == -1", True),  # fmod: the dividend's sign, as in Go
        ("2e3 == 2000", True),
        (".5 + 0.5 == 1", True),
        ("1.5E-3 * 1000 == 1.5", True),
        ("5. == 5", True),
        ("1 + 2 * 3 == 9", False),
        ("10 - 4 - 3 == 9", False),
    ],
)
def test_arithmetic_has_the_usual_precedence_and_left_associativity(
    text: str, expected: bool
) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 > 2 && 1 > 2 || 1 < 2", True),  # && binds tighter than ||
        ("1 < 2 || 1 > 2 && 1 > 2", True),  # left to right without precedence would give false
        ("!(1 < 2) || 1 < 2", True),
        ("!(1 < 2) && 1 < 2", False),
        ("!!(1 < 2)", True),
        ("1 < 2 == 2 < 3", True),  # comparisons bind tighter than ==
        ("1 < 2 == 3 > 4", False),
        ("1 < 2 != 3 > 4", True),
        ("1 == 1 == 2 > 1", True),  # (1 == 1) == (2 > 1)
        ("1 == 1 != 1 > 2", True),  # (1 == 1) != (1 > 2)
    ],
)
def test_conditions_have_the_usual_precedence(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(("size", "expected"), [(0, True), (3, False), (6, True)])
def test_not_binds_tighter_than_or(size: float, expected: bool) -> None:
    assert holds("!(dbSize > 1) || dbSize > 5", dbSize=size) is expected


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ((int(1.8 * GIB), int(1.7 * GIB), 2 * GIB), True),  # 90% of the quota
        ((500 * MIB, 250 * MIB, 2 * GIB), True),  # 250 MiB free
        ((500 * MIB, 400 * MIB, 2 * GIB), False),
        ((500 * MIB, 400 * MIB, None), False),  # unknown quota: usage counts as 0
    ],
)
def test_etcd_defrag_quota_or_free_space_example(
    sizes: tuple[int, int, int | None], expected: bool
) -> None:
    rule = parse_rule("dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024")
    assert rule.evaluate(member_values(*sizes)) is expected


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ((int(1.2 * GIB), GIB, 2 * GIB), True),
        ((50 * MIB, 10 * MIB, 64 * MIB), False),  # 78% used but below 100 MiB
        ((int(1.2 * GIB), GIB, 8 * GIB), False),
        ((int(1.2 * GIB), GIB, None), False),
    ],
)
def test_etcd_defrag_size_and_usage_example(
    sizes: tuple[int, int, int | None], expected: bool
) -> None:
    rule = parse_rule("dbSize > 100*1024*1024 && dbQuotaUsage > 0.5")
    assert rule.evaluate(member_values(*sizes)) is expected


def test_etcd_defrag_readme_rule_selects_by_quota_share_or_free_space() -> None:
    rule = parse_rule("dbSize > dbQuota*80/100 || dbSize - dbSizeInUse > 200*1024*1024")
    assert rule.evaluate(member_values(1700 * MIB, 1690 * MIB, 2 * GIB))
    assert rule.evaluate(member_values(300 * MIB, 50 * MIB, 2 * GIB))
    assert not rule.evaluate(member_values(300 * MIB, 250 * MIB, 2 * GIB))


def test_member_values_derive_free_space_and_quota_usage() -> None:
    assert member_values(800, 200, 1000) == {
        "dbSize": 800.0,
        "dbSizeInUse": 200.0,
        "dbSizeFree": 600.0,
        "dbQuota": 1000.0,
        "dbQuotaUsage": 0.8,
    }
    for unknown in (None, 0):
        values = member_values(800, 200, unknown)
        assert values["dbQuota"] == 0.0
        assert values["dbQuotaUsage"] == 0.0


def test_variables_lists_what_the_rule_reads() -> None:
    rule = parse_rule("dbQuotaUsage > 0.8 || !(dbSizeFree > -dbSize * 2)")
    assert rule.variables() == frozenset({"dbQuotaUsage", "dbSizeFree", "dbSize"})
    assert parse_rule("1 < 2").variables() == frozenset()


def test_division_by_zero_fails_at_evaluation_naming_the_expression() -> None:
    rule = parse_rule("dbQuotaUsage > 0.9 || dbSize / dbQuota > 0.8")  # parses fine
    with pytest.raises(RuleError) as caught:
        rule.evaluate(member_values(100, 40, None))
    err = caught.value
    assert err.position == 29
    assert err.message == (
        "rule failed at column 30: division by zero in 'dbSize / dbQuota' ('dbQuota' is 0)"
    )
    assert err.pointer().splitlines()[1] == " " * 29 + "^"
    assert rule.evaluate(member_values(100, 40, 110))  # the same rule with a known quota


def test_modulo_by_zero_fails_at_evaluation() -> None:
    with pytest.raises(RuleError, match=r"column 8: modulo by zero in 'dbSize % \(dbQuota\)'"):
        holds("dbSize % (dbQuota) == 0", dbSize=5)


def test_and_or_short_circuit_so_a_zero_quota_can_be_guarded() -> None:
    values = member_values(100, 40, None)
    assert not parse_rule("dbQuota > 0 && dbSize / dbQuota > 0.8").evaluate(values)
    assert parse_rule("dbQuota == 0 || dbSize / dbQuota > 0.8").evaluate(values)


def test_a_missing_value_is_a_rule_error() -> None:
    with pytest.raises(RuleError, match="column 10: no value for dbQuota"):
        parse_rule("dbSize > dbQuota").evaluate({"dbSize": 1.0})


def test_overflow_is_a_rule_error_not_infinity() -> None:
    with pytest.raises(RuleError, match="too large to compute"):
        holds("1e300 * 1e300 > 1")


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "the rule is empty"),
        ("  \t ", 1, "the rule is empty"),
        ("dbSize > dbSze", 10, "unknown variable 'dbSze' (did you mean dbSize?)"),
        ("dbquotausage > 0.8", 1, "unknown variable 'dbquotausage' (did you mean dbQuotaUsage?)"),
        ("size > 1", 1, "unknown variable 'size'"),
        ("dbSize = 1", 8, "unexpected '=' (did you mean '=='?)"),
        ("dbSize > 1 & dbSize < 9", 12, "unexpected '&' (did you mean '&&'?)"),
        ("dbSize > 1 | dbSize < 9", 12, "unexpected '|' (did you mean '||'?)"),
        ("dbSize ≥ 1", 8, "unexpected character '≥'"),
        ("(dbSize > 1", 1, "'(' is never closed"),
        ("((dbSize > 1)", 1, "'(' is never closed"),
        ("dbSize > 1)", 11, "')' has no matching '('"),
        (")", 1, "')' has no matching '('"),
        ("(dbSize > 1 dbSize)", 13, "expected ')' for the '(' at column 1, found 'dbSize'"),
        ("dbSize >", 9, "the rule ends after '>': expected a number, a variable or '('"),
        ("dbSize > 1 &&", 14, "the rule ends after '&&'"),
        ("!", 2, "the rule ends after '!'"),
        ("dbSize > * 2", 10, "after '>', found '*'"),
        ("> 1", 1, "expected a number, a variable or '(', found '>'"),
        ("()", 2, "after '(', found ')'"),
        ("dbSize > 1 2", 12, "unexpected '2' after a complete expression"),
        ("dbSize dbQuota", 8, "unexpected 'dbQuota' after a complete expression"),
        ("dbSize > 1 ! 2", 12, "unexpected '!' after a complete expression"),
        (
            "dbSize && 1",
            1,
            "'&&' needs a condition (true/false) on each side, but 'dbSize' is a number",
        ),
        ("dbSize > 1 || 1", 15, "'||' needs a condition (true/false) on each side, but '1' is"),
        ("!dbSize", 2, "'!' needs a condition (true/false), but 'dbSize' is a number"),
        ("-(dbSize > 1) < 0", 2, "'-' needs a number, but '(dbSize > 1)' is a condition"),
        ("dbSize + 1", 1, "the rule must be true or false, but 'dbSize + 1' is a number"),
        ("(1)", 1, "the rule must be true or false, but '(1)' is a number"),
        ("1 < 2 < 3", 1, "'<' needs a number on each side, but '1 < 2' is a condition"),
        ("(dbSize > 1) * 2 > 0", 1, "'*' needs a number on each side"),
        ("dbSize == (1 < 2)", 11, "'==' compares two numbers or two conditions"),
        ("1 == 1 != 1 == 2", 11, "'!=' compares two numbers or two conditions"),  # left-assoc
        ("200MB > 1", 1, "malformed number '200MB'"),
        ("dbSize > 1e", 10, "malformed number '1e'"),
        ("1.2.3 > 1", 1, "malformed number '1.2.3'"),
        ("1_000 > 1", 1, "malformed number '1_000'"),
        ("dbSize > 0x10", 10, "malformed number '0x10'"),
        ("1e999 > 1", 1, "number too large"),
    ],
)
def test_a_bad_rule_is_refused_with_one_line_naming_the_column(
    text: str, column: int, fragment: str
) -> None:
    err = refusal(text)
    assert isinstance(err, UsageError)
    assert err.position == column - 1  # an index; the message counts columns from 1
    assert err.message.startswith(f"bad rule at column {column}: ")
    assert fragment in err.message
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("__import__('os').system('id') > 0", 1, "unknown variable '__import__'"),
        ("open('/etc/passwd') > 0", 1, "unknown variable 'open'"),
        ("lambda: 1", 1, "unknown variable 'lambda'"),
        ("dbSize.__class__ > 0", 7, "unexpected character '.'"),
        ("dbSize[0] > 1", 7, "unexpected character '['"),
        ('"dbSize" > 1', 1, "unexpected character '\"'"),
        ("dbSize > 1; 1", 11, "unexpected character ';'"),
        ("dbSize > 1 # comment", 12, "unexpected character '#'"),
        ("dbSize\x00 > 1", 7, r"unexpected character '\x00'"),
    ],
)
def test_python_syntax_is_refused_before_anything_runs(
    text: str, column: int, fragment: str
) -> None:
    err = refusal(text)
    assert err.message.startswith(f"bad rule at column {column}: ")
    assert fragment in err.message


def test_pointer_puts_a_caret_under_the_column_even_after_tabs_and_newlines() -> None:
    err = refusal("dbSize > dbSze")
    assert err.pointer() == "dbSize > dbSze\n         ^"
    err = refusal("dbSize\t>\n1 2")
    line, caret = err.pointer().split("\n")
    assert line == "dbSize > 1 2"
    assert caret.index("^") == err.position == 11
    assert line[err.position] == "2"


def test_hints_are_short_and_name_the_variables_for_an_unknown_one() -> None:
    err = refusal("dbSze > 1")
    assert err.hint == "variables: dbSize, dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage"
    for text in ("", "dbSize = 1", "dbSize && 1", "(dbSize > 1", "dbSize + 1"):
        hint = refusal(text).hint
        assert hint
        assert "\n" not in hint
        assert len(hint) < 100


def test_a_rule_longer_than_the_limit_is_refused() -> None:
    at_limit = "dbSize > 1".ljust(MAX_LENGTH)
    assert parse_rule(at_limit).evaluate({"dbSize": 2})
    err = refusal(at_limit + " ")
    assert err.position == MAX_LENGTH
    assert f"longer than {MAX_LENGTH} characters" in err.message


@pytest.mark.parametrize(
    "text",
    [
        "(" * 150 + "dbSize > 1" + ")" * 150,
        "!" * 150 + "(dbSize > 1)",
        "-" * 150 + "dbSize > 1",
        "dbSize" + " + 1" * 150 + " > 0",
        "1>0" + "&&1>0" * 120,
        "(" * 90 + "dbSize" + " + 1" * 120 + ")" * 90 + " > 0",
    ],
)
def test_deep_nesting_is_refused_before_the_stack_is_at_risk(text: str) -> None:
    err = refusal(text)
    assert f"nests more than {MAX_DEPTH} levels deep" in err.message
    assert 0 < err.position < len(text)


def test_nesting_just_under_the_limit_still_works() -> None:
    assert holds("(" * 90 + "dbSize > 1" + ")" * 90, dbSize=2)
    assert holds("dbSize" + " + 1" * 95 + " == 96", dbSize=1)
    assert holds("!" * 90 + "(dbSize > 1)", dbSize=2)


def test_rule_is_frozen_compares_by_text_and_refuses_bad_text_on_construction() -> None:
    rule = Rule("dbSize > 1")
    assert rule == parse_rule("dbSize > 1")
    assert hash(rule) == hash(parse_rule("dbSize > 1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.text = "dbSize > 2"  # type: ignore[misc]
    with pytest.raises(RuleError):
        Rule("dbSize >")


def test_the_module_never_hands_text_to_the_python_interpreter() -> None:
    source = Path(rule_module.__file__).read_text()
    for needle in ("eval(", "exec(", "compile(", "__import__", "literal_eval", "getattr("):
        assert needle not in source
    forbidden = {"eval", "exec", "compile", "__import__", "literal_eval", "getattr", "globals"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            assert node.id not in forbidden
        if isinstance(node, ast.Attribute):
            assert node.attr not in forbidden
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] + [getattr(node, "module", "") or ""]
            assert not {"ast", "builtins", "importlib", "subprocess", "os"} & set(modules)


# The property tests (random text, random well-typed trees against a reference evaluation)
# are Hypothesis tests in tests/unit/test_properties.py.
