"""The last 15 minutes of a cluster: sizes, leader changes, and the p99 latencies of the last
minute, computed once per refresh."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from etcdtui.models import ClusterView, Histogram, MemberMetrics

WINDOW = 15 * 60.0
# Latency percentiles cover the observations of the last minute, never since the member
# started: one window, named on every screen that shows a p99.
LATENCY_WINDOW = 60.0


@dataclass(frozen=True)
class Latencies:
    """One member's p99 latencies for one refresh, over one window, in seconds.

    None where nothing was observed in the window (or before the second refresh).
    """

    wal_fsync: float | None = None
    backend_commit: float | None = None
    peer_rtt: Mapping[str, float | None] = field(default_factory=dict)  # by peer ID (hex)
    span: float | None = None  # seconds the window covers; None: one refresh so far

    @property
    def peer_rtt_max(self) -> float | None:
        """The slowest peer's round-trip p99."""
        values = [v for v in self.peer_rtt.values() if v is not None]
        return max(values) if values else None

    @property
    def window(self) -> str:
        """What follows "p99" on screen: "over the last 60 s"."""
        return window_label(self.span)

    @classmethod
    def of(cls, metrics: MemberMetrics, span: float | None = None) -> Latencies:
        """The p99s of these histograms as they are (for histograms that are a window's)."""
        return cls(
            wal_fsync=metrics.wal_fsync_p99,
            backend_commit=metrics.backend_commit_p99,
            peer_rtt={peer: h.quantile(0.99) for peer, h in metrics.peer_rtt.items()},
            span=span,
        )


@dataclass(frozen=True)
class Sample:
    at: float
    db_size: dict[int, int]  # member id -> bytes
    in_use: dict[int, int]
    leader_changes: dict[int, int]  # member id -> etcd_server_leader_changes_seen_total
    leader_id: int | None
    metrics: dict[int, MemberMetrics]


class History:
    """A rolling window of refreshes, fed by the poller, read by the dashboard."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self.samples: deque[Sample] = deque()
        self._latency: dict[int, Latencies] = {}

    def clear(self) -> None:
        self.samples.clear()
        self._latency = {}

    def add(self, view: ClusterView) -> None:
        sample = Sample(
            at=view.taken_at,
            db_size={
                m.member_id: m.status.db_size for m in view.members if m.status and m.member_id
            },
            in_use={
                m.member_id: m.status.db_size_in_use
                for m in view.members
                if m.status and m.member_id
            },
            leader_changes={
                m.member_id: m.metrics.leader_changes
                for m in view.members
                if m.metrics and m.member_id and m.metrics.leader_changes is not None
            },
            leader_id=view.leader.member_id if view.leader else None,
            metrics={m.member_id: m.metrics for m in view.members if m.metrics and m.member_id},
        )
        self.samples.append(sample)
        while self.samples and self.samples[0].at < sample.at - self.window:
            self.samples.popleft()
        # Histograms are read only over the latency window: older samples keep just their
        # sizes and counters (a refresh's histograms weigh ~60 KB).
        for index in range(len(self.samples) - 1, -1, -1):
            old = self.samples[index]
            if old.at >= sample.at - LATENCY_WINDOW - 5:
                continue
            if not old.metrics:
                break  # everything older was trimmed already
            self.samples[index] = replace(old, metrics={})
        self._latency = self._latencies()

    def series(self, member_id: int, what: str = "db_size") -> list[float]:
        """One member's db_size or in_use over the window, oldest first."""
        return [
            float(getattr(s, what)[member_id])
            for s in self.samples
            if member_id in getattr(s, what)
        ]

    def total_series(self, what: str = "db_size") -> list[float]:
        """The largest member's value per sample (the one that hits the quota first)."""
        return [float(max(getattr(s, what).values())) for s in self.samples if getattr(s, what)]

    def leader_changes(self) -> int | None:
        """Leader changes within the window: from etcd's counters, else from what we saw."""
        if len(self.samples) < 2:
            return None
        first, last = self.samples[0], self.samples[-1]
        counted = [
            last.leader_changes[m] - first.leader_changes[m]
            for m in last.leader_changes
            if m in first.leader_changes and last.leader_changes[m] >= first.leader_changes[m]
        ]
        if counted:
            return max(counted)
        seen = [s.leader_id for s in self.samples]
        # Only changes *to* a leader count: leader 1 -> none -> leader 2 is one election.
        return sum(1 for a, b in itertools.pairwise(seen) if b is not None and a != b)

    def leader_change_series(self) -> list[float]:
        """Cumulative leader changes per sample, for a sparkline."""
        base: dict[int, int] = {}
        out: list[float] = []
        for sample in self.samples:
            for member, value in sample.leader_changes.items():
                base.setdefault(member, value)
            diffs = [v - base[m] for m, v in sample.leader_changes.items()]
            out.append(float(max(diffs)) if diffs else 0.0)
        return out

    def quota_eta(self, quota: int | None) -> float | None:
        """Seconds until the largest member reaches `quota` at the growth seen in the window."""
        if not quota or len(self.samples) < 2:
            return None
        points = [(s.at, max(s.db_size.values())) for s in self.samples if s.db_size]
        if len(points) < 2:
            return None
        (t0, v0), (t1, v1) = points[0], points[-1]
        if t1 - t0 < 30 or v1 <= v0:
            return None  # too short a window, or not growing
        rate = (v1 - v0) / (t1 - t0)
        return max(quota - v1, 0) / rate

    def latency(self, member_id: int) -> Latencies | None:
        """This member's p99 latencies of the latest refresh (None if it gave no metrics).

        Computed once per refresh in `add`: every pane, the detail screen and the findings
        read these same numbers.
        """
        return self._latency.get(member_id)

    @property
    def latencies(self) -> Mapping[int, Latencies]:
        """Every member's p99 latencies of the latest refresh, by member ID."""
        return self._latency

    def _latencies(self) -> dict[int, Latencies]:
        last = self.samples[-1]
        found: dict[int, Latencies] = {}
        for member_id, current in last.metrics.items():
            # The oldest earlier refresh within the window: its counters are the baseline.
            base = next(
                (
                    s
                    for s in self.samples
                    if s is not last and member_id in s.metrics and s.at >= last.at - LATENCY_WINDOW
                ),
                None,
            )
            if base is None:
                found[member_id] = Latencies()  # one refresh: nothing measured yet
                continue
            then = base.metrics[member_id]
            found[member_id] = Latencies(
                wal_fsync=_p99_since(current.wal_fsync, then.wal_fsync),
                backend_commit=_p99_since(current.backend_commit, then.backend_commit),
                peer_rtt={
                    peer: _p99_since(h, then.peer_rtt.get(peer))
                    for peer, h in current.peer_rtt.items()
                },
                span=last.at - base.at,
            )
        return found


def _p99_since(now: Histogram | None, then: Histogram | None) -> float | None:
    """The p99 of what was observed since `then`; None when nothing was.

    A histogram absent before, or whose count went down (the member restarted), is all new.
    """
    if now is None:
        return None
    if then is None or now.count < then.count:
        return now.quantile(0.99)
    return now.minus(then).quantile(0.99)


def window_label(span: float | None) -> str:
    """The latency window as every screen names it after "p99": "over the last 60 s"
    (shorter just after start; within one refresh of 60 s counts as 60 s)."""
    if span is None:
        return "from the second refresh on"
    seconds = LATENCY_WINDOW if span >= LATENCY_WINDOW - 5 else span
    return f"over the last {seconds:.0f} s"


def human_duration(seconds: float) -> str:
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
