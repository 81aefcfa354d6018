"""A runbook as data: checks, a plan of steps, and what each step did."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TypeVar, get_origin, get_type_hints

from etcdtui.models.severity import Verdict as Verdict  # one vocabulary; runbooks import it here


@dataclass(frozen=True)
class Check:
    """One read-only check of a preflight or a verification, with its reason in words."""

    name: str
    verdict: Verdict
    reason: str

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL


class StepArgs:
    """Base of a step kind's typed arguments: each kind declares a frozen dataclass of them.

    A journal keeps them as text (`encode_args`) and reads them back by the dataclass's field
    types (`decode_args`), so the format on disk stays the one older journals have.
    """


@dataclass(frozen=True)
class NoArgs(StepArgs):
    """The arguments of a step kind that needs none."""


A = TypeVar("A", bound=StepArgs)


@dataclass(frozen=True)
class Step:
    """One thing a runbook does, shown to the user exactly before it runs.

    `command` is the exact shell command or API call; `target` the member or node it acts on;
    `kind` (a member of the runbook's StrEnum of kinds) picks its handler; `args` is what the
    handler needs, typed; `read_only` marks a step that only looks or waits, so a run stopped
    before it left nothing untouched there.
    """

    id: str
    kind: str
    target: str
    command: str
    why: str
    destructive: bool = False
    args: StepArgs = field(default_factory=NoArgs)
    read_only: bool = False

    def params(self, kind: type[A]) -> A:
        """`args` as the dataclass its handler expects (TypeError on a mismatch: a bug)."""
        if not isinstance(self.args, kind):
            raise TypeError(f"step {self.id}: {type(self.args).__name__} is not {kind.__name__}")
        return self.args


def encode_args(args: StepArgs) -> dict[str, str]:
    """Typed step arguments as text: numbers as written, tuples of strings comma-joined
    (ValueError for an item that is empty or holds a comma: it would not read back)."""
    encoded: dict[str, str] = {}
    for item in fields(args):  # type: ignore[arg-type]
        value = getattr(args, item.name)
        if isinstance(value, tuple):
            items = [str(v) for v in value]
            if any(not v or "," in v for v in items):
                # The text form joins with commas: such an item would not come back intact.
                raise ValueError(f"{item.name}: an empty item or one with a comma: {items!r}")
            encoded[item.name] = ",".join(items)
        elif isinstance(value, bool):
            encoded[item.name] = "1" if value else ""
        else:
            encoded[item.name] = str(value)
    return encoded


def decode_args(kind: type[A], text: dict[str, str]) -> A:
    """The inverse of `encode_args`, by the field types of `kind` (ValueError if malformed)."""
    hints = get_type_hints(kind)
    values: dict[str, object] = {}
    for item in fields(kind):  # type: ignore[arg-type]
        if item.name not in text:
            continue  # the dataclass default, or a TypeError below naming the missing field
        raw, hint = text[item.name], hints[item.name]
        if hint is int:
            values[item.name] = int(raw)
        elif hint is float:
            values[item.name] = float(raw)
        elif hint is bool:
            values[item.name] = raw not in ("", "0", "false", "False")
        elif get_origin(hint) is tuple:
            values[item.name] = tuple(v for v in raw.split(",") if v)
        else:
            values[item.name] = raw
    try:
        return kind(**values)
    except TypeError as exc:
        raise ValueError(f"{kind.__name__}: {exc}") from exc


@dataclass(frozen=True)
class Plan:
    """The ordered steps of one runbook run, with the preflight that allowed it."""

    runbook: str
    cluster: str
    steps: tuple[Step, ...]
    checks: tuple[Check, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def destructive(self) -> bool:
        return any(step.destructive for step in self.steps)

    @property
    def blocked(self) -> bool:
        return any(check.failed for check in self.checks)


@dataclass(frozen=True)
class StepResult:
    """What one executed step did."""

    step: Step
    ok: bool
    exit_code: int
    output: str
    duration: float


@dataclass
class RunReport:
    """The whole run: every step result, where it stopped and why, and the verification."""

    plan: Plan
    run_id: str
    results: list[StepResult] = field(default_factory=list)
    verification: list[Check] = field(default_factory=list)
    stopped: str = ""  # why it stopped before the end ("" when it ran every step)
    summary: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.stopped
            and all(r.ok for r in self.results)
            and not any(c.failed for c in self.verification)
        )
