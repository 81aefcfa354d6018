"""Snapshot copies left on nodes: recorded on the bastion, removed on the next connection.

`snapshot save --on-node` has etcdctl write the snapshot (every secret of the cluster, in
plaintext) into a hidden folder next to the node's data dir, and removes it once it is copied.
When the connection drops or stalls, nothing can remove it then. So the folder is recorded
here before it is made, and forgotten only once it is gone; the next save that reaches the node
(or any connection a ShellPool opens with `sweeper`) removes it and says so.

The record is `$XDG_STATE_HOME/etcdtui/node-leftovers.json` (0600), by cluster and node. Only
paths it names are removed, and only if they look like etcdtui's own folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import re
import shlex
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etcdtui.clients.shell import NodeShell
from etcdtui.errors import EtcdtuiError

FOLDER_PREFIX = ".etcdtui-snapshot."
# The folders etcdtui makes for a node-side snapshot (older versions: mktemp's six characters).
FOLDER = re.compile(re.escape(FOLDER_PREFIX) + r"[A-Za-z0-9]{6,32}")
# What etcdctl writes in the folder: the snapshot, and its partial file while it is written.
FILES = ("snapshot.db", "snapshot.db.part")
SWEEP_TIMEOUT = 30.0
Note = Callable[[str], None]
# Folders a save in this process is using now: never swept from under it.
_in_use: set[str] = set()
_in_use_lock = threading.Lock()


def default_record_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "etcdtui" / "node-leftovers.json"


def is_own_folder(path: str) -> bool:
    """Whether `path` is an absolute, normalised path to a folder named as etcdtui names its
    node-side snapshot folders (nothing else is ever removed from a node)."""
    return (
        path.startswith("/")
        and posixpath.normpath(path) == path
        and FOLDER.fullmatch(posixpath.basename(path)) is not None
        and not any(c in path for c in "\n\r\0")
    )


def left_note(node: str, folder: str) -> str:
    """The line a save prints for a node-side copy it could not remove."""
    return (
        f"{node}: the node-side snapshot copy in {folder} could not be removed; the next "
        f"snapshot save that reaches {node} removes it"
    )


class LeftoverRecord:
    """The bastion's record of node-side folders still to remove; safe across processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_record_path()

    def add(self, cluster: str, node: str, folder: str) -> None:
        """Record `folder` on `node` before it is made; it is in use until `release`."""
        with _in_use_lock:
            _in_use.add(folder)
        with self._editing() as data:
            entries = data.setdefault(cluster, {}).setdefault(node, [])
            if not any(e.get("path") == folder for e in entries):
                entries.append({
                    "path": folder,
                    "since": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                })  # fmt: skip

    def release(self, cluster: str, node: str, folder: str) -> None:
        """The save that made `folder` has ended: any sweep may remove it from now on (until
        then, only a sweep that finds this process gone: it was killed mid-save)."""
        with _in_use_lock:
            _in_use.discard(folder)
        if folder not in self.folders(cluster, node, include_live=True):
            return  # removed, and forgotten already
        with self._editing() as data:
            for entry in data.get(cluster, {}).get(node, []):
                if isinstance(entry, dict) and entry.get("path") == folder:
                    entry.pop("pid", None)

    def forget(self, cluster: str, node: str, folder: str) -> None:
        """`folder` is gone from `node`."""
        if not self.path.exists():
            return
        with self._editing() as data:
            nodes = data.get(cluster, {})
            kept = [e for e in nodes.get(node, []) if e.get("path") != folder]
            if kept:
                nodes[node] = kept
            else:
                nodes.pop(node, None)
            if not nodes:
                data.pop(cluster, None)

    def folders(self, cluster: str, node: str, *, include_live: bool = False) -> list[str]:
        """The folders recorded for `node` of `cluster` that no running save is using (all
        of them with `include_live`)."""
        entries = self._read().get(cluster, {}).get(node, [])
        with _in_use_lock:
            busy = set() if include_live else set(_in_use)
        return [
            str(e["path"])
            for e in entries
            if isinstance(e, dict)
            and "path" in e
            and e["path"] not in busy
            and (include_live or not _live(e))
        ]

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise EtcdtuiError(
                f"cannot read the record of node-side leftovers {self.path}: {exc}",
                hint="fix or remove the file",
            ) from None
        leftovers = data.get("leftovers") if isinstance(data, dict) else None
        return leftovers if isinstance(leftovers, dict) else {}

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        """Read, change and replace the record under a lock; the file is never half written."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(self.path.with_name(self.path.name + ".lock"),
                           os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)  # fmt: skip
        except OSError as exc:
            raise EtcdtuiError(
                f"cannot write the record of node-side leftovers {self.path}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            self._write(data)
        finally:
            os.close(lock)  # closing releases the lock

    def _write(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump({"version": 1, "leftovers": data}, handle, indent=1, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise EtcdtuiError(
                f"cannot write the record of node-side leftovers {self.path}: {exc.strerror}"
            ) from None


def _live(entry: dict[str, Any]) -> bool:
    """Whether the entry's save may still be going on: the etcdtui on this bastion that made
    it has not released it and still runs. A pid reused since only delays the clean-up."""
    pid = entry.get("pid")
    if entry.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    if pid == os.getpid() or pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def removal_command(folder: str) -> str:
    """Remove etcdtui's files in `folder`, then the folder; prints "removed" if it was there.

    A symlink in the folder's place is left alone (it would lead elsewhere); the command then
    fails, so the record keeps it.
    """
    q = shlex.quote(folder)
    files = " ".join(shlex.quote(posixpath.join(folder, name)) for name in FILES)
    return (
        f"if [ -d {q} ] && [ ! -L {q} ]; then rm -f -- {files} && rmdir -- {q} && "
        f"echo removed; fi; test ! -e {q} && test ! -L {q}"
    )


def sweep(shell: NodeShell, record: LeftoverRecord, cluster: str, node: str, note: Note) -> None:
    """Remove the folders `record` names for `node`, saying so for each one that was there.

    Never raises for the node: a folder that cannot be removed stays recorded, with a note.
    """
    for folder in record.folders(cluster, node):
        if not is_own_folder(folder):
            # Not a path etcdtui made: the record was edited or damaged. Touch nothing there.
            record.forget(cluster, node, folder)
            note(f"{node}: {folder!r} in {record.path} is not an etcdtui folder: not removed")
            continue
        try:
            result = shell.run(removal_command(folder), timeout=SWEEP_TIMEOUT)
        except EtcdtuiError as exc:
            note(f"{node}: the snapshot copy in {folder} is still there: {exc.message}")
            return  # the node is unreachable: the other folders can wait as well
        if result.exit_code != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            reason = detail[-1][:200] if detail else f"exit code {result.exit_code}"
            note(f"{node}: the snapshot copy in {folder} is still there: {reason}")
            continue
        record.forget(cluster, node, folder)
        if "removed" in result.stdout.split():
            note(f"{node}: removed the snapshot copy an earlier save left in {folder}")


def sweeper(
    cluster: str, note: Note, record: LeftoverRecord | None = None
) -> Callable[[NodeShell], None]:
    """A ShellPool `on_connect` hook: sweep each node of `cluster` when it connects."""
    kept = record or LeftoverRecord()

    def on_connect(shell: NodeShell) -> None:
        try:
            if kept.folders(cluster, shell.node):
                sweep(shell, kept, cluster, shell.node, note)
        except EtcdtuiError as exc:  # the record is unreadable: the run itself goes on
            note(str(exc))

    return on_connect
