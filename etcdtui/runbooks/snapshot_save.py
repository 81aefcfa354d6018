"""Snapshot save as a runbook step: the one entry point of the CLI and the TUI, audited.

The save itself (routes, the stream, the sink) is `snapshots.save`; this module records it in
the audit log the way the engine records every runbook step: "started" before the first byte,
then the result with its sha256, or the failure with the node-side notes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from etcdtui.runbooks.audit import AuditLog, AuditLogError, StepJournal
from etcdtui.snapshots.crypto import SnapshotKey
from etcdtui.snapshots.leftovers import Note
from etcdtui.snapshots.save import OnStart, SaveResult, SnapshotSaver
from etcdtui.snapshots.sink import Progress

RUNBOOK = "snapshot-save"  # the audit log's name for a save, from the CLI and the TUI alike


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

    The "started" record is written once the member is chosen and before the first byte is
    read; if it cannot be written (AuditLogError), the save does not start and leaves no file.
    The result (exit code, duration, sha256) follows. `node` saves with etcdctl on that node;
    `on_note` then hears of node-side copies left or removed (see `save_on_node`).
    """
    journal = StepJournal(audit, cluster=saver.connection.cluster, runbook=RUNBOOK,
                          step_id="save")  # fmt: skip
    sealed = ", encrypted" if key is not None else ""

    notes: list[str] = []  # node-side copies left or removed: the audit log keeps them too

    def start(source: str, route: str) -> None:
        journal.start(source, f"snapshot save {path} via {route}{sealed}")
        if on_start is not None:
            on_start(source, route)

    def note(line: str) -> None:
        notes.append(line)
        if on_note is not None:
            on_note(line)

    try:
        if node:
            result = saver.save_on_node(path, node, key, on_progress, start, note)
        else:
            result = saver.save(path, member, key, on_progress, start)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        # The failure is what the person must see; a log that fails now already has "started".
        with contextlib.suppress(AuditLogError):
            cause = "interrupted" if interrupted else str(exc)
            journal.finish(130 if interrupted else 1,
                           output="\n".join([*notes, cause]))  # fmt: skip
        raise
    try:
        journal.finish(0, duration=result.seconds, note=f"sha256 {result.sha256}{sealed}",
                       output="\n".join(notes))  # fmt: skip
    except AuditLogError as exc:
        raise AuditLogError(f"{result.path} was saved, but {exc.message}", exc.hint) from exc
    return result
