"""The audit log read as steps: one row per step, its "started" record and its result paired.

The engine records every step twice, "started" (exit code -1) before it runs and its result
after, so that a step cut short is still on record. A person reads steps: when each began,
when it ended and how. A started step with no result is "running" while its run may still be
going, and "interrupted" once anything later was recorded for its cluster (one run at a time
per cluster) or it is older than `STALE_AFTER`. The plan record and an abort or a stop before
a step are rows of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from etcdtui.runbooks.audit import AuditEntry

STARTED = "started"
STALE_AFTER = 6 * 3600.0  # seconds: longer than any step runs (a restore's is 15 minutes)
RUNNING, INTERRUPTED = "running", "interrupted"


@dataclass
class StepRow:
    """One step as it happened: its records, newest last."""

    first: AuditEntry  # the "started" record, or the only one
    result: AuditEntry | None = None  # the result that followed a "started" record
    state: str = ""  # set by step_rows: ok, EXIT n, running, interrupted, aborted, plan

    @property
    def last(self) -> AuditEntry:
        return self.result or self.first

    @property
    def records(self) -> list[AuditEntry]:
        return [self.first] + ([self.result] if self.result is not None else [])

    @property
    def started_at(self) -> str:
        return self.first.time

    @property
    def ended_at(self) -> str:
        """When it ended ("" while it has not, or never will)."""
        if self.result is not None:
            return self.result.time
        return "" if _is_started(self.first) else self.first.time

    @property
    def duration(self) -> float | None:
        return self.last.duration if self.ended_at else None


def _is_started(entry: AuditEntry) -> bool:
    return entry.note == STARTED and entry.exit_code == -1


def _key(entry: AuditEntry) -> tuple[str, str, int, str]:
    return entry.cluster, entry.run_id, entry.step, entry.step_id


def _seconds(time: str) -> float | None:
    try:
        return datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _state(row: StepRow, later: bool, now: float) -> str:
    entry = row.last
    if row.result is None and _is_started(row.first):
        began = _seconds(row.first.time)
        stale = began is None or now - began > STALE_AFTER
        return INTERRUPTED if later or stale else RUNNING
    if entry.step == 0 and entry.step_id == "plan":
        return "plan"
    if entry.step_id == "abort":
        return "aborted"
    if entry.step_id == "stop":
        return "stopped"
    return "ok" if entry.ok else f"EXIT {entry.exit_code}"


def step_rows(entries: Sequence[AuditEntry], now: float | None = None) -> list[StepRow]:
    """`entries` (oldest first, as AuditLog.recent gives them) as one row per step, oldest
    first. A result pairs with the unanswered "started" record of the same cluster, run, step
    number and step id."""
    now = datetime.now(UTC).timestamp() if now is None else now
    rows: list[StepRow] = []
    waiting: dict[tuple[str, str, int, str], StepRow] = {}
    seen: dict[int, int] = {}  # id(row) -> position of its newest record
    newest: dict[str, int] = {}  # cluster -> position of its newest record
    for position, entry in enumerate(entries):
        key = _key(entry)
        row = waiting.pop(key, None) if not _is_started(entry) else None
        if row is not None:
            row.result = entry
        else:
            row = StepRow(entry)
            rows.append(row)
            if _is_started(entry):
                waiting[key] = row
        seen[id(row)] = position
        newest[entry.cluster] = position
    for row in rows:
        later = newest[row.first.cluster] > seen[id(row)]
        row.state = _state(row, later, now)
    return rows
