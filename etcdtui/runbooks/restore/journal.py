"""The restore's journal: what a run planned, which steps finished, where it left the data.

One JSON file per cluster and run, `$XDG_STATE_HOME/etcdtui/restore/<key>/<run>.json`
(`~/.local/state/...` when unset or relative; `<key>` is the cluster's identity, its name and a
digest of its config file: see config/identity.py), replaced atomically (written beside, fsynced,
renamed) before and after every step, so a run cut short by a dropped SSH connection, a failed
step or a killed process can be shown, continued or rolled back. It holds paths, the plan and
the new cluster token: never the snapshot's key or passphrase.

Journals written before the key held the config file live under the name alone
(`restore/<cluster>/`): they are still found, for the cluster of the same name and config.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path

from etcdtui.config import Connection
from etcdtui.config.identity import cluster_key, legacy_folder_name
from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.runbooks.restore.journal_format import FORMAT, from_json, to_json
from etcdtui.runbooks.restore.state import (
    ABANDONED,
    FINISHED,
    INTERRUPTED,
    RESTORE,
    ROLLBACK,
    ROLLED_BACK,
    RUNNING,
    NodePaths,
    RestoreOptions,
    RestoreState,
    SnapshotFacts,
    pid_alive,
    timestamp,
)

__all__ = [
    "ABANDONED",
    "FINISHED",
    "FORMAT",
    "INTERRUPTED",
    "RESTORE",
    "ROLLBACK",
    "ROLLED_BACK",
    "RUNNING",
    "ClusterLock",
    "JournalError",
    "NodePaths",
    "RestoreOptions",
    "RestoreState",
    "SnapshotFacts",
    "abandon",
    "cluster_folder",
    "from_json",
    "journal_path",
    "journals",
    "load",
    "pending_restore",
    "pid_alive",
    "save",
    "state_root",
    "to_json",
]


class JournalError(EtcdtuiError):
    """The restore journal cannot be written or read: the restore must not go on blind."""


def state_root() -> Path:
    """Where journals live: `$XDG_STATE_HOME/etcdtui/restore` (as the audit log's folder)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "etcdtui" / "restore"


def cluster_folder(cluster: str, source: str, root: Path | None = None) -> Path:
    """The folder of one cluster's journals and restore lock, keyed by its identity."""
    return (root or state_root()) / cluster_key(cluster, source)


def journal_path(cluster: str, run: str, root: Path | None = None, source: str = "") -> Path:
    return cluster_folder(cluster, source, root) / f"{run}.json"


def _make_folder(folder: Path) -> None:
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def save(state: RestoreState, root: Path | None = None) -> Path:
    """Write the journal atomically (0600); JournalError if it cannot be written."""
    path = state.path or journal_path(state.cluster, state.run, root, state.source)
    state.updated = timestamp()
    if state.status == RUNNING:  # only the process running it writes a running journal
        state.pid, state.pid_host = os.getpid(), socket.gethostname()
    text = json.dumps(to_json(state), indent=1) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _make_folder(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise JournalError(
            f"cannot write the restore journal {path}: {exc.strerror or exc}",
            "the run stops here rather than go on without a record",
        ) from None
    state.path = path
    return path


def load(path: Path) -> RestoreState:
    """A journal read back; UsageError for a file that is not one."""
    try:
        data = json.loads(path.read_text())
        return from_json(data, path)
    except OSError as exc:
        raise UsageError(f"cannot read the restore journal {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a restore journal etcdtui can read ({exc})") from None


def _same_source(written: str, source: str) -> bool:
    """Whether a journal written for config `written` is of the cluster from `source`; one
    from before sources were recorded ("") is taken on its cluster's name."""
    if not written or written == source:
        return True
    return bool(source) and os.path.realpath(written) == os.path.realpath(source)


def journals(cluster: str, root: Path | None = None, source: str = "") -> list[RestoreState]:
    """Every journal of the cluster `cluster` defined in `source`, oldest first (run ids sort
    by time): its own folder, and the folder named after `cluster` alone that journals used
    before (only those written for the same config file)."""
    base = root or state_root()
    found: dict[Path, RestoreState] = {}
    for folder, legacy in ((cluster_folder(cluster, source, base), False),
                           (base / legacy_folder_name(cluster), True)):  # fmt: skip
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(UsageError):  # a foreign or torn file: not ours to act on
                state = load(path)
                if state.cluster != cluster or path in found:
                    continue
                if legacy and not _same_source(state.source, source):
                    continue  # another cluster of the same name, from another config
                found[path] = state
    return sorted(found.values(), key=lambda s: (s.run, str(s.path)))


def pending_restore(connection: Connection, root: Path | None = None) -> RestoreState | None:
    """The newest restore of this cluster that stopped halfway (None if every run ended)."""
    pending = [s for s in journals(connection.cluster, root, connection.source) if s.pending]
    return pending[-1] if pending else None


def abandon(state: RestoreState, why: str, root: Path | None = None) -> None:
    """Mark a run settled by hand (its lab torn down, its nodes rebuilt): it is kept, but no
    longer offered for continuing or rolling back, and no longer blocks a new restore."""
    state.status, state.error = ABANDONED, why
    save(state, root)


class ClusterLock:
    """One restore (or rollback) at a time per cluster: an flock on `<folder>/.lock`, held
    from the first step to the end of the run; the kernel drops it when the process dies,
    even by SIGKILL.

    `<folder>` is the cluster's journal folder when `source` (its config file) is given, else
    the folder named after the cluster alone (as before journals were keyed by identity).
    """

    def __init__(self, cluster: str, root: Path | None = None, source: str | None = None) -> None:
        self.cluster = cluster
        base = root or state_root()
        folder = (
            base / legacy_folder_name(cluster)
            if source is None
            else cluster_folder(cluster, source, base)
        )
        self.path = folder / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; JournalError naming the holder's pid when another process has it."""
        if self._fd is not None:
            return
        try:
            _make_folder(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        if busy := self._holder(fd):
            os.close(fd)
            raise JournalError(busy, "wait for it to finish, or stop it, before running this")
        os.ftruncate(fd, 0)  # our pid, for the next one to name us
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def _holder(self, fd: int) -> str:
        """Lock `fd` and return "", or say who holds the lock."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            return f"another etcdtui (pid {holder}) is restoring cluster {self.cluster} right now"
        return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def busy(self) -> str:
        """Why the lock cannot be taken now ("" when it is free or ours); creates nothing."""
        if self._fd is not None:
            return ""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            return f"cannot open {self.path}: {exc.strerror or exc}"
        try:
            return self._holder(fd)
        finally:
            os.close(fd)  # and with it the lock, if we got it
