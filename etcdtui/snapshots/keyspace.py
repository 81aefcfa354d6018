"""What fills a snapshot: its keys by group, with their history, tombstones and leases.

Read offline with the project's bbolt reader (no etcd process). etcd's "key" bucket holds
every revision the snapshot still has, in revision order: bucket keys are 8-byte main
revision, "_", 8-byte sub revision, and a trailing "t" for a deletion; each value is an
encoded mvccpb.KeyValue (1 key, 2 create_revision, 3 mod_revision, 4 version, 5 value,
6 lease). The newest revision of a user key is what a range at the snapshot's revision
serves; every older one, and a deletion's tombstone, is what a compaction at that revision
frees. The "lease" bucket holds one entry per lease, keyed by its 8-byte big-endian ID.

Memory stays at one small record per user key (its key bytes and one packed integer), so a
snapshot of a million keys reads in well under the 300 MB the benchmark allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from etcdtui.snapshots.bolt import BoltFile, Items

if TYPE_CHECKING:
    from etcdtui.snapshots.crypto import SnapshotKey  # cryptography: only for a snapshot file

KEY_BUCKET = b"key"
LEASE_BUCKET = b"lease"
REVISION_SIZE = 17  # 8 + 1 + 8; one more byte ("t") marks a tombstone
TOMBSTONE = ord("t")

# What is remembered of a user key's newest revision, packed into one integer:
# stored bytes (revision key + encoded KeyValue) | value length << 40 | tombstone << 80 |
# lease << 81. 40 bits hold any value etcd accepts.
_SIZE_BITS = 40
_SIZE_MASK = (1 << _SIZE_BITS) - 1
_TOMB_SHIFT = 2 * _SIZE_BITS
_LEASE_SHIFT = _TOMB_SHIFT + 1

Grouper = Callable[[bytes], bytes]


@dataclass
class GroupTally:
    """What one group of keys holds. Live keys only, except where a field says otherwise."""

    keys: int = 0
    key_bytes: int = 0  # len(key) of each live key
    value_bytes: int = 0  # len(value) of each live key's newest revision
    history_revisions: int = 0  # revisions older than their key's newest (snapshot only)
    history_bytes: int = 0  # what a compaction frees: old revisions and tombstones, as stored
    tombstones: int = 0  # keys whose newest revision is a deletion (snapshot only)
    stored_bytes: int = 0  # every entry of the group in the key bucket, as stored
    leased_keys: int = 0  # live keys attached to a lease (snapshot only)

    @property
    def bytes(self) -> int:
        """Key and value bytes of the live keys: what a range over the group returns."""
        return self.key_bytes + self.value_bytes


@dataclass
class SnapshotKeyspace:
    """A snapshot's keyspace by group, plus its leases and sizes."""

    path: str
    revision: int
    file_size: int
    db_size: int  # bbolt's high-water mark times its page size
    groups: dict[bytes, GroupTally] = field(default_factory=dict)
    leases: int = 0
    leased_keys: int = 0
    lease_ids_without_keys: tuple[int, ...] = ()


_WINDOW = 512  # bytes of a value copied at a time while its fields are read
_SLACK = 22  # room for a tag and a varint of up to 10 bytes each


def _usual(buf: bytes, data: memoryview, end: int) -> tuple[bytes, int, int] | None:
    """The fast path for what etcd writes: key, three varints, value, and perhaps a lease,
    in that order, the fields up to the value's length within `buf`; None otherwise."""
    try:
        size = buf[1]
        if buf[0] != 0x0A or size & 0x80:
            return None
        i = 2 + size
        key = buf[2:i]
        for tag in (0x10, 0x18, 0x20):  # create_revision, mod_revision, version
            if buf[i] == tag:
                i += 1
                while buf[i] & 0x80:
                    i += 1
                i += 1
        if buf[i] != 0x2A:
            return None
        value_size = buf[i + 1]
        i += 2
        if value_size & 0x80:
            value_size &= 0x7F
            shift = 7
            while True:
                byte = buf[i]
                i += 1
                value_size |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
        i += value_size
    except IndexError:
        return None
    if len(key) != size or i > end:
        return None
    if i == end:
        return key, value_size, 0
    if data[i] != 0x30 or end - i > 11:
        return None
    encoded = bytes(data[i + 1 : end])
    if not encoded or encoded[-1] & 0x80:
        return None
    lease = shift = 0
    for byte in encoded:
        lease |= (byte & 0x7F) << shift
        shift += 7
    return key, value_size, lease


def decode_key_value(data: memoryview) -> tuple[bytes, int, int]:
    """(key, value length, lease) of an encoded mvccpb.KeyValue; ValueError when malformed.

    Fields are read from a small copied window of `data` (indexing bytes is much faster
    than indexing a memoryview); a value's own bytes are skipped, never copied.
    """
    end = len(data)
    base, buf = 0, bytes(data[:_WINDOW])
    usual = _usual(buf, data, end)
    if usual is not None:
        return usual
    key: bytes | None = None
    value_size = lease = pos = 0
    try:
        while pos < end:
            if pos - base + _SLACK > len(buf) and base + len(buf) < end:
                base, buf = pos, bytes(data[pos : pos + _WINDOW])
            i = pos - base
            tag = shift = 0
            while True:
                byte = buf[i]
                i += 1
                tag |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
            wire = tag & 7
            if wire == 0 or wire == 2:
                number = shift = 0
                while True:
                    if shift > 63:
                        raise ValueError("varint longer than 10 bytes")
                    byte = buf[i]
                    i += 1
                    number |= (byte & 0x7F) << shift
                    if not byte & 0x80:
                        break
                    shift += 7
                pos = base + i
                if wire == 2:
                    if pos + number > end:
                        raise ValueError(f"field {tag >> 3} runs past the value")
                    if tag == 0x0A:  # 1: key
                        key = bytes(data[pos : pos + number])
                    elif tag == 0x2A:  # 5: value
                        value_size = number
                    pos += number
                elif tag == 0x30:  # 6: lease
                    lease = number
            elif wire == 1:
                pos = base + i + 8
            elif wire == 5:
                pos = base + i + 4
            else:
                raise ValueError(f"wire type {wire}")
    except IndexError:
        raise ValueError("truncated field") from None
    if key is None or pos > end:
        raise ValueError("no key field" if key is None else "truncated field")
    return key, value_size, lease


def _tally(groups: dict[bytes, GroupTally], group: bytes) -> GroupTally:
    tally = groups.get(group)
    if tally is None:
        tally = groups[group] = GroupTally()
    return tally


def _read_key_bucket(
    db: BoltFile, items: Items, prefix: bytes, group_of: Grouper, groups: dict[bytes, GroupTally]
) -> tuple[dict[bytes, int], int]:
    """Walk the key bucket: the newest revision of each user key (packed), and the revision.

    Superseded revisions are added to their group's history as they are met.
    """
    newest: dict[bytes, int] = {}
    last: memoryview | None = None
    for rev_key, value in items:
        if value is None or len(rev_key) < REVISION_SIZE:
            raise db.corrupt(f"key bucket: {bytes(rev_key)!r} is not a revision")
        try:
            key, value_size, lease = decode_key_value(value)
        except ValueError as exc:
            raise db.corrupt(f"key bucket value: {exc}") from None
        last = rev_key
        if prefix and not key.startswith(prefix):
            continue
        tomb = len(rev_key) > REVISION_SIZE and rev_key[REVISION_SIZE] == TOMBSTONE
        stored = len(rev_key) + len(value)
        before = newest.get(key)
        if before is not None:
            tally = _tally(groups, group_of(key))
            tally.history_revisions += 1
            tally.history_bytes += before & _SIZE_MASK
            tally.stored_bytes += before & _SIZE_MASK
        newest[key] = (
            stored | value_size << _SIZE_BITS | tomb << _TOMB_SHIFT | lease << _LEASE_SHIFT
        )
    # Revisions only grow along the bucket: the last one is the snapshot's.
    return newest, int.from_bytes(last[:8], "big") if last is not None else 0


def _count_newest(
    newest: dict[bytes, int], group_of: Grouper, groups: dict[bytes, GroupTally]
) -> set[int]:
    """Add each key's newest revision to its group; the leases the live keys are attached to."""
    used: set[int] = set()
    for key, packed in newest.items():
        tally = _tally(groups, group_of(key))
        stored = packed & _SIZE_MASK
        tally.stored_bytes += stored
        if packed >> _TOMB_SHIFT & 1:
            tally.tombstones += 1
            tally.history_bytes += stored
            continue
        tally.keys += 1
        tally.key_bytes += len(key)
        tally.value_bytes += packed >> _SIZE_BITS & _SIZE_MASK
        lease = packed >> _LEASE_SHIFT
        if lease:
            tally.leased_keys += 1
            used.add(lease)
    return used


def read_keyspace(path: str | Path, group_of: Grouper, prefix: bytes = b"") -> SnapshotKeyspace:
    """The keyspace of the plaintext snapshot at `path`, keys under `prefix` grouped by
    `group_of` (which maps a user key to its group's prefix).

    Raises UsageError for a path that is not a file, SnapshotError for a damaged one.
    """
    groups: dict[bytes, GroupTally] = {}
    newest: dict[bytes, int] = {}
    revision = 0
    lease_ids: list[int] = []
    with BoltFile(path) as db:
        file_size, db_size = db.file_size, db.size
        for name, items in db.buckets():
            if name == KEY_BUCKET:
                newest, revision = _read_key_bucket(db, items, prefix, group_of, groups)
            elif name == LEASE_BUCKET:
                lease_ids = [int.from_bytes(lease_id, "big") for lease_id, _ in items]
    used = _count_newest(newest, group_of, groups)
    del newest
    # A lease whose keys all lie outside `prefix` is not "without keys": only say so of a
    # whole-keyspace read.
    without = tuple(sorted(set(lease_ids) - used)) if not prefix else ()
    return SnapshotKeyspace(
        path=str(path),
        revision=revision,
        file_size=file_size,
        db_size=db_size,
        groups=groups,
        leases=len(lease_ids),
        leased_keys=sum(t.leased_keys for t in groups.values()),
        lease_ids_without_keys=without,
    )


def snapshot_keyspace(
    path: str | Path, key: SnapshotKey | None, group_of: Grouper, prefix: bytes = b""
) -> SnapshotKeyspace:
    """`read_keyspace` of a plain or etcdtui-encrypted snapshot (SnapshotKeyError without the
    right key); the result names the file as given, not a decrypted copy."""
    from etcdtui.snapshots.crypto import plaintext

    with plaintext(path, key) as clear:
        found = read_keyspace(clear, group_of, prefix)
    found.path = str(path)
    return found
