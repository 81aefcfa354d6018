"""The last 15 minutes of a cluster: sizes, leader changes, and recent latency percentiles."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, replace

from etcdtui.models import ClusterView, Histogram, MemberMetrics

WINDOW = 15 * 60.0
# Percentiles over the last minute of observations, not since the member started.
LATENCY_WINDOW = 60.0


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

    def clear(self) -> None:
        self.samples.clear()

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

    def recent(self, member_id: int, current: MemberMetrics) -> MemberMetrics:
        """`current` with its histograms narrowed to the last minute of observations."""
        base = next(
            (
                s.metrics[member_id]
                for s in self.samples
                if member_id in s.metrics and s.at >= self.samples[-1].at - LATENCY_WINDOW
            ),
            None,
        )
        if base is None or base is current:
            return current

        def narrow(now: Histogram | None, then: Histogram | None) -> Histogram | None:
            if now is None or then is None:
                return now
            delta = now.minus(then)
            return delta if delta.count > 0 else now

        return MemberMetrics(
            endpoint=current.endpoint,
            quota_bytes=current.quota_bytes,
            db_total_size=current.db_total_size,
            has_leader=current.has_leader,
            leader_changes=current.leader_changes,
            wal_fsync=narrow(current.wal_fsync, base.wal_fsync),
            backend_commit=narrow(current.backend_commit, base.backend_commit),
            peer_rtt={
                to: narrow(h, base.peer_rtt.get(to)) or h for to, h in current.peer_rtt.items()
            },
        )


def human_duration(seconds: float) -> str:
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
