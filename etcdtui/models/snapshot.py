"""Snapshot files: what `etcdctl snapshot status` reports, and what etcdtui adds to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SnapshotStatus:
    """A snapshot's contents, computed the way `etcdctl snapshot status` computes them.

    `hash` is the CRC-32C over every bucket name, key and value (etcdctl's HASH);
    `revision` the newest revision in the key bucket; `total_keys` the keys of every bucket;
    `total_size` the bolt database's size (its pages, not the file's length).
    """

    hash: int
    revision: int
    total_keys: int
    total_size: int
    # The cluster version recorded in the database ("3.5.0"), "" when it holds none.
    cluster_version: str = ""
    # The sha256 etcd appends to every snapshot taken through its API: "ok" when present and
    # right, "absent" for a bare copy of member/snap/db (a wrong one is an error, not a status).
    digest: str = "absent"

    @property
    def hash_hex(self) -> str:
        """HASH as etcdctl prints it in a table."""
        return format(self.hash, "x")


@dataclass(frozen=True)
class SnapshotEntry:
    """One file of the snapshot catalogue."""

    path: str
    file_size: int
    modified: float  # seconds since the epoch
    encrypted: bool
    status: SnapshotStatus | None  # None: not verified (encrypted without a key, say)
    problem: str = ""  # why it could not be verified, or why it is corrupt

    @property
    def verified(self) -> bool:
        return self.status is not None and not self.problem
