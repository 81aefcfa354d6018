"""What etcdtui knows about a cluster at one moment."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Member:
    """One entry of `member list`."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool = False

    @property
    def id_hex(self) -> str:
        """The ID as etcdctl prints it in tables (lower-case hex, no padding)."""
        return format(self.id, "x")

    @property
    def started(self) -> bool:
        # etcd fills in the name and client URLs only once the member has started and published.
        return bool(self.name)


@dataclass(frozen=True)
class MemberStatus:
    """One endpoint's answer to `Maintenance.Status`."""

    endpoint: str
    member_id: int
    version: str
    db_size: int
    db_size_in_use: int
    leader_id: int
    raft_term: int
    raft_index: int
    applied_index: int
    is_learner: bool = False
    errors: tuple[str, ...] = ()
    revision: int = 0

    @property
    def is_leader(self) -> bool:
        return self.member_id != 0 and self.member_id == self.leader_id

    @property
    def db_size_free(self) -> int:
        return max(self.db_size - self.db_size_in_use, 0)

    @property
    def fragmentation(self) -> float:
        """Share of the database file that defragmentation would give back."""
        return 1 - self.db_size_in_use / self.db_size if self.db_size else 0.0


@dataclass(frozen=True)
class MemberHealth:
    """`etcdctl endpoint health` for one endpoint: a linearizable read and no alarm."""

    endpoint: str
    healthy: bool
    took: float
    error: str = ""
    # False when the read itself failed; an alarm alone makes a member unhealthy but not down.
    read_ok: bool = True


@dataclass(frozen=True)
class Alarm:
    """An active alarm (NOSPACE, CORRUPT) raised by one member."""

    member_id: int
    kind: str


@dataclass(frozen=True)
class Histogram:
    """A Prometheus histogram: cumulative bucket counts by upper bound, in seconds."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    total: float

    def quantile(self, q: float) -> float | None:
        """The q-quantile, interpolated inside its bucket as Prometheus does; None if empty."""
        if self.count <= 0 or not self.buckets:
            return None
        rank = q * self.count
        lower_bound, lower_count = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower_bound
                width = cumulative - lower_count
                if width <= 0:
                    return bound
                return lower_bound + (bound - lower_bound) * (rank - lower_count) / width
            lower_bound, lower_count = bound, cumulative
        return lower_bound

    def minus(self, earlier: Histogram) -> Histogram:
        """The observations made since `earlier` (same buckets), for a recent p99."""
        before = dict(earlier.buckets)
        return Histogram(
            buckets=tuple((b, max(c - before.get(b, 0.0), 0.0)) for b, c in self.buckets),
            count=max(self.count - earlier.count, 0.0),
            total=max(self.total - earlier.total, 0.0),
        )


@dataclass(frozen=True)
class MemberMetrics:
    """The few figures etcdtui reads from one member's /metrics."""

    endpoint: str
    quota_bytes: int | None = None
    db_total_size: int | None = None
    has_leader: bool | None = None
    leader_changes: int | None = None
    wal_fsync: Histogram | None = None
    backend_commit: Histogram | None = None
    peer_rtt: dict[str, Histogram] = field(default_factory=dict)

    @property
    def wal_fsync_p99(self) -> float | None:
        return self.wal_fsync.quantile(0.99) if self.wal_fsync else None

    @property
    def backend_commit_p99(self) -> float | None:
        return self.backend_commit.quantile(0.99) if self.backend_commit else None

    @property
    def peer_rtt_p99(self) -> float | None:
        """The slowest peer's round-trip p99."""
        values = [v for h in self.peer_rtt.values() if (v := h.quantile(0.99)) is not None]
        return max(values) if values else None


@dataclass(frozen=True)
class MemberView:
    """Everything known about one member (or one configured endpoint) after a refresh."""

    endpoint: str
    member: Member | None = None
    status: MemberStatus | None = None
    health: MemberHealth | None = None
    metrics: MemberMetrics | None = None
    error: str = ""

    @property
    def reachable(self) -> bool:
        return self.status is not None

    @property
    def name(self) -> str:
        if self.member is not None and self.member.name:
            return self.member.name
        return "(unstarted)" if self.member is not None else (self.endpoint or "?")

    @property
    def member_id(self) -> int | None:
        if self.member is not None:
            return self.member.id
        return self.status.member_id if self.status is not None else None

    @property
    def is_leader(self) -> bool:
        return self.status is not None and self.status.is_leader

    @property
    def is_learner(self) -> bool:
        if self.member is not None and self.member.is_learner:
            return True
        return self.status is not None and self.status.is_learner

    @property
    def healthy(self) -> bool:
        return self.health is not None and self.health.healthy

    @property
    def problem(self) -> str:
        """Why the member is not healthy, in one line ("" when it is)."""
        return self.error or (self.health.error if self.health is not None else "")


@dataclass(frozen=True)
class ClusterView:
    """One refresh of a whole cluster."""

    cluster: str
    members: tuple[MemberView, ...]
    alarms: tuple[Alarm, ...] = ()
    taken_at: float = 0.0
    duration: float = 0.0
    error: str = ""
    # How the members were reached: "direct" or "ssh"; `notes` say what changed on the way
    # (a node that forbids forwarding, so etcdctl runs there instead).
    via: str = "direct"
    notes: tuple[str, ...] = ()

    @property
    def leader(self) -> MemberView | None:
        return next((m for m in self.members if m.is_leader), None)

    @property
    def voting_members(self) -> tuple[MemberView, ...]:
        # An endpoint that never answered and matches no listed member is not counted (it may
        # not be a member at all), unless no member list is known.
        known = [m for m in self.members if m.member is not None or m.status is not None]
        return tuple(m for m in (known or self.members) if not m.is_learner)

    @property
    def quorum(self) -> int:
        return len(self.voting_members) // 2 + 1

    @property
    def tolerates(self) -> int:
        """How many voting members may fail while the cluster keeps quorum."""
        return max(len(self.voting_members) - self.quorum, 0)

    @property
    def down(self) -> int:
        """Voting members that do not answer, or (while there is a leader) cannot serve a
        linearizable read. Without a leader every read fails: that is "no leader", not every
        member down."""
        has_leader = self.leader is not None
        return sum(
            1
            for m in self.voting_members
            if not m.reachable or (has_leader and m.health is not None and not m.health.read_ok)
        )

    @property
    def healthy(self) -> bool:
        return (
            not self.error
            and bool(self.members)
            and all(m.healthy for m in self.members)
            and not self.alarms
            and self.leader is not None
        )

    def alarms_for(self, member_id: int | None) -> tuple[Alarm, ...]:
        return tuple(a for a in self.alarms if a.member_id == member_id)
