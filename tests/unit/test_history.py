"""History: the rolling 15-minute window behind the dashboard's trends and recent latencies."""

from __future__ import annotations

import pytest

from etcdtui.models import (
    ClusterView,
    Histogram,
    Member,
    MemberHealth,
    MemberMetrics,
    MemberStatus,
    MemberView,
)
from etcdtui.services.history import History, human_duration, window_label

IDS = (0x8E9E05C52164694D, 0x91BC3C398FB3C146, 0xFD422379FDA50E48)
INF = float("inf")


def view_at(
    t: float,
    sizes: tuple[int | None, ...] = (1000, 1000, 1000),
    *,
    leader: int = 1,
    changes: tuple[int | None, ...] | None = None,
    metrics: tuple[MemberMetrics | None, ...] | None = None,
) -> ClusterView:
    """A 3-member refresh taken at `t`; a size of None means that member did not answer."""
    members = []
    for i, size in enumerate(sizes):
        endpoint = f"http://127.0.0.1:{2379 + 10 * i}"
        member = Member(IDS[i], f"node{i + 1}", (), (endpoint,))
        if size is None:
            members.append(MemberView(endpoint, member, error="timeout"))
            continue
        status = MemberStatus(
            endpoint, IDS[i], "3.5.1", size, size // 2, IDS[leader - 1] if leader else 0, 3, 9, 9
        )
        m = metrics[i] if metrics else None
        if changes is not None:
            m = MemberMetrics(endpoint, leader_changes=changes[i])
        health = MemberHealth(endpoint, True, 0.002)
        members.append(MemberView(endpoint, member, status, health, m))
    return ClusterView("lab", tuple(members), taken_at=t)


def history_of(*views: ClusterView) -> History:
    history = History()
    for view in views:
        history.add(view)
    return history


# --- the window ------------------------------------------------------------------------------


def test_samples_older_than_15_minutes_are_dropped() -> None:
    history = history_of(*(view_at(t) for t in (0, 300, 600, 900)))
    assert [s.at for s in history.samples] == [0, 300, 600, 900]
    history.add(view_at(901))
    assert [s.at for s in history.samples] == [300, 600, 900, 901]
    history.add(view_at(2000))
    assert [s.at for s in history.samples] == [2000]


def test_a_sample_exactly_15_minutes_old_is_kept() -> None:
    assert len(history_of(view_at(0), view_at(900)).samples) == 2


def test_clear_forgets_everything() -> None:
    history = history_of(view_at(0), view_at(10))
    history.clear()
    assert history.leader_changes() is None and history.total_series() == []


# --- series ----------------------------------------------------------------------------------


def test_series_is_one_members_size_oldest_first() -> None:
    history = history_of(view_at(0, (10, 20, 30)), view_at(2, (11, 22, 33)))
    assert history.series(IDS[1]) == [20.0, 22.0]
    assert history.series(IDS[2], "in_use") == [15.0, 16.0]


def test_series_skips_refreshes_where_the_member_did_not_answer() -> None:
    history = history_of(view_at(0, (10, 20, 30)), view_at(2, (11, None, 33)), view_at(4))
    assert history.series(IDS[1]) == [20.0, 1000.0]
    assert history.series(0x1234) == []


def test_total_series_follows_the_largest_member() -> None:
    history = history_of(view_at(0, (10, 50, 30)), view_at(2, (70, 50, None)))
    assert history.total_series() == [50.0, 70.0]
    assert history.total_series("in_use") == [25.0, 35.0]


def test_total_series_skips_refreshes_where_nobody_answered() -> None:
    history = history_of(view_at(0, (None, None, None)), view_at(2, (5, 6, 7)))
    assert history.total_series() == [7.0]


# --- leader changes --------------------------------------------------------------------------


def test_leader_changes_are_unknown_with_fewer_than_two_samples() -> None:
    assert History().leader_changes() is None
    assert history_of(view_at(0, changes=(3, 3, 3))).leader_changes() is None


def test_leader_changes_from_counters_take_the_largest_increase_over_members() -> None:
    history = history_of(
        view_at(0, changes=(1, 1, 2)),
        view_at(60, changes=(2, 2, 2)),
        view_at(120, changes=(3, 4, 2)),
    )
    assert history.leader_changes() == 3


def test_leader_changes_ignore_a_counter_that_reset_after_a_restart() -> None:
    history = history_of(view_at(0, changes=(9, 1, 1)), view_at(60, changes=(0, 2, 2)))
    assert history.leader_changes() == 1


def test_leader_changes_counters_win_over_observed_leaders() -> None:
    history = history_of(view_at(0, changes=(5, 5, 5)), view_at(2, leader=2, changes=(5, 5, 5)))
    assert history.leader_changes() == 0


def test_leader_changes_from_observed_leaders_when_counters_are_missing() -> None:
    leaders = (1, 1, 2, 2, 3, 3, 1)
    history = history_of(*(view_at(t, leader=lead) for t, lead in enumerate(leaders)))
    assert history.leader_changes() == 3


def test_steady_leader_without_counters_is_zero_changes() -> None:
    assert history_of(view_at(0), view_at(2), view_at(4)).leader_changes() == 0


def test_one_election_seen_mid_way_counts_as_one_leader_change() -> None:
    history = history_of(view_at(0, leader=1), view_at(2, leader=0), view_at(4, leader=2))
    assert history.leader_changes() == 1


def test_leader_change_series_is_cumulative_per_refresh() -> None:
    history = history_of(
        view_at(0, changes=(4, 4, 4)),
        view_at(2, changes=(4, 5, 5)),
        view_at(4, changes=(6, 5, 5)),
    )
    assert history.leader_change_series() == [0.0, 1.0, 2.0]


# --- time until the quota --------------------------------------------------------------------


def growing(seconds: range, rate: int, start: int = 1_000_000) -> History:
    return history_of(*(view_at(t, (start + rate * t, 10, 10)) for t in seconds))


def test_quota_eta_for_linear_growth() -> None:
    history = growing(range(0, 121, 10), rate=10_000)  # largest member ends at 2.2 MB
    assert history.quota_eta(10_000_000) == pytest.approx((10_000_000 - 2_200_000) / 10_000)


def test_quota_eta_is_zero_when_already_over_quota() -> None:
    assert growing(range(0, 61, 30), rate=10_000).quota_eta(1_000_000) == 0


def test_quota_eta_needs_at_least_30_seconds_of_window() -> None:
    assert growing(range(0, 30, 1), rate=10_000).quota_eta(10_000_000) is None
    assert growing(range(0, 31, 30), rate=10_000).quota_eta(10_000_000) == pytest.approx(870)


@pytest.mark.parametrize("rate", [0, -5_000])
def test_quota_eta_is_none_when_not_growing(rate: int) -> None:
    assert growing(range(0, 301, 60), rate=rate).quota_eta(10_000_000) is None


def test_quota_eta_is_none_without_a_quota_or_samples() -> None:
    assert growing(range(0, 301, 60), rate=100).quota_eta(None) is None
    assert growing(range(0, 301, 60), rate=100).quota_eta(0) is None
    assert History().quota_eta(10_000_000) is None
    assert history_of(view_at(0, (None, None, None)), view_at(60)).quota_eta(10**9) is None


def test_human_duration_picks_minutes_hours_or_days() -> None:
    assert human_duration(780) == "13 min"
    assert human_duration(89 * 60) == "89 min"
    assert human_duration(90 * 60) == "2 h"
    assert human_duration(47 * 3600) == "47 h"
    assert human_duration(5 * 86400) == "5 days"


# --- recent latencies ------------------------------------------------------------------------


def fsync(fast: float, slow: float) -> Histogram:
    """Cumulative fsync histogram: `fast` observations under 1 ms, `slow` in (0.5 s, 1 s]."""
    total = fast + slow
    buckets = ((0.001, fast), (0.5, fast), (1.0, total), (INF, total))
    return Histogram(buckets, total, fast * 0.0005 + slow * 0.75)


def scraped(wal: Histogram, peer: Histogram | None = None) -> MemberMetrics:
    peers = {"fd422379fda50e48": peer} if peer is not None else {}
    return MemberMetrics("e", quota_bytes=2**31, leader_changes=2, wal_fsync=wal, peer_rtt=peers)


def feed(points: dict[float, MemberMetrics]) -> History:
    return history_of(*(view_at(t, metrics=(m, None, None)) for t, m in points.items()))


def test_latency_is_the_p99_of_the_last_minute_of_observations() -> None:
    points = {
        0: scraped(fsync(80_000, 0)),
        20: scraped(fsync(90_000, 0)),  # older than a minute at t=90: not the base
        30: scraped(fsync(100_000, 0)),
        60: scraped(fsync(100_000, 50)),
        90: scraped(fsync(100_000, 100)),
    }
    history = feed(points)
    now = points[90]
    assert now.wal_fsync_p99 == pytest.approx(0.001 * 99_099 / 100_000)  # since start: fast
    latency = history.latency(IDS[0])
    assert latency is not None
    assert latency.wal_fsync == pytest.approx(fsync(0, 100).quantile(0.99))
    assert latency.wal_fsync == pytest.approx(0.5 + 0.5 * 0.99)
    assert latency.span == 60.0 and latency.window == "over the last 60 s"


def test_latency_is_computed_once_per_refresh() -> None:
    history = feed({0: scraped(fsync(10, 0)), 30: scraped(fsync(20, 0))})
    first = history.latency(IDS[0])
    assert history.latency(IDS[0]) is first  # read, never recomputed
    assert history.latencies[IDS[0]] is first
    history.add(view_at(40, metrics=(scraped(fsync(20, 5)), None, None)))
    assert history.latency(IDS[0]) is not first


def test_latency_of_each_peer_round_trip() -> None:
    history = feed(
        {0: scraped(fsync(10, 0), fsync(1000, 0)), 30: scraped(fsync(20, 0), fsync(1000, 10))}
    )
    latency = history.latency(IDS[0])
    assert latency is not None
    assert latency.peer_rtt["fd422379fda50e48"] == pytest.approx(fsync(0, 10).quantile(0.99))
    assert latency.peer_rtt_max == latency.peer_rtt["fd422379fda50e48"]
    assert latency.wal_fsync == pytest.approx(fsync(10, 0).quantile(0.99))
    assert latency.window == "over the last 30 s"  # just after start: the span it covers


def test_first_refresh_has_no_window_yet() -> None:
    now = scraped(fsync(100, 1))
    latency = feed({0: now}).latency(IDS[0])
    assert latency is not None
    assert (latency.wal_fsync, latency.span) == (None, None)
    assert latency.window == "from the second refresh on"
    # A base older than the window does not count either: no lifetime numbers sneak in.
    latency = feed({0: scraped(fsync(1, 0)), 61: now}).latency(IDS[0])
    assert latency is not None and latency.wal_fsync is None


def test_nothing_observed_in_the_window_is_unknown_not_the_lifetime_p99() -> None:
    now = scraped(fsync(100, 1))
    latency = feed({0: scraped(fsync(100, 1)), 30: now}).latency(IDS[0])
    assert latency is not None and latency.wal_fsync is None
    assert now.wal_fsync_p99 is not None


def test_a_restarted_member_counts_what_it_observed_since_its_restart() -> None:
    latency = feed({0: scraped(fsync(1000, 0)), 30: scraped(fsync(10, 10))}).latency(IDS[0])
    assert latency is not None
    assert latency.wal_fsync == pytest.approx(fsync(10, 10).quantile(0.99))


def test_a_member_without_metrics_has_no_latency() -> None:
    history = feed({0: scraped(fsync(10, 0)), 30: scraped(fsync(20, 0))})
    assert history.latency(IDS[1]) is None
    history.clear()
    assert history.latency(IDS[0]) is None


def test_window_label_names_the_minute_within_one_refresh() -> None:
    assert window_label(58.0) == "over the last 60 s"
    assert window_label(12.4) == "over the last 12 s"
    assert window_label(None) == "from the second refresh on"
