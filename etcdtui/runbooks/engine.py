"""The one engine every runbook runs on: refuse a blocked plan, run the steps in order, journal
each to the audit log, stop at the first failure or when asked to abort, then verify.

A run ends DONE (every step ran and the verification passed), ABORTED (the user stopped it
between two steps) or FAILED (a step failed, the cluster lock was lost, or the verification
found a problem). A runbook that names its run in its plan (`run_id`) has its steps recorded
under that id, so the id the plan showed is the one the audit log and the report carry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol, runtime_checkable

from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.models.runbook import Check, Plan, RunReport, Step, StepResult, Verdict
from etcdtui.runbooks.audit import AuditLog, AuditLogError, new_run_id
from etcdtui.runbooks.etcd_log import with_cause
from etcdtui.runbooks.lock import RunLock

Output = Callable[[str], None]


class Runbook(Protocol):
    """Preflight and plan are read-only; run_step changes things; verify is read-only."""

    name: str
    cluster: str

    def plan(self) -> Plan: ...

    def run_step(self, step: Step, output: Output) -> StepResult: ...

    def verify(self) -> list[Check]: ...

    def summary(self) -> list[str]: ...

    def cluster_lock(self) -> RunLock | None:
        """The lock the run holds from its first step to the end of its verification; None for
        a run that only reads the cluster (a snapshot save), which takes none."""
        ...


@runtime_checkable
class NamedRun(Protocol):
    """A runbook whose plan shows its run's id: the engine records the run under it."""

    run_id: str


@runtime_checkable
class NotedRun(Protocol):
    """A runbook whose step results carry a note in the audit log (a save's sha256)."""

    def result_note(self, result: StepResult) -> str: ...


class Outcome(StrEnum):
    """How a run ended, as the report's last line and the screen's status say it."""

    DONE = "DONE"
    ABORTED = "ABORTED"
    FAILED = "FAILED"


# How report.stopped begins when the user aborted: `outcome` knows an abort by it.
ABORTED_BY_USER = "aborted by the user"


def outcome(report: RunReport) -> Outcome:
    """DONE, ABORTED (stopped by the user between steps, whatever the verification found) or
    FAILED."""
    if report.stopped.startswith(ABORTED_BY_USER) and all(r.ok for r in report.results):
        return Outcome.ABORTED
    return Outcome.DONE if report.ok else Outcome.FAILED


def run_id_for(runbook: object) -> str:
    """The id the runbook's plan showed, else a new one."""
    named = runbook.run_id if isinstance(runbook, NamedRun) else ""
    return named or new_run_id()


@dataclass(frozen=True)
class Event:
    """What the engine tells a screen or the CLI while it runs."""

    kind: str  # "step", "output", "result", "verify", "stopped", "aborted", "done"
    index: int = 0
    step: Step | None = None
    text: str = ""
    result: StepResult | None = None


class PlanRefused(UsageError):
    """The preflight failed: nothing was run."""


def run_step_safely(runbook: Runbook, step: Step, output: Output) -> StepResult:
    """A step that raises becomes a failed result with the error as its output."""
    started = time.perf_counter()
    try:
        return runbook.run_step(step, output)
    except EtcdtuiError as exc:
        output(str(exc))
        return StepResult(step, False, 1, str(exc), time.perf_counter() - started)
    except Exception as exc:  # a bug must stop the run as a failed step, not kill it unjournaled
        text = f"unexpected error: {type(exc).__name__}: {exc}"
        output(text)
        return StepResult(step, False, 1, text, time.perf_counter() - started)


def execute(
    runbook: Runbook,
    plan: Plan,
    audit: AuditLog,
    on_event: Callable[[Event], None] | None = None,
    should_abort: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Run `plan` step by step. Never starts a step it could not record in the audit log."""
    if plan.blocked:
        failed = "; ".join(f"{c.name}: {c.reason}" for c in plan.checks if c.failed)
        raise PlanRefused(f"{runbook.name} refused by its preflight: {failed}")
    emit = on_event or (lambda event: None)
    report = RunReport(plan=plan, run_id=run_id_for(runbook))
    # One run at a time per cluster, held to the end of the verification; a second run is
    # refused here (LockHeld) before anything is recorded or changed.
    lock = runbook.cluster_lock()
    taken = lock.acquire() if lock is not None else ""
    try:
        # Recorded before anything runs: if the log cannot be written, nothing happens.
        audit.record(
            cluster=plan.cluster, runbook=plan.runbook, run_id=report.run_id, step=0,
            step_id="plan", target="-", command=f"{len(plan.steps)} steps", exit_code=0,
            duration=0.0, note="; ".join(s.command for s in plan.steps)
            + (f"; lock: {taken}" if taken else ""),
        )  # fmt: skip
        _run_steps(runbook, plan, audit, report, emit, should_abort, lock)
        try:
            report.verification = runbook.verify()
        except Exception as exc:  # verification is read-only; its failure is itself a finding
            report.verification = [Check("verification", Verdict.FAIL, f"could not verify: {exc}")]
    finally:
        if lock is not None:
            lock.release()
    for check in report.verification:
        emit(Event("verify", text=f"{check.verdict.value}: {check.name}: {check.reason}"))
    report.summary = runbook.summary()
    result = outcome(report)
    emit(Event("done", text=result.value if result is not Outcome.FAILED else
               report.stopped or "verification failed"))  # fmt: skip
    return report


# The exit code an abort is recorded with: 130, as a shell reports a command stopped by Ctrl+C.
ABORT_EXIT = 130


def _record_stop(
    audit: AuditLog, plan: Plan, report: RunReport, index: int, step: Step, step_id: str,
    exit_code: int,
) -> None:  # fmt: skip
    """A run that stops before a step is on record too: the step it did not run, and why.
    Nothing more runs either way, so a log that cannot take it is said in the report."""
    try:
        audit.record(
            cluster=plan.cluster, runbook=plan.runbook, run_id=report.run_id, step=index,
            step_id=step_id, target=step.target, command=f"not run: {step.command}",
            exit_code=exit_code, duration=0.0, note=report.stopped,
        )  # fmt: skip
    except AuditLogError as exc:
        report.stopped += f" (not recorded: {exc.message})"


def _run_steps(
    runbook: Runbook,
    plan: Plan,
    audit: AuditLog,
    report: RunReport,
    emit: Callable[[Event], None],
    should_abort: Callable[[], bool],
    lock: RunLock | None,
) -> None:
    """The steps in order, each journaled before and after; stops at the first failure, an
    abort, or a lost cluster lock."""
    for index, step in enumerate(plan.steps, start=1):
        if should_abort():
            report.stopped = f"{ABORTED_BY_USER} before step {index} ({step.id})"
            _record_stop(audit, plan, report, index, step, "abort", ABORT_EXIT)
            emit(Event("aborted", index, step, report.stopped))
            return
        if lock is not None and lock.lost:
            report.stopped = f"stopped before step {index} ({step.id}): {lock.lost}"
            _record_stop(audit, plan, report, index, step, "stop", 1)
            emit(Event("stopped", index, step, report.stopped))
            return
        emit(Event("step", index, step, step.command))
        # Journaled before it runs too: a step cut short by a crash or Ctrl+C is still on record.
        audit.record(
            cluster=plan.cluster, runbook=plan.runbook, run_id=report.run_id, step=index,
            step_id=step.id, target=step.target, command=step.command, exit_code=-1,
            duration=0.0, note="started",
        )  # fmt: skip

        def output(line: str, index: int = index, step: Step = step) -> None:
            emit(Event("output", index, step, line))

        result = run_step_safely(runbook, step, output)
        if not result.ok:
            # etcd's own reason first, when the output holds its log: the raw output follows.
            result = replace(result, output=with_cause(result.output))
        report.results.append(result)
        note = runbook.result_note(result) if isinstance(runbook, NotedRun) else ""
        audit.record(
            cluster=plan.cluster, runbook=plan.runbook, run_id=report.run_id, step=index,
            step_id=step.id, target=step.target, command=step.command,
            exit_code=result.exit_code, duration=result.duration, output=result.output,
            note=note,
        )  # fmt: skip
        emit(Event("result", index, step, result.output, result))
        if not result.ok:
            report.stopped = f"step {index} ({step.id} on {step.target}) failed: {result.output}"
            emit(Event("stopped", index, step, report.stopped))
            return
