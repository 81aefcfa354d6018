"""The snapshot a restore starts from: verified, and how many keys a restored cluster serves.

`SnapshotStatus.total_keys` (etcdctl's TOTAL KEYS) counts the items of every bucket: each
revision of each key, tombstones, leases, members, meta. A restored member's range over all
keys counts something else: the user keys alive at its revision. So the restore compares the
live count against this one, computed from the snapshot's "key" bucket the way etcd rebuilds
its index at start-up: bucket keys are revisions in increasing order (8-byte main, "_", 8-byte
sub, and a trailing "t" for a deletion), each value an mvccpb.KeyValue whose field 1 is the
user key; the newest revision of each user key decides whether it is alive.
"""

from __future__ import annotations

import json
from pathlib import Path

from etcdtui.clients.etcd import RESERVED_PREFIX
from etcdtui.errors import SnapshotError
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.restore.state import SnapshotFacts
from etcdtui.snapshots.bolt import BoltFile
from etcdtui.snapshots.catalogue import check_sidecar
from etcdtui.snapshots.crypto import SnapshotKey, is_encrypted, plaintext
from etcdtui.snapshots.status import read_status, sha256_file

KEY_BUCKET = b"key"
MEMBERS_BUCKET = b"members"  # member ID (hex) -> {"id", "name", "peerURLs", ...} as JSON
REVISION_SIZE = 17  # 8 + 1 + 8; one more byte ("t") marks a tombstone
TOMBSTONE = ord("t")


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def user_key(value: memoryview) -> bytes:
    """Field 1 (`key`) of an encoded mvccpb.KeyValue; ValueError when it has none."""
    pos = 0
    while pos < len(value):
        tag, pos = _varint(value, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(value, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _varint(value, pos)
            if field == 1:
                if pos + size > len(value):
                    raise ValueError("key runs past the value")
                return bytes(value[pos : pos + size])
            pos += size
        else:
            raise ValueError(f"wire type {wire}")
    raise ValueError("no key field")


def live_key_count(path: str | Path) -> int:
    """The user keys alive at the snapshot's newest revision (SnapshotError if damaged)."""
    alive: dict[bytes, bool] = {}
    with BoltFile(path) as db:
        for name, items in db.buckets():
            if name != KEY_BUCKET:
                continue  # read_status has walked (and checked) the whole tree already
            for revision, value in items:
                if value is None or len(revision) < REVISION_SIZE:
                    raise db.corrupt(f"key bucket: {bytes(revision)!r} is not a revision")
                try:
                    key = user_key(value)
                except ValueError as exc:
                    raise SnapshotError(f"{path}: corrupt: key bucket value: {exc}") from None
                tombstone = len(revision) > REVISION_SIZE and revision[REVISION_SIZE] == TOMBSTONE
                alive[key] = not tombstone
    # etcdtui's own keys (a run's lock, taken while the snapshot was saved) are not counted,
    # as the live cluster's key count leaves them out.
    return sum(v for k, v in alive.items() if not k.startswith(RESERVED_PREFIX))


def snapshot_members(path: str | Path) -> tuple[str, ...]:
    """The members the snapshot's cluster had, as sorted "name=peer URL" entries (the name is
    empty for a member added but never started); () when the file records none."""
    found: set[str] = set()
    with BoltFile(path) as db:
        for name, items in db.buckets():
            if name != MEMBERS_BUCKET:
                continue
            for _member_id, value in items:
                try:
                    member = json.loads(bytes(value or b""))
                    urls = [str(u) for u in member.get("peerURLs") or ()]
                    found.update(f"{member.get('name') or ''}={url}" for url in urls)
                except (ValueError, AttributeError, TypeError):
                    raise SnapshotError(f"{path}: corrupt: members bucket entry") from None
    return tuple(sorted(found))


def snapshot_facts(path: str | Path, key: SnapshotKey | None) -> SnapshotFacts:
    """Verify the snapshot (raises SnapshotError, SnapshotKeyError or UsageError), with its
    FILE.sha256 sidecar when there is one."""
    mismatch = check_sidecar(Path(path))
    if mismatch:
        raise SnapshotError(f"{path}: {mismatch}: the file changed since it was saved")
    encrypted = is_encrypted(path)
    with plaintext(path, key) as clear:
        status = read_status(clear)
        return SnapshotFacts(
            path=str(path),
            sha256=sha256_file(clear),
            size=clear.stat().st_size,
            revision=status.revision,
            total_keys=status.total_keys,
            live_keys=live_key_count(clear),
            hash=status.hash,
            cluster_version=status.cluster_version,
            digest=status.digest,
            encrypted=encrypted,
            members=snapshot_members(clear),
        )


def empty_facts(path: Path) -> SnapshotFacts:
    """Stand-in facts for a snapshot that failed verification (the plan is blocked anyway)."""
    return SnapshotFacts(str(path), "?", 0, 0, 0, 0, 0, "", "absent", False)


def describe_facts(facts: SnapshotFacts) -> str:
    version = facts.cluster_version or "version not recorded"
    return (
        f"{facts.path}: revision {facts.revision}, {facts.live_keys} keys alive "
        f"({facts.total_keys} in every bucket), {human_bytes(facts.size)}, hash "
        f"{facts.hash:x}, etcd {version}, sha256 trailer {facts.digest}"
        + (", encrypted" if facts.encrypted else "")
    )
