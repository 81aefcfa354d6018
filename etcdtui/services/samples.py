"""Fixed cluster views for screenshots and snapshot tests: the screens, without the noise.

Each scenario is what a real 3.5 cluster reports; only the numbers are chosen to show a state
(healthy, a frozen member, a NOSPACE alarm). `history(...)` gives the 15 minutes before it.
"""

from __future__ import annotations

from dataclasses import replace

from etcdtui.models import (
    Alarm,
    ClusterView,
    Histogram,
    Member,
    MemberHealth,
    MemberMetrics,
    MemberStatus,
    MemberView,
)

TAKEN_AT = 1_764_072_000.0  # fixed, so screenshots do not drift
GIB = 1024**3
IDS = (0x8E9E05C52164694D, 0x91BC3C398FB3C146, 0xFD422379FDA50E48)
NAMES = ("node1", "node2", "node3")


def _histogram(p99_bucket: float, count: float = 5000.0) -> Histogram:
    bounds = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024)
    # Half the observations in the first bucket, 98.5% below the chosen bucket, all within it:
    # the p99 falls inside `p99_bucket`.
    cumulative = []
    for bound in bounds:
        share = 1.0 if bound >= p99_bucket else 0.985 if bound >= p99_bucket / 2 else 0.5
        cumulative.append((bound, count * share))
    cumulative.append((float("inf"), count))
    return Histogram(tuple(cumulative), count, count * p99_bucket / 4)


def _member(i: int, db_size: int, in_use: int, leader: int, *, quota: int = 2 * GIB,
            fsync: float = 0.004, applied_lag: int = 0) -> MemberView:  # fmt: skip
    endpoint = f"https://10.0.0.{11 + i}:2379"
    member = Member(
        id=IDS[i],
        name=NAMES[i],
        peer_urls=(f"https://10.0.0.{11 + i}:2380",),
        client_urls=(endpoint,),
    )
    status = MemberStatus(
        endpoint=endpoint,
        member_id=IDS[i],
        version="3.5.1",
        db_size=db_size,
        db_size_in_use=in_use,
        leader_id=IDS[leader],
        raft_term=7,
        raft_index=1_204_881,
        applied_index=1_204_881 - applied_lag,
    )
    peers = {format(IDS[j], "x"): _histogram(0.004) for j in range(3) if j != i}
    metrics = MemberMetrics(
        endpoint=endpoint,
        quota_bytes=quota,
        db_total_size=db_size,
        has_leader=True,
        leader_changes=1,
        wal_fsync=_histogram(fsync),
        backend_commit=_histogram(fsync * 2),
        peer_rtt=peers,
    )
    return MemberView(
        endpoint=endpoint,
        member=member,
        status=status,
        health=MemberHealth(endpoint, True, 0.0021),
        metrics=metrics,
    )


def healthy() -> ClusterView:
    members = (
        _member(0, 412_000_000, 318_000_000, 0),
        _member(1, 409_000_000, 318_000_000, 0),
        _member(2, 415_000_000, 318_000_000, 0, fsync=0.016),
    )
    return ClusterView("prod", members, taken_at=TAKEN_AT, duration=0.021)


def frozen_member() -> ClusterView:
    view = healthy()
    frozen = view.members[2]
    unreachable = MemberView(
        endpoint=frozen.endpoint,
        member=frozen.member,
        error=f"{frozen.endpoint}: timed out after 2.0 s",
    )
    return replace(view, members=(*view.members[:2], unreachable), duration=2.004)


def nospace() -> ClusterView:
    quota = 2 * GIB
    members = (
        _member(0, quota + 3_000_000, 1_300_000_000, 0),
        _member(1, int(quota * 0.97), 1_300_000_000, 0),
        _member(2, int(quota * 0.83), 1_300_000_000, 0),
    )
    unhealthy = replace(
        members[0],
        health=MemberHealth(members[0].endpoint, False, 0.002, "active alarm: NOSPACE"),
    )
    return ClusterView(
        "prod",
        (unhealthy, *members[1:]),
        alarms=(Alarm(IDS[0], "NOSPACE"),),
        taken_at=TAKEN_AT,
        duration=0.024,
    )


def _scaled(h: Histogram | None, factor: float) -> Histogram | None:
    """The same latencies, fewer of them: an earlier scrape of a steadily busy member."""
    if h is None:
        return None
    return Histogram(tuple((b, c * factor) for b, c in h.buckets), h.count * factor,
                     h.total * factor)  # fmt: skip


def _earlier_metrics(metrics: MemberMetrics | None, factor: float) -> MemberMetrics | None:
    if metrics is None:
        return None
    return replace(
        metrics,
        wal_fsync=_scaled(metrics.wal_fsync, factor),
        backend_commit=_scaled(metrics.backend_commit, factor),
        peer_rtt={p: h for p, h in ((p, _scaled(h, factor)) for p, h in metrics.peer_rtt.items())
                  if h is not None},
    )  # fmt: skip


def history(view: ClusterView, minutes: int = 15, step: float = 30.0) -> list[ClusterView]:
    """Earlier refreshes of `view`: databases growing towards their current size, and the
    latency histograms filling at a steady rate (so a window's p99 is the view's own)."""
    count = int(minutes * 60 / step)
    views = []
    for k in range(count):
        ago = count - k
        shrink = 1 - 0.004 * ago
        filled = 1 - 0.5 * ago / count
        members = tuple(
            replace(
                m,
                status=replace(m.status, db_size=int(m.status.db_size * shrink)),
                metrics=_earlier_metrics(m.metrics, filled),
            )
            if m.status is not None
            else m
            for m in view.members
        )
        views.append(replace(view, members=members, taken_at=view.taken_at - ago * step))
    return views


class FixedSource:
    """A ClusterSource that always answers with the same view."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    def read(self, metrics: bool = True, health: bool = True) -> ClusterView:
        return self.view

    def close(self) -> None:
        pass


SCENARIOS = {"healthy": healthy, "frozen-member": frozen_member, "nospace": nospace}
