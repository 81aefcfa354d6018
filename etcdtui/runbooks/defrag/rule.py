"""The defrag runbook's member-selection rule, in etcd-defrag's expression language.

A rule such as ``dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024`` is tokenized and parsed by
hand (precedence climbing) into a small tree of frozen dataclasses, type-checked as it is built
(numbers vs conditions), and only then evaluated against one member's sizes. No text ever
reaches Python's own interpreter, so a hostile rule can only be refused.

Where the semantics differ from etcd-defrag's Go, or Go leaves a choice:
- arithmetic is floating point: ``7 / 2`` is 3.5 (Go integers would give 3);
- ``%`` is ``math.fmod``: the result has the dividend's sign, as in Go;
- ``x / 0`` and ``x % 0`` are evaluation errors naming the expression, not infinity: a rule
  dividing by a member's zero quota stops the plan rather than silently selecting or skipping
  the member. ``&&`` and ``||`` short-circuit, so ``dbQuota > 0 && dbSize / dbQuota > 0.8``
  is a safe guard;
- ``==`` and ``!=`` compare two numbers or two conditions; ``< <= > >=`` take numbers.
Columns in messages count from 1, as editors and compilers count them; ``RuleError.position``
is the 0-based index into the text of the character at fault (column - 1).
"""

from __future__ import annotations

import difflib
import math
import operator
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from etcdtui.errors import UsageError

VARIABLES = ("dbSize", "dbSizeInUse", "dbSizeFree", "dbQuota", "dbQuotaUsage")
MAX_LENGTH = 1000
MAX_DEPTH = 100  # keeps parsing and evaluation far below Python's recursion limit

_VARIABLES_HINT = "variables: " + ", ".join(VARIABLES)
_OPERATORS_HINT = "operators: + - * / % < <= > >= == != && || ! ( )"
_TYPES_HINT = "+ - * / % make numbers; comparisons make conditions; && || ! join conditions"
_DIGITS = frozenset("0123456789")  # sets: the empty string read past the end is in none
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME = _NAME_START | _DIGITS
_NUMBER = _NAME | {"."}  # read whole, so '200MB' or '1.2.3' is one malformed number
_TWO_CHAR_OPS = ("<=", ">=", "==", "!=", "&&", "||")
_ONE_CHAR_OPS = "+-*/%<>!()"
_DID_YOU_MEAN = {"=": "==", "&": "&&", "|": "||"}
_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}
_PRECEDENCE |= {"+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_UNARY_PRECEDENCE = 7  # tighter than every binary operator
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": math.fmod
}  # fmt: skip
_COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


class RuleError(UsageError):
    """A rule that cannot be parsed or evaluated; ``position`` is the 0-based index at fault
    (the message's column, which counts from 1, minus one)."""

    def __init__(self, message: str, hint: str = "", position: int = 0, text: str = "") -> None:
        super().__init__(message, hint)
        self.position = position
        self.text = text

    def pointer(self) -> str:
        """Two lines for the TUI: the rule, then a caret under the column at fault."""
        line = "".join(ch if ch.isprintable() else " " for ch in self.text)
        return f"{line}\n{' ' * self.position}^"


@dataclass(frozen=True)
class Number:
    """A numeric literal; ``start`` and ``end`` slice the rule's text, as in every node."""

    value: float
    start: int
    end: int


@dataclass(frozen=True)
class Variable:
    """One of VARIABLES, read from the member's values at evaluation."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Operation:
    """``-x`` or ``!x`` (one operand) or ``x op y`` (two); ``pos`` is the operator's column."""

    op: str
    operands: tuple[Expr, ...]
    start: int
    end: int
    pos: int
    depth: int  # of the tree below, which MAX_DEPTH bounds


Expr = Number | Variable | Operation


def _is_number(node: Expr) -> bool:
    """The static type of a node: a number, or else a condition (true/false)."""
    return node.op in _ARITHMETIC if isinstance(node, Operation) else True


def _snippet(text: str, node: Expr) -> str:
    words = " ".join(text[node.start : node.end].split())
    return words if len(words) <= 40 else words[:37] + "..."


def _error(text: str, pos: int, message: str, hint: str = _OPERATORS_HINT) -> RuleError:
    return RuleError(f"bad rule at column {pos + 1}: {message}", hint, pos, text)


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch, end = text[i], i + 1
        if ch in _NAME_START:
            while text[end : end + 1] in _NAME:
                end += 1
            if text[i:end] not in VARIABLES:
                raise _error(text, i, _unknown_variable(text[i:end]), _VARIABLES_HINT)
            tokens.append(_Token("name", text[i:end], i))
        elif ch in _DIGITS or (ch == "." and text[end : end + 1] in _DIGITS):
            sign = ("+", "-")  # only straight after an exponent's 'e', as in 1.5e-3
            while text[end : end + 1] in _NUMBER or (
                text[end : end + 1] in sign and text[end - 1] in "eE"
            ):
                end += 1
            if not _is_decimal(text[i:end]):
                hint = "numbers look like 42, 0.8, .5 or 2e9, with no units"
                raise _error(text, i, f"malformed number '{text[i:end]}'", hint)
            if not math.isfinite(float(text[i:end])):
                raise _error(text, i, "number too large", "numbers must be below 1e308")
            tokens.append(_Token("number", text[i:end], i))
        elif text[i : i + 2] in _TWO_CHAR_OPS or ch in _ONE_CHAR_OPS:
            end = i + 2 if text[i : i + 2] in _TWO_CHAR_OPS else end
            tokens.append(_Token("op", text[i:end], i))
        elif ch in _DID_YOU_MEAN:
            raise _error(text, i, f"unexpected '{ch}' (did you mean '{_DID_YOU_MEAN[ch]}'?)")
        elif ch not in " \t\r\n":
            raise _error(text, i, f"unexpected character {ch!r}")
        i = end
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _is_decimal(word: str) -> bool:
    """Digits with an optional fraction and exponent: 42, 0.8, .5, 2e9, 1.5E-3."""
    mantissa, e, exponent = word.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    exponent = exponent[1:] if exponent[:1] in ("+", "-") else exponent
    return (whole + fraction).isdigit() and (not e or exponent.isdigit())


def _unknown_variable(name: str) -> str:
    by_lower = {v.lower(): v for v in VARIABLES}
    close = difflib.get_close_matches(name, VARIABLES, n=1, cutoff=0.6)
    suggestion = by_lower.get(name.lower()) or (close[0] if close else "")
    return f"unknown variable '{name}'" + (f" (did you mean {suggestion}?)" if suggestion else "")


class _Parser:
    """Precedence climbing over the tokens; each node is type-checked as it is built."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.nesting = 0

    def take(self) -> _Token:
        self.i += 1
        return self.tokens[self.i - 1]

    def expression(self, min_precedence: int) -> Expr:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.too_deep(self.tokens[self.i].pos)
        left = self.operand()
        while _PRECEDENCE.get(self.tokens[self.i].text, 0) >= min_precedence:
            op = self.take()
            right = self.expression(_PRECEDENCE[op.text] + 1)  # +1: left-associative
            left = self.operation(op, left, right)
        self.nesting -= 1
        return left

    def operand(self) -> Expr:
        token = self.take()
        if token.kind == "number":
            return Number(float(token.text), token.pos, token.pos + len(token.text))
        if token.kind == "name":
            return Variable(token.text, token.pos, token.pos + len(token.text))
        if token.text in ("-", "!"):
            return self.operation(token, self.expression(_UNARY_PRECEDENCE))
        if token.text == "(":
            inner = self.expression(1)
            close = self.take()
            if close.kind == "end":
                raise _error(self.text, token.pos, "'(' is never closed", "add a ')'")
            if close.text != ")":
                message = (
                    f"expected ')' for the '(' at column {token.pos + 1}, found '{close.text}'"
                )
                raise _error(self.text, close.pos, message)
            return replace(inner, start=token.pos, end=close.pos + 1)
        after = f" after '{self.tokens[self.i - 2].text}'" if self.i >= 2 else ""
        if token.kind == "end":
            message = f"the rule ends{after}: expected a number, a variable or '('"
            raise _error(self.text, token.pos, message)
        if token.text == ")" and not after:
            raise _error(self.text, token.pos, "')' has no matching '('")
        message = f"expected a number, a variable or '('{after}, found '{token.text}'"
        raise _error(self.text, token.pos, message)

    def operation(self, token: _Token, *operands: Expr) -> Operation:
        """``token`` applied to ``operands``; refused if an operand has the wrong type."""
        op = token.text
        kinds = ["a number" if _is_number(node) else "a condition" for node in operands]
        if op in ("==", "!=") and kinds[0] != kinds[1]:
            left, right = (_snippet(self.text, node) for node in operands)
            message = f"'{op}' compares two numbers or two conditions, but '{left}' is {kinds[0]}"
            message += f" and '{right}' is {kinds[1]}"
            raise _error(self.text, operands[1].start, message, _TYPES_HINT)
        numbers = op in _ARITHMETIC or op in _COMPARISON
        want = "a number" if numbers else "a condition (true/false)"
        want += " on each side" if len(operands) == 2 else ""
        for node, kind in zip(operands, kinds, strict=True):
            if op not in ("==", "!=") and _is_number(node) != numbers:
                message = f"'{op}' needs {want}, but '{_snippet(self.text, node)}' is {kind}"
                raise _error(self.text, node.start, message, _TYPES_HINT)
        depth = 1 + max(node.depth if isinstance(node, Operation) else 1 for node in operands)
        if depth > MAX_DEPTH:
            raise self.too_deep(token.pos)
        start, end = min(token.pos, operands[0].start), operands[-1].end
        return Operation(op, operands, start, end, token.pos, depth)

    def too_deep(self, pos: int) -> RuleError:
        return _error(self.text, pos, f"the rule nests more than {MAX_DEPTH} levels deep")


def _parse(text: str) -> Expr:
    if len(text) > MAX_LENGTH:
        message = f"the rule is longer than {MAX_LENGTH} characters"
        raise _error(text, MAX_LENGTH, message, "shorten it")
    if not text.strip():
        hint = "e.g. dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024"
        raise _error(text, 0, "the rule is empty", hint)
    parser = _Parser(text)
    tree = parser.expression(1)
    extra = parser.tokens[parser.i]
    if extra.text == ")":
        raise _error(text, extra.pos, "')' has no matching '('")
    if extra.kind != "end":
        message = f"unexpected '{extra.text}' after a complete expression (missing an operator?)"
        raise _error(text, extra.pos, message)
    if _is_number(tree):
        message = f"the rule must be true or false, but '{_snippet(text, tree)}' is a number"
        raise _error(text, tree.start, message, "compare it, e.g. dbSizeFree > 100*1024*1024")
    return tree


class _Evaluation:
    """One evaluation of a type-checked tree against one member's values."""

    def __init__(self, text: str, values: Mapping[str, float]) -> None:
        self.text = text
        self.values = values

    def fail(self, pos: int, message: str, hint: str) -> RuleError:
        return RuleError(f"rule failed at column {pos + 1}: {message}", hint, pos, self.text)

    def number(self, node: Expr) -> float:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Variable):
            if node.name not in self.values:
                raise self.fail(node.start, f"no value for {node.name}", _VARIABLES_HINT)
            value = float(self.values[node.name])
            if not math.isfinite(value):
                raise self.fail(node.start, f"{node.name} is {value}", "values must be finite")
            return value
        if len(node.operands) == 1:
            return -self.number(node.operands[0])
        a, b = (self.number(operand) for operand in node.operands)
        if node.op in ("/", "%") and b == 0:
            what = "division" if node.op == "/" else "modulo"
            divisor = _snippet(self.text, node.operands[1])
            message = f"{what} by zero in '{_snippet(self.text, node)}' ('{divisor}' is 0)"
            raise self.fail(node.pos, message, f"guard it: {divisor} > 0 && ...")
        result = _ARITHMETIC[node.op](a, b)
        if not math.isfinite(result):
            message = f"'{_snippet(self.text, node)}' is too large to compute"
            raise self.fail(node.pos, message, "numbers must stay below 1e308")
        return result

    def condition(self, node: Expr) -> bool:
        if not isinstance(node, Operation):
            raise TypeError(f"not a condition: {node!r}")  # the parser's typing prevents it
        left, right = node.operands[0], node.operands[-1]
        if node.op == "!":
            return not self.condition(left)
        if node.op == "&&":
            return self.condition(left) and self.condition(right)
        if node.op == "||":
            return self.condition(left) or self.condition(right)
        if not _is_number(left):  # == or != between two conditions
            return (self.condition(left) == self.condition(right)) == (node.op == "==")
        return _COMPARISON[node.op](self.number(left), self.number(right))


@dataclass(frozen=True)
class Rule:
    """A parsed, type-checked rule; ``Rule(text)`` raises RuleError for a bad one."""

    text: str
    tree: Expr = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tree", _parse(self.text))

    def evaluate(self, values: Mapping[str, float]) -> bool:
        """Whether the member with these values is selected; RuleError on x/0 or a missing value."""
        return _Evaluation(self.text, values).condition(self.tree)

    def variables(self) -> frozenset[str]:
        """The variables the rule reads."""
        names, stack = set(), [self.tree]
        while stack:
            node = stack.pop()
            names |= {node.name} if isinstance(node, Variable) else set()
            stack += node.operands if isinstance(node, Operation) else ()
        return frozenset(names)


def parse_rule(text: str) -> Rule:
    """Parse and type-check a rule; RuleError (one line, with the column) if it is bad."""
    return Rule(text)


def member_values(db_size: int, db_size_in_use: int, quota: int | None) -> dict[str, float]:
    """The rule's variables for one member; dbQuota and dbQuotaUsage are 0 for an unknown quota."""
    known_quota = quota if quota is not None and quota > 0 else 0
    return {
        "dbSize": float(db_size),
        "dbSizeInUse": float(db_size_in_use),
        "dbSizeFree": float(db_size - db_size_in_use),
        "dbQuota": float(known_quota),
        "dbQuotaUsage": db_size / known_quota if known_quota else 0.0,
    }
