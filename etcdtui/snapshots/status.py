"""`etcdctl snapshot status` in Python, plus the sha256 checks etcd's restore makes.

read_status() gives the numbers etcdctl (3.4) and etcdutl (3.5) print for the same file:
HASH is the CRC-32C (Castagnoli) of every top-level bucket name followed by each of its keys
and values, in bbolt's key order; REVISION the main revision of the last key of the "key"
bucket; TOTAL KEYS the items of every bucket; TOTAL SIZE bbolt's Tx.Size() (high-water mark *
page size, not the file's length).

A snapshot taken through etcd's API ends with 32 bytes: the sha256 of everything before
them. etcd's restore decides a file has them when its length mod 512 is 32 (hasChecksum in
etcdutl/snapshot); a bare copy of member/snap/db has whole pages only. Digests are read in
1 MiB chunks, so memory stays flat for any file size.

Errors: a path that is missing, unreadable or not a regular file (a FIFO, a socket, a device,
a directory: refused before a byte is read) raises UsageError (the person named the wrong
file; exit 2); every problem with the file's contents raises SnapshotError with one line,
"FILE: corrupt: why" or "FILE: not a snapshot (why)".
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import crc32c

from etcdtui.errors import SnapshotError
from etcdtui.models.snapshot import SnapshotStatus
from etcdtui.snapshots.bolt import BoltFile, open_regular

DIGEST_SIZE = hashlib.sha256().digest_size
# etcd's hasChecksum: 512 divides every bbolt page size, so whole pages leave no remainder.
SECTOR = 512
CHUNK = 1 << 20
KEY_BUCKET = b"key"
CLUSTER_BUCKET, CLUSTER_VERSION_KEY = b"cluster", b"clusterVersion"


def has_digest(file_size: int) -> bool:
    """True when a file of this length ends with etcd's sha256 trailer (etcd's own rule)."""
    return file_size % SECTOR == DIGEST_SIZE


def _sha256(fd: int, length: int) -> bytes:
    """The sha256 of the first `length` bytes behind `fd`, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    offset = 0
    while offset < length:
        got = os.preadv(fd, [view[: min(CHUNK, length - offset)]], offset)
        if got == 0:
            break  # the file shrank while we read it; the digest will not match
        digest.update(view[:got])
        offset += got
    return digest.digest()


def verify_digest(path: str | Path) -> str:
    """Check etcd's sha256 trailer: "ok" when right, "absent" for a file without one.

    A wrong trailer raises SnapshotError; so do an empty file and a length that is neither
    whole 512-byte sectors nor sectors plus a trailer (a file cut short, or bytes appended).
    """
    path = Path(path)
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise SnapshotError(f"{path}: not a snapshot (empty file)")
        if size % SECTOR == 0:
            return "absent"
        if not has_digest(size):
            raise SnapshotError(
                f"{path}: corrupt: {size} bytes is neither whole pages nor pages and a sha256 "
                "digest (truncated?)"
            )
        expected = os.pread(fd, DIGEST_SIZE, size - DIGEST_SIZE)
        if _sha256(fd, size - DIGEST_SIZE) != expected:
            raise SnapshotError(
                f"{path}: corrupt: sha256 digest does not match (truncated or altered)"
            )
        return "ok"
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> str:
    """The sha256 of the whole file, in hex (what `sha256sum FILE` prints first)."""
    path = Path(path)
    fd = open_regular(path)
    try:
        return _sha256(fd, os.fstat(fd).st_size).hex()
    finally:
        os.close(fd)


def sidecar_text(path: str | Path) -> str:
    """The FILE.sha256 sidecar: `sha256sum`'s line for the file, named without its folder.

    `sha256sum -c FILE.sha256` run beside the file accepts it. Like sha256sum, a name with a
    backslash or a newline is escaped and the line starts with a backslash.
    """
    path = Path(path)
    hex_digest, name = sha256_file(path), path.name
    if "\\" in name or "\n" in name or "\r" in name:
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{hex_digest}  {escaped}\n"
    return f"{hex_digest}  {name}\n"


def read_status(path: str | Path) -> SnapshotStatus:
    """What `etcdctl snapshot status` reports for the file, plus its cluster version and digest.

    Raises UsageError for a path that is not a file and SnapshotError for one that is not
    a bbolt database, is cut short, fails its sha256 trailer, or has a damaged tree.
    """
    path = Path(path)
    with BoltFile(path) as db:
        # After the header (so that a cut file is reported as truncated) and before the walk
        # (so that an altered byte is reported as such, wherever it landed).
        digest = verify_digest(path)
        hash_value, revision, total_keys, cluster_version = _walk(db)
        return SnapshotStatus(
            hash=hash_value,
            revision=revision,
            total_keys=total_keys,
            total_size=db.size,
            cluster_version=cluster_version,
            digest=digest,
        )


def _walk(db: BoltFile) -> tuple[int, int, int, str]:
    """(HASH, REVISION, TOTAL KEYS, cluster version) the way etcdutl's Status loop counts them.

    A function of its own so that every view of the mapping is gone when it returns and
    the file can be unmapped.
    """
    hash_value = revision = total_keys = 0
    cluster_version = ""
    for name, items in db.buckets():
        hash_value = crc32c.crc32c(name, hash_value)
        if name == KEY_BUCKET:
            # Only the last key's revision survives etcdutl's loop: read just that one.
            last_key = None
            for key, value in items:
                hash_value = crc32c.crc32c(key, hash_value)
                if value is not None:
                    hash_value = crc32c.crc32c(value, hash_value)
                total_keys += 1
                last_key = key
            if last_key is not None:
                revision = _main_revision(db, last_key)
            continue
        for key, value in items:
            hash_value = crc32c.crc32c(key, hash_value)
            if value is not None:
                hash_value = crc32c.crc32c(value, hash_value)
                if name == CLUSTER_BUCKET and key == CLUSTER_VERSION_KEY:
                    cluster_version = bytes(value).decode("utf-8", "replace")
            total_keys += 1
    return int(hash_value), revision, total_keys, cluster_version


def _main_revision(db: BoltFile, key: memoryview) -> int:
    """The main revision a key of the "key" bucket starts with (8 bytes, big-endian)."""
    if len(key) < 8:
        raise db.corrupt(f"key bucket: a {len(key)}-byte key is not a revision")
    return int.from_bytes(key[:8], "big", signed=True)
