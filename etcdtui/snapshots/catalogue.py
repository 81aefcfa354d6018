"""The snapshots in a folder: what each holds, whether it checks out, and how old the newest is."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from etcdtui.config import Connection
from etcdtui.config.identity import connection_key, legacy_folder_name
from etcdtui.errors import EtcdtuiError, SnapshotError, SnapshotKeyError, UsageError
from etcdtui.models.snapshot import SnapshotEntry, SnapshotStatus
from etcdtui.snapshots.crypto import SnapshotKey, is_encrypted, plaintext
from etcdtui.snapshots.status import read_status
from etcdtui.toml_io import open_regular, read_regular, regular_file

# Files that are not snapshots themselves.
_SKIP_SUFFIXES = (".sha256", ".part", ".tmp", ".json", ".log", ".txt", ".md")


def default_snapshot_dir(connection: Connection) -> Path:
    """Where snapshots go when the config names no snapshot_dir:
    `$XDG_STATE_HOME/etcdtui/snapshots/<key>` (`~/.local/state/...` when unset or relative),
    keyed by the cluster's identity, so two clusters named `lab` from two config files never
    share a folder (nor restore each other's snapshots)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "etcdtui" / "snapshots" / connection_key(connection)


def snapshot_dir(connection: Connection) -> Path:
    """The config's snapshot_dir, else the cluster's default folder."""
    return (
        Path(connection.snapshot_dir)
        if connection.snapshot_dir
        else default_snapshot_dir(connection)
    )


def legacy_snapshot_dir(connection: Connection) -> Path | None:
    """The folder named after the cluster alone, where snapshots went before folders were keyed
    by identity, if it still holds snapshot files (None otherwise, or with a snapshot_dir)."""
    if connection.snapshot_dir:
        return None
    current = default_snapshot_dir(connection)
    folder = current.parent / legacy_folder_name(connection.cluster)
    if folder == current:
        return None  # a cluster from no config file: its folder is still the name alone
    try:
        return folder if snapshot_files(folder) else None
    except (UsageError, OSError):
        return None


def inspect_snapshot(path: Path, key: SnapshotKey | None) -> tuple[SnapshotStatus, bool]:
    """(status, encrypted) of one file; SnapshotError if it is corrupt or cannot be read."""
    path = path.expanduser()
    regular_file(path, "snapshot file")
    encrypted = is_encrypted(path)
    with plaintext(path, key) as plain:
        status = read_status(plain)
    return status, encrypted


def check_sidecar(path: Path) -> str:
    """ "" if FILE.sha256 is absent or matches FILE; the problem otherwise."""
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.is_file():
        return ""
    words = read_regular(sidecar, "sha256 sidecar", 64 * 1024).decode(errors="replace").split()
    if not words:
        return f"{sidecar.name} is empty"
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path, "snapshot file"), "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    if digest.hexdigest() != words[0].lower():
        return f"sha256 differs from {sidecar.name}"
    return ""


def entry(path: Path, key: SnapshotKey | None) -> SnapshotEntry:
    """One catalogue line; never raises for a bad file (its problem is in the entry)."""
    info = path.stat()
    status: SnapshotStatus | None = None
    try:
        encrypted = is_encrypted(path)
        problem = check_sidecar(path)
    except (SnapshotError, OSError) as exc:
        encrypted, problem = False, getattr(exc, "message", None) or str(exc)
    if not problem:
        try:
            status, _ = inspect_snapshot(path, key)
        except SnapshotKeyError as exc:
            problem = "encrypted: give the key to verify" if key is None else exc.message
        except (SnapshotError, EtcdtuiError, OSError) as exc:
            problem = getattr(exc, "message", None) or str(exc)
    for prefix in (f"{path}: ", f"{path.name}: "):  # the table names the file already
        problem = problem.removeprefix(prefix)
    return SnapshotEntry(
        path=str(path),
        file_size=info.st_size,
        modified=info.st_mtime,
        encrypted=encrypted,
        status=status,
        problem=problem,
    )


def snapshot_files(folder: Path) -> list[Path]:
    """Candidate snapshot files in `folder`, newest first."""
    if not folder.is_dir():
        raise UsageError(f"snapshot folder {folder} does not exist")
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_SKIP_SUFFIXES)
    ]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


@dataclass(frozen=True)
class Catalogue:
    """The snapshots of a folder and the recovery-point objective they are held to."""

    folder: str
    entries: tuple[SnapshotEntry, ...]
    rpo_hours: float
    now: float

    @property
    def newest_good(self) -> SnapshotEntry | None:
        """The newest snapshot that is not known to be bad (an unverified encrypted one counts)."""
        for item in self.entries:
            if item.verified or (item.encrypted and item.status is None and "key" in item.problem):
                return item
        return None

    @property
    def warning(self) -> str:
        """Why the backups miss the recovery-point objective, or ""."""
        newest = self.newest_good
        if newest is None:
            return f"no usable snapshot in {self.folder}"
        age = (self.now - newest.modified) / 3600
        if age > self.rpo_hours:
            return (
                f"the newest snapshot is {age:.1f} h old, older than the {self.rpo_hours:g} h "
                "recovery-point objective"
            )
        return ""


def catalogue(folder: Path, key: SnapshotKey | None, rpo_hours: float) -> Catalogue:
    """Read every snapshot of `folder` (this reads each file: run it in a worker)."""
    entries = tuple(entry(p, key) for p in snapshot_files(folder))
    return Catalogue(str(folder), entries, rpo_hours, time.time())
