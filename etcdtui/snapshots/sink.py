"""Writing a snapshot stream to disk: FILE.part, checked, fsynced, renamed, with a sidecar.

A snapshot taken through etcd's API ends with the sha256 of everything before it; the sink
checks that trailer as the bytes go by (no second pass), encrypts them on the way when asked
(so no plaintext ever reaches the disk), and hashes what it stores for FILE.sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from etcdtui.errors import SnapshotError, UsageError

if TYPE_CHECKING:
    from etcdtui.snapshots.crypto import SnapshotKey

TRAILER = 32  # etcd appends a sha256 digest to every snapshot it streams
PAGE = 512  # etcd: a file whose length mod 512 is 32 carries the trailer
# (bytes so far, bytes expected or None, seconds since the start)
Progress = Callable[[int, int | None, float], None]


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _HashingFile:
    """The .part file, hashing every byte stored when that is not the plaintext (encrypted)."""

    def __init__(self, fd: int, hashing: bool) -> None:
        self.handle = os.fdopen(fd, "wb", buffering=1024 * 1024)
        self.sha256 = hashlib.sha256() if hashing else None
        self.size = 0

    def write(self, data: bytes, /) -> int:
        if self.sha256 is not None:
            self.sha256.update(data)
        self.size += len(data)
        return self.handle.write(data)


def check_target(path: Path) -> None:
    """Refuse before anything is fetched: an existing backup is never overwritten."""
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} already exists: a backup is never overwritten; choose a new name")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{path.parent} is not writable")
    for extra in (part_path(path), sidecar_path(path)):
        if extra.exists():
            raise UsageError(f"{extra} already exists (a save in progress, or left over)")


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


class DigestCheck:
    """Follows a plaintext snapshot stream and checks etcd's sha256 trailer at the end."""

    def __init__(self) -> None:
        self._body = hashlib.sha256()
        self._tail = b""
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if len(chunk) >= TRAILER:  # the usual case: no copy of the chunk
            self._body.update(self._tail)
            self._body.update(memoryview(chunk)[:-TRAILER])
            self._tail = bytes(chunk[-TRAILER:])
            return
        data = self._tail + chunk
        if len(data) > TRAILER:
            self._body.update(data[:-TRAILER])
            self._tail = data[-TRAILER:]
        else:
            self._tail = data

    def whole_sha256(self) -> str:
        """sha256 of the whole stream, trailer included, without hashing anything twice."""
        whole = self._body.copy()
        whole.update(self._tail)
        return whole.hexdigest()

    def verify(self, source: str) -> None:
        """SnapshotError unless the stream ended with the right digest of what came before."""
        if self.size % PAGE != TRAILER:
            raise SnapshotError(
                f"{source}: the snapshot stream ended early ({self.size} bytes, no sha256 trailer)"
            )
        if self._body.digest() != self._tail:
            raise SnapshotError(f"{source}: the snapshot's sha256 digest does not match its data")


class SnapshotSink:
    """Receives a snapshot stream and turns it into FILE (0600) and FILE.sha256.

    Call `write` for every chunk, then `finish` (verifies, fsyncs, renames); on any failure
    `abort` removes the incomplete FILE.part (it is ours and not a backup).
    """

    def __init__(self, path: Path, key: SnapshotKey | None = None) -> None:
        check_target(path)
        self.path = path
        self.part = part_path(path)
        self.digest = DigestCheck()
        fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = _HashingFile(fd, hashing=key is not None)
        self._encryptor = None
        if key is not None:
            # Here, not at the top: a plain save never loads the cryptography package.
            from etcdtui.snapshots.crypto import Encryptor

            self._encryptor = Encryptor(key, self._file)  # type: ignore[arg-type]
        self.encrypted = key is not None
        self._closed = False

    @property
    def received(self) -> int:
        return self.digest.size

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        if self._encryptor is not None:
            self._encryptor.write(chunk)
        else:
            self._file.write(chunk)

    def finish(self, source: str) -> tuple[int, str]:
        """Check the trailer, seal, fsync, rename; (stored size, sha256 hex of FILE)."""
        self.digest.verify(source)
        if self._encryptor is not None:
            self._encryptor.close()
        self._file.handle.flush()
        os.fsync(self._file.handle.fileno())
        self._file.handle.close()
        self._closed = True
        os.replace(self.part, self.path)
        stored = self._file.sha256
        digest = stored.hexdigest() if stored is not None else self.digest.whole_sha256()
        write_sidecar(self.path, digest)
        fsync_dir(self.path.parent)
        return self._file.size, digest

    def abort(self) -> None:
        if not self._closed:
            with contextlib.suppress(OSError):
                self._file.handle.close()
            self._closed = True
        self.part.unlink(missing_ok=True)


def stream_to_file(
    chunks: Iterator[bytes],
    path: Path,
    key: SnapshotKey | None,
    progress: Progress,
    started: float,
    expected: int | None,
    source: str,
) -> tuple[int, int, str]:
    """Stream `chunks` into a sink; (snapshot bytes, stored bytes, sha256 of FILE).

    Whatever stops the stream (a stall, a dropped connection, ^C) removes FILE.part.
    """
    sink = SnapshotSink(path, key)
    try:
        for chunk in chunks:
            sink.write(chunk)
            progress(sink.received, expected, time.monotonic() - started)
        size, digest = sink.finish(source)
    except BaseException:
        sink.abort()
        raise
    return sink.received, size, digest


def write_sidecar(path: Path, digest: str) -> Path:
    """FILE.sha256 in sha256sum's format, so `sha256sum -c FILE.sha256` checks it too."""
    sidecar = sidecar_path(path)
    fd = os.open(sidecar, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{digest}  {path.name}\n")
        handle.flush()
        os.fsync(handle.fileno())
    return sidecar


def fsync_dir(folder: Path) -> None:
    """Make the rename durable: fsync the directory that holds it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def adopt(done: Path, path: Path, digest: DigestCheck, source: str) -> str:
    """Take a finished plaintext snapshot file someone else wrote (etcdctl) as FILE.

    `digest` followed its bytes as they were written; returns the file's sha256 hex.
    """
    digest.verify(source)
    done.chmod(0o600)
    fd = os.open(done, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    check_target(path)
    os.replace(done, path)
    hexdigest = digest.whole_sha256()
    write_sidecar(path, hexdigest)
    fsync_dir(path.parent)
    return hexdigest
