"""Snapshot save as a runbook of one step, run by the engine for the CLI and the TUI alike.

The save itself (routes, the stream, the sink) is `snapshots.save`. The plan chooses the member
and the route, so the engine's "started" record names them before the first byte is read; the
result record carries the sha256, or the failure with the node-side notes. A save only reads
the cluster: it takes no cluster lock, and a defrag or a restore may run beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from etcdtui.errors import UsageError
from etcdtui.models.runbook import Check, Plan, Step, StepArgs, StepResult
from etcdtui.runbooks.audit import AuditLog, AuditLogError
from etcdtui.runbooks.engine import Output, execute
from etcdtui.snapshots.leftovers import Note
from etcdtui.snapshots.save import OnStart, SaveResult, SnapshotSaver, choose_member
from etcdtui.snapshots.sink import Progress, check_target

if TYPE_CHECKING:
    from etcdtui.snapshots.crypto import SnapshotKey

RUNBOOK = "snapshot-save"  # the audit log's name for a save, from the CLI and the TUI alike
INTERRUPTED = 130  # the exit code a save stopped by Ctrl+C is recorded with, as a shell's


class SaveKind(StrEnum):
    """The one thing a save does; the value is the step id the audit log has always shown."""

    SAVE = "save"


@dataclass(frozen=True)
class SaveArgs(StepArgs):
    """Where the snapshot goes and where it comes from: `member` (a name or client URL) read
    from the bastion, or etcdctl on `node` when one is named."""

    path: str
    member: str = ""
    node: str = ""
    encrypted: bool = False


@dataclass
class Hooks:
    """What a front end hears while a save runs (each optional)."""

    on_progress: Progress | None = None
    on_start: OnStart | None = None  # the member and route, once "started" is on record
    on_note: Note | None = None  # node-side copies left behind, or removed since


@dataclass
class _Outcome:
    """What the step left for the front end: the result, or the error it raised."""

    result: SaveResult | None = None
    error: BaseException | None = None
    notes: list[str] = field(default_factory=list)


class SnapshotSave:
    """Save one snapshot to a file on the bastion: a runbook of one read-only step."""

    name = RUNBOOK

    def __init__(
        self,
        saver: SnapshotSaver,
        path: Path,
        *,
        member: str | None = None,
        node: str | None = None,
        key: SnapshotKey | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.saver = saver
        self.cluster = saver.connection.cluster
        self.path = path.expanduser().absolute()
        self.member = member
        self.node = node
        self.key = key
        self.hooks = hooks or Hooks()
        self.outcome = _Outcome()

    def plan(self) -> Plan:
        """Choose the member (or the node) and the route; reads the cluster, writes nothing."""
        check_target(self.path)
        if self.node:
            target, route = self._node_route(self.node)
            member = ""
        else:
            # A reachable member with a leader and no alarm will do for a snapshot.
            view = self.saver.read_view()
            source = choose_member(view, self.member)
            expected = source.status.db_size if source.status else None
            target, route = source.name, self.saver.route_for(self.key, expected)
            member = self.member or source.endpoint  # the same member when saving
        sealed = ", encrypted" if self.key is not None else ""
        args = SaveArgs(str(self.path), member, self.node or "", self.key is not None)
        step = Step(id=str(SaveKind.SAVE), kind=SaveKind.SAVE, target=target, args=args,
                    command=f"snapshot save {self.path} via {route}{sealed}",
                    why="a snapshot to restore from", read_only=True)  # fmt: skip
        return Plan(runbook=RUNBOOK, cluster=self.cluster, steps=(step,))

    def _node_route(self, name: str) -> tuple[str, str]:
        """The member on node `name` and the route of a save there (as `save_on_node` says
        them), refused as it refuses them."""
        if self.saver.shells is None:
            raise UsageError("--on-node needs the config's nodes")
        node = self.saver.connection.node(name)
        if not node.client_url_on_node:
            raise UsageError(f"node {node.name} has no client URL in the config")
        return node.member_name, f"etcdctl on {node.name}, then SFTP"

    def run_step(self, step: Step, output: Output) -> StepResult:
        """The save; a failure (or Ctrl+C) becomes a failed result with the node-side notes
        first, and is kept for the front end to raise."""
        args = step.params(SaveArgs)
        key, hooks, notes = self.key, self.hooks, self.outcome.notes

        def note(line: str) -> None:
            notes.append(line)  # the audit log keeps them too
            if hooks.on_note is not None:
                hooks.on_note(line)

        path, started = Path(args.path), time.perf_counter()
        try:
            if args.node:
                result = self.saver.save_on_node(path, args.node, key, hooks.on_progress,
                                                 hooks.on_start, note)  # fmt: skip
            else:
                result = self.saver.save(path, args.member, key, hooks.on_progress,
                                         hooks.on_start)  # fmt: skip
        except (Exception, KeyboardInterrupt) as exc:
            self.outcome.error = exc
            interrupted = isinstance(exc, KeyboardInterrupt)
            cause = "interrupted" if interrupted else str(exc)
            took = time.perf_counter() - started
            return StepResult(step, False, INTERRUPTED if interrupted else 1,
                              "\n".join([*notes, cause]), took)  # fmt: skip
        self.outcome.result = result
        return StepResult(step, True, 0, "\n".join(notes), result.seconds)

    def result_note(self, result: StepResult) -> str:
        """The saved file's sha256, for the result record."""
        saved = self.outcome.result
        if not result.ok or saved is None:
            return ""
        return f"sha256 {saved.sha256}{', encrypted' if saved.encrypted else ''}"

    def verify(self) -> list[Check]:
        """The save checked its digest on arrival: nothing more to verify."""
        return []

    def summary(self) -> list[str]:
        return []

    def cluster_lock(self) -> None:
        """None: a save only reads the cluster."""
        return None


def run_save(runbook: SnapshotSave, audit: AuditLog) -> SaveResult:
    """Run the save through the engine and return what it saved, or raise what stopped it.

    If the audit log cannot take the plan or the "started" record (AuditLogError), the save
    does not start and leaves no file. A failure is raised as the save raised it; if the log
    cannot take its record too, the failure is still what is raised.
    """
    try:
        execute(runbook, runbook.plan(), audit)
    except AuditLogError as exc:
        done = runbook.outcome
        if done.error is not None:
            raise done.error from None
        if done.result is not None:
            raise AuditLogError(f"{done.result.path} was saved, but {exc.message}",
                                exc.hint) from exc  # fmt: skip
        raise
    done = runbook.outcome
    if done.error is not None:
        raise done.error
    assert done.result is not None  # the one step ran and succeeded
    return done.result


def save_recorded(
    saver: SnapshotSaver,
    audit: AuditLog,
    path: Path,
    *,
    member: str | None = None,
    node: str | None = None,
    key: SnapshotKey | None = None,
    on_progress: Progress | None = None,
    on_start: OnStart | None = None,
    on_note: Note | None = None,
) -> SaveResult:
    """Save a snapshot with its audit records: the one entry point for the CLI and the TUI.

    `node` saves with etcdctl on that node; `on_note` then hears of node-side copies left or
    removed (see `save_on_node`). `on_start` runs once the step is on record, before the first
    byte is read.
    """
    hooks = Hooks(on_progress, on_start, on_note)
    return run_save(SnapshotSave(saver, path, member=member, node=node, key=key, hooks=hooks),
                    audit)  # fmt: skip
