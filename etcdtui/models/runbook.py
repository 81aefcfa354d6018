"""A runbook as data: checks, a plan of steps, and what each step did."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One read-only check of a preflight or a verification, with its reason in words."""

    name: str
    verdict: Verdict
    reason: str

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL


@dataclass(frozen=True)
class Step:
    """One thing a runbook does, shown to the user exactly before it runs.

    `command` is the exact shell command or API call; `target` the member or node it acts on;
    `kind` tells the runbook how to carry it out; `args` what it needs to do so.
    """

    id: str
    kind: str
    target: str
    command: str
    why: str
    destructive: bool = False
    args: tuple[tuple[str, str], ...] = ()

    def arg(self, name: str) -> str:
        return dict(self.args)[name]


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
