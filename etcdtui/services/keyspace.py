"""What is filling etcd: keys grouped by Kubernetes resource (or by path depth), the report
the CLI and the Keyspace screen show, and the checks that name the usual causes of growth.

Grouping. By default a key under /registry/ is grouped by its resource, and by namespace too
when its shape says the resource is namespaced: /registry/<resource>/<namespace>/<name>
groups as /registry/<resource>/<namespace>/, /registry/<resource>/<name> as
/registry/<resource>/. A resource whose first segment holds a dot is an API group's
(/registry/apiregistration.k8s.io/apiservices/<name>, custom resources), and takes one more
segment. Other keys are grouped by their first segment. `--depth N` groups every key by its
first N segments instead (counted from the root, the last segment of a key, its name, never
counted). A group is always a prefix ending in "/".

Pure logic: the numbers come from snapshots/keyspace.py (a snapshot file) or from
services/keyspace_live.py (a live scan).
"""

from __future__ import annotations

from dataclasses import dataclass

from etcdtui.models.severity import Severity
from etcdtui.snapshots.keyspace import Grouper, GroupTally, SnapshotKeyspace

REGISTRY = b"/registry/"
EVENTS = "/registry/events/"
EVENTS_SHARE = 0.5  # of all keys
GROUP_SHARE = 0.3  # of all bytes, held by one group
HISTORY_SHARE = 0.5  # of the database's size
CACHED_FOLDERS = 100_000


def kube_group(key: bytes) -> bytes:
    """The default group of `key`: Kubernetes-aware under /registry/, else its first segment."""
    if not key.startswith(REGISTRY):
        return depth_group(key, 1)
    rest = key[len(REGISTRY) :].split(b"/")
    width = 2 if len(rest) > 2 and b"." in rest[0] else 1  # <api group>/<resource>
    tail = rest[width:]
    if not tail:
        return REGISTRY  # /registry/<something> with nothing below it
    resource = REGISTRY + b"/".join(rest[:width]) + b"/"
    if len(tail) >= 2:  # <namespace>/<name>: a namespaced resource
        return resource + tail[0] + b"/"
    return resource


def depth_group(key: bytes, depth: int) -> bytes:
    """The first `depth` segments of `key`'s path, ending in "/" (b"" for a key without one)."""
    parts = key.split(b"/")[:-1]  # the last part is the key's own name
    keep = depth + 1 if key.startswith(b"/") else depth
    if not parts:
        return b""
    return b"/".join(parts[:keep]) + b"/"


def grouper(depth: int | None) -> Grouper:
    """The grouping function for `--depth` (None: the Kubernetes-aware default).

    Both groupings depend only on a key's folder (everything up to its last "/"), and a
    keyspace has far fewer folders than keys, so each folder's group is computed once.
    """
    plain: Grouper = kube_group if depth is None else (lambda key: depth_group(key, depth))
    cache: dict[bytes, bytes] = {}

    def group_of(key: bytes) -> bytes:
        folder = key[: key.rfind(b"/") + 1]
        group = cache.get(folder)
        if group is None:
            if len(cache) >= CACHED_FOLDERS:
                cache.clear()
            group = cache[folder] = plain(key)
        return group

    return group_of


def drill_down(group: str, depth: int | None) -> tuple[str, int]:
    """The prefix and depth that show what is inside `group` one level further down."""
    segments = group.strip("/").count("/") + 1 if group.strip("/") else 0
    return group, max(segments + 1, (depth or 0) + 1)


def shown(data: bytes) -> str:
    """A key or prefix as text (bytes that are not UTF-8 as \\x escapes)."""
    return data.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class GroupRow:
    """One group of the report. History fields are None in live mode."""

    prefix: str
    keys: int
    bytes: int
    history_revisions: int | None = None
    history_bytes: int | None = None
    tombstones: int | None = None
    share: float | None = None  # of the snapshot file: every entry of the group, as stored
    leased_keys: int | None = None


@dataclass(frozen=True)
class Finding:
    """One check that fired: what it found, how bad, and the fix."""

    check: str
    severity: Severity
    message: str
    fix: str


@dataclass(frozen=True)
class LiveFacts:
    """How a live scan was made: its member, pace, value sizes and whether it finished."""

    endpoint: str
    rate_limit: float  # keys per second, at most
    keys_per_second: float
    seconds: float
    sample_size: int | None  # values read per group; None: every value (--exact)
    complete: bool  # False when stopped (ctrl+c) before the end


@dataclass(frozen=True)
class SnapshotFacts:
    """What only a snapshot tells: sizes and leases."""

    file_size: int
    db_size: int
    leases: int
    leased_keys: int
    leases_without_keys: int


@dataclass(frozen=True)
class KeyspaceReport:
    """The keyspace by group, biggest first, with totals and the checks that fired."""

    source: str  # the snapshot file, or the member's client URL
    revision: int
    prefix: str
    groups: tuple[GroupRow, ...]  # every group, sorted by bytes then keys
    total: GroupRow
    live: LiveFacts | None = None
    snapshot: SnapshotFacts | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def mode(self) -> str:
        return "snapshot" if self.snapshot is not None else "live"

    def top(self, count: int | None) -> tuple[GroupRow, ...]:
        """The `count` biggest groups (all of them for None)."""
        return self.groups if count is None else self.groups[:count]


def _sorted(rows: list[GroupRow]) -> tuple[GroupRow, ...]:
    return tuple(sorted(rows, key=lambda r: (-r.bytes, -r.keys, r.prefix)))


def _snapshot_row(prefix: str, tally: GroupTally, file_size: int) -> GroupRow:
    return GroupRow(
        prefix=prefix,
        keys=tally.keys,
        bytes=tally.bytes,
        history_revisions=tally.history_revisions,
        history_bytes=tally.history_bytes,
        tombstones=tally.tombstones,
        share=tally.stored_bytes / file_size if file_size else 0.0,
        leased_keys=tally.leased_keys,
    )


def snapshot_report(found: SnapshotKeyspace, prefix: str = "") -> KeyspaceReport:
    """The report of a snapshot read, with its checks."""
    rows = [_snapshot_row(shown(g), t, found.file_size) for g, t in found.groups.items()]
    everything = GroupTally()
    for tally in found.groups.values():
        for name in vars(everything):
            setattr(everything, name, getattr(everything, name) + getattr(tally, name))
    facts = SnapshotFacts(
        file_size=found.file_size,
        db_size=found.db_size,
        leases=found.leases,
        leased_keys=found.leased_keys,
        leases_without_keys=len(found.lease_ids_without_keys),
    )
    report = KeyspaceReport(
        source=found.path,
        revision=found.revision,
        prefix=prefix,
        groups=_sorted([r for r in rows if r.keys or r.history_revisions or r.tombstones]),
        total=_snapshot_row(prefix, everything, found.file_size),
        snapshot=facts,
    )
    return with_findings(report)


def live_report(
    source: str, revision: int, prefix: str, rows: list[GroupRow], facts: LiveFacts
) -> KeyspaceReport:
    """The report of a live scan, with its checks."""
    total = GroupRow(prefix, sum(r.keys for r in rows), sum(r.bytes for r in rows))
    report = KeyspaceReport(source, revision, prefix, _sorted(rows), total, live=facts)
    return with_findings(report)


def findings(report: KeyspaceReport) -> tuple[Finding, ...]:
    """The common causes of growth this report shows, each with its fix."""
    found: list[Finding] = []
    total = report.total
    events = sum(r.keys for r in report.groups if r.prefix.startswith(EVENTS))
    if total.keys and events > EVENTS_SHARE * total.keys:
        found.append(Finding(
            "events", Severity.WARN,
            f"events are {events / total.keys:.0%} of the keys ({events} of {total.keys})",
            "lower kube-apiserver's --event-ttl (default 1h), e.g. --event-ttl=30m, and find "
            "what emits so many events",
        ))  # fmt: skip
    biggest = report.groups[0] if report.groups else None
    if biggest and len(report.groups) > 1 and biggest.bytes > GROUP_SHARE * total.bytes:
        found.append(Finding(
            "big-group", Severity.WARN,
            f"{biggest.prefix} holds {biggest.bytes / total.bytes:.0%} of the bytes",
            f"drill into {biggest.prefix} (etcdtui keyspace --prefix {biggest.prefix}): a "
            "runaway controller or custom resource, or one namespace, usually explains it",
        ))  # fmt: skip
    snap = report.snapshot
    if snap and total.history_bytes and total.history_bytes > HISTORY_SHARE * snap.db_size:
        found.append(Finding(
            "history", Severity.CRITICAL,
            f"old revisions and tombstones hold {total.history_bytes / snap.db_size:.0%} of "
            "the database: compaction is not running",
            "check kube-apiserver's --etcd-compaction-interval (default 5m; 0 turns it off), "
            "or compact by hand (etcdctl compact REVISION), then defragment",
        ))  # fmt: skip
    if snap and snap.leases_without_keys:
        found.append(Finding(
            "idle-leases", Severity.WARN,
            f"{snap.leases_without_keys} of {snap.leases} leases have no keys attached",
            "find the client that grants leases it never uses (etcdctl lease list; "
            "etcdctl lease timetolive ID --keys); revoke them with etcdctl lease revoke ID",
        ))  # fmt: skip
    return tuple(found)


def with_findings(report: KeyspaceReport) -> KeyspaceReport:
    """`report` with its checks run."""
    from dataclasses import replace

    return replace(report, findings=findings(report))
