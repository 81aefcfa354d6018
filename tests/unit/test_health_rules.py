"""Health rules: etcd's documented thresholds, findings in words, and the quorum arithmetic.

Pure functions over plain data, so the cluster views are built by hand here.
"""

from __future__ import annotations

import pytest

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
from etcdtui.models.severity import Severity
from etcdtui.services.health import (
    Finding,
    cluster_findings,
    latencies,
    latency_severity,
    member_findings,
    peer_rtt_severity,
    quorum_sentence,
    quota_severity,
    quota_usage,
)
from etcdtui.services.history import Latencies

IDS = (0x8E9E05C52164694D, 0x91BC3C398FB3C146, 0xFD422379FDA50E48, 0x4F4C3AB7E5E5B1A2, 0x2C1D0B9A)
GIB = 1024**3
INF = float("inf")


def node(
    i: int,
    *,
    leader: int = 1,
    reachable: bool = True,
    started: bool = True,
    learner: bool = False,
    version: str = "3.5.1",
    db_size: int = 20_480,
    applied: int = 5_000,
    metrics: MemberMetrics | None = None,
) -> MemberView:
    """Member `i` (1-based) of a cluster whose leader is member `leader` (0: no leader)."""
    mid = IDS[i - 1]
    endpoint = f"https://10.0.0.{10 + i}:2379"
    member = Member(
        id=mid,
        name=f"node{i}" if started else "",
        peer_urls=(f"https://10.0.0.{10 + i}:2380",),
        client_urls=(endpoint,) if started else (),
        is_learner=learner,
    )
    if not reachable or not started:
        return MemberView(endpoint, member=member, error="context deadline exceeded")
    status = MemberStatus(
        endpoint=endpoint,
        member_id=mid,
        version=version,
        db_size=db_size,
        db_size_in_use=db_size // 2,
        leader_id=IDS[leader - 1] if leader else 0,
        raft_term=4,
        raft_index=applied + 2,
        applied_index=applied,
        is_learner=learner,
    )
    health = (
        MemberHealth(endpoint, True, 0.003)
        if leader
        else MemberHealth(endpoint, False, 0.0, "no leader", read_ok=False)
    )
    return MemberView(endpoint, member, status, health, metrics)


def cluster(*members: MemberView, alarms: tuple[Alarm, ...] = (), error: str = "") -> ClusterView:
    return ClusterView("prod", tuple(members), alarms=alarms, taken_at=1000.0, error=error)


def nodes(count: int, *, down: tuple[int, ...] = (), leader: int = 1) -> list[MemberView]:
    return [node(i, leader=leader, reachable=i not in down) for i in range(1, count + 1)]


def texts(findings: list[Finding]) -> list[str]:
    return [f.text for f in findings]


def slow(p99_bucket: tuple[float, float]) -> Histogram:
    """Every observation inside one bucket: p99 = low + (high - low) * 0.99."""
    low, high = p99_bucket
    return Histogram(((low, 0.0), (high, 100.0), (INF, 100.0)), 100.0, 1.0)


# --- thresholds, at and around each boundary -------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "severity"),
    [(None, Severity.OK), (0.0, Severity.OK), (0.7999, Severity.OK), (0.80, Severity.WARN),
     (0.9499, Severity.WARN), (0.95, Severity.CRITICAL), (1.2, Severity.CRITICAL)],
)  # fmt: skip
def test_quota_use_is_warning_from_80_and_critical_from_95_percent(usage, severity) -> None:
    assert quota_severity(usage) is severity


def test_quota_at_95_percent_is_critical() -> None:
    view = node(1, db_size=int(0.95 * 2 * GIB) + 1, metrics=MemberMetrics("e", quota_bytes=2 * GIB))
    assert quota_usage(view) == pytest.approx(0.95)
    assert member_findings(view, cluster(view)) == [
        Finding(Severity.CRITICAL, "node1 database at 95% of quota", "node1")
    ]


def test_quota_at_80_percent_is_a_warning_in_words() -> None:
    view = node(1, db_size=int(0.8 * 2 * GIB) + 1, metrics=MemberMetrics("e", quota_bytes=2 * GIB))
    assert member_findings(view, cluster(view)) == [
        Finding(Severity.WARN, "node1 database at 80% of quota", "node1")
    ]


def test_quota_usage_is_unknown_without_quota_or_status() -> None:
    assert quota_usage(node(1)) is None
    assert quota_usage(node(1, metrics=MemberMetrics("e", quota_bytes=None))) is None
    assert quota_usage(node(1, reachable=False)) is None


def p99_of(value: float) -> Histogram:
    """A histogram whose p99 is exactly `value`: the 99th of 100 observations tops its bucket."""
    return Histogram(((0.0, 98.0), (value, 99.0), (INF, 100.0)), 100.0, 1.0)


def window(metrics: MemberMetrics) -> Latencies:
    """The p99s of these histograms, as if they were the last minute's observations."""
    return Latencies.of(metrics, span=60.0)


def severities_for(**histograms: Histogram) -> dict[str, Severity]:
    return {label: lvl for label, _, lvl in latencies(window(MemberMetrics("e", **histograms)))}


@pytest.mark.parametrize(
    ("p99", "severity"),
    [(0.0001, Severity.OK), (0.0099, Severity.OK), (0.010, Severity.WARN),
     (0.0101, Severity.WARN), (0.499, Severity.WARN), (0.500, Severity.WARN),
     (0.5001, Severity.CRITICAL), (3.0, Severity.CRITICAL)],
)  # fmt: skip
def test_wal_fsync_p99_under_10ms_ok_over_10ms_warning_over_500ms_critical(p99, severity) -> None:
    assert severities_for(wal_fsync=p99_of(p99))["WAL fsync p99"] is severity


@pytest.mark.parametrize(
    ("p99", "severity"),
    [(0.0249, Severity.OK), (0.025, Severity.WARN), (0.0251, Severity.WARN), (0.250, Severity.WARN),
     (0.2501, Severity.CRITICAL)],
)  # fmt: skip
def test_backend_commit_p99_warning_from_25ms_critical_over_250ms(p99, severity) -> None:
    assert severities_for(backend_commit=p99_of(p99))["backend commit p99"] is severity


@pytest.mark.parametrize(
    ("p99", "severity"),
    [(0.010, Severity.OK), (0.150, Severity.OK), (0.1501, Severity.WARN), (5.0, Severity.WARN)],
)  # fmt: skip
def test_peer_round_trip_p99_over_150ms_is_a_warning(p99, severity) -> None:
    found = severities_for(peer_rtt={"a": p99_of(0.001), "b": p99_of(p99)})
    assert found["peer round trip p99"] is severity


def test_unknown_latencies_are_not_flagged() -> None:
    assert latency_severity(None, 0.010, 0.500) is Severity.OK
    assert peer_rtt_severity(None) is Severity.OK


def test_latencies_use_etcd_thresholds_per_metric() -> None:
    metrics = MemberMetrics(
        "e",
        wal_fsync=slow((0.008, 0.016)),  # p99 15.92 ms
        backend_commit=slow((0.256, 0.512)),  # p99 509 ms
        peer_rtt={"a": slow((0.001, 0.002)), "b": slow((0.128, 0.256))},  # slowest 254.7 ms
    )
    (fsync, commit, rtt) = latencies(window(metrics))
    assert fsync[0] == "WAL fsync p99" and fsync[2] is Severity.WARN
    assert fsync[1] == pytest.approx(0.008 + 0.008 * 0.99)
    assert commit[0] == "backend commit p99" and commit[2] is Severity.CRITICAL
    assert rtt[0] == "peer round trip p99" and rtt[2] is Severity.WARN
    assert rtt[1] == pytest.approx(0.128 + 0.128 * 0.99)


def test_latencies_without_histograms_are_ok_and_unknown() -> None:
    assert [(v, lvl) for _, v, lvl in latencies(Latencies())] == [(None, Severity.OK)] * 3


def test_slow_fsync_is_named_with_its_value_and_window() -> None:
    metrics = MemberMetrics("e", wal_fsync=slow((0.512, 1.024)))
    view = node(2, metrics=metrics)
    assert member_findings(view, cluster(node(1), view, node(3)), window(metrics)) == [
        Finding(Severity.CRITICAL, "node2 WAL fsync p99 1.0 s over the last 60 s", "node2")
    ]


def test_latency_findings_judge_the_window_never_the_lifetime_histograms() -> None:
    # Slow for its whole life, fast in the last minute: the window decides, and a member
    # whose window is not known yet gets no latency finding at all.
    metrics = MemberMetrics("e", wal_fsync=slow((0.512, 1.024)))
    view = node(2, metrics=metrics)
    whole = cluster(node(1), view, node(3))
    fast = Latencies(wal_fsync=0.002, span=60.0)
    assert member_findings(view, whole, fast) == []
    assert member_findings(view, whole) == []
    assert cluster_findings(whole, latency={IDS[1]: fast}) == []
    slow_now = {IDS[1]: Latencies(wal_fsync=0.8, span=30.0)}
    assert texts(cluster_findings(whole, latency=slow_now)) == [
        "node2 WAL fsync p99 800 ms over the last 30 s"
    ]


@pytest.mark.parametrize(("changes", "warned"), [(None, False), (0, False), (3, False),
                                                  (4, True), (9, True)])  # fmt: skip
def test_four_or_more_leader_changes_in_15_minutes_is_a_warning(changes, warned) -> None:
    found = cluster_findings(cluster(*nodes(3)), leader_changes=changes)
    expected = Finding(Severity.WARN, f"{changes} leader changes in 15 min: unstable leadership")
    assert (expected in found) is warned
    assert bool(found) is warned


# --- findings in words -----------------------------------------------------------------------


def test_healthy_three_member_cluster_has_no_findings() -> None:
    assert cluster_findings(cluster(*nodes(3))) == []


def test_even_member_count_is_a_warning() -> None:
    assert cluster_findings(cluster(*nodes(4))) == [
        Finding(Severity.WARN, "even member count (4): tolerates no more failures than 3")
    ]


def test_single_member_tolerates_no_failure() -> None:
    assert texts(cluster_findings(cluster(node(1)))) == ["1 member(s): no failure is tolerated"]


def test_no_leader_is_critical() -> None:
    found = cluster_findings(cluster(*nodes(3, leader=0)))
    assert Finding(Severity.CRITICAL, "no leader: writes are impossible") in found
    assert "node1 unhealthy: no leader" in texts(found)


def test_quorum_lost_when_a_majority_is_down() -> None:
    found = cluster_findings(cluster(*nodes(3, down=(2, 3))))
    assert found[0] == Finding(Severity.CRITICAL, "QUORUM LOST: 1 of 3 healthy, 2 needed")


def test_one_more_failure_loses_quorum() -> None:
    found = cluster_findings(cluster(*nodes(3, down=(3,))))
    assert found[0] == Finding(Severity.CRITICAL, "1 down: one more failure loses quorum")
    assert (
        Finding(Severity.CRITICAL, "node3 unreachable: context deadline exceeded", "node3") in found
    )


def test_members_down_with_tolerance_left_is_a_warning() -> None:
    found = cluster_findings(cluster(*nodes(5, down=(5,))))
    assert Finding(Severity.WARN, "1 down: 1 more failure(s) tolerated") in found
    assert not any("quorum" in t.lower() for t in texts(found))


def test_an_alarm_alone_does_not_cost_quorum() -> None:
    members = nodes(3)
    members[1] = MemberView(
        members[1].endpoint,
        members[1].member,
        members[1].status,
        MemberHealth(members[1].endpoint, False, 0.002, "active alarm: NOSPACE"),
    )
    view = cluster(*members, alarms=(Alarm(IDS[1], "NOSPACE"),))
    assert view.down == 0
    assert not any("quorum" in t.lower() for t in texts(cluster_findings(view)))


def test_unstarted_member_is_reported_by_its_id() -> None:
    view = cluster(*nodes(3), node(4, started=False))
    found = cluster_findings(view)
    assert Finding(Severity.WARN, "member 4f4c3ab7e5e5b1a2 added but never started") in found
    assert view.members[3].name == "(unstarted)"
    # It votes (and so counts towards quorum) even though it never started.
    assert len(view.voting_members) == 4 and view.down == 1


def test_learner_is_reported_and_does_not_make_the_count_even() -> None:
    found = cluster_findings(cluster(*nodes(3), node(4, learner=True)))
    assert found == [Finding(Severity.WARN, "node4 is a learner (not voting)", "node4")]


def test_version_skew_lists_the_versions() -> None:
    view = cluster(node(1), node(2, version="3.4.23"), node(3))
    assert cluster_findings(view) == [
        Finding(Severity.WARN, "version skew: 3.4.23, 3.5.1: finish the rolling upgrade (u)")
    ]


@pytest.mark.parametrize("kind", ["NOSPACE", "CORRUPT"])
def test_active_alarm_names_the_member(kind: str) -> None:
    found = cluster_findings(cluster(*nodes(3), alarms=(Alarm(IDS[1], kind),)))
    assert Finding(Severity.CRITICAL, f"alarm {kind} on node2", "node2") in found


def test_alarm_on_an_unknown_member_still_shows() -> None:
    found = cluster_findings(cluster(*nodes(3), alarms=(Alarm(0x1234, "NOSPACE"),)))
    assert Finding(Severity.CRITICAL, "alarm NOSPACE on ?", "?") in found


@pytest.mark.parametrize(("lag", "warned"), [(0, False), (1000, False), (1001, True)])
def test_applied_index_lagging_leader_by_more_than_1000_is_a_warning(lag, warned) -> None:
    view = cluster(node(1, applied=10_000), node(2, applied=10_000 - lag), node(3))
    expected = Finding(Severity.WARN, f"node2 applied index {lag} behind the leader", "node2")
    assert (expected in cluster_findings(view)) is warned


def test_findings_are_sorted_worst_first() -> None:
    metrics = {
        IDS[1]: MemberMetrics("e", wal_fsync=slow((0.008, 0.016))),
        IDS[2]: MemberMetrics("e", wal_fsync=slow((0.512, 1.024))),
    }
    view = cluster(
        node(1, version="3.4.23"),
        node(2, metrics=metrics[IDS[1]]),
        node(3, metrics=metrics[IDS[2]]),
        node(4, reachable=False),
        alarms=(Alarm(IDS[0], "NOSPACE"),),
    )
    latency = {member_id: window(m) for member_id, m in metrics.items()}
    severities = [f.severity for f in cluster_findings(view, leader_changes=5, latency=latency)]
    assert severities == sorted(severities, reverse=True)
    assert severities[0] is Severity.CRITICAL and severities[-1] is Severity.WARN
    # 1 of 4 down (one more loses quorum), the alarm, node3's fsync, node4 unreachable.
    assert severities.count(Severity.CRITICAL) == 4


def test_unreachable_cluster_yields_exactly_one_critical_finding() -> None:
    view = cluster(*nodes(3, down=(1, 2, 3)), error="no endpoint answered within 2 seconds")
    assert cluster_findings(view, leader_changes=7) == [
        Finding(Severity.CRITICAL, "cluster unreachable: no endpoint answered within 2 seconds")
    ]


# --- quorum sentence and ClusterView arithmetic ----------------------------------------------


def test_quorum_sentence_for_five_members_one_down() -> None:
    view = cluster(*nodes(5, down=(4,)))
    assert quorum_sentence(view) == "5 members, quorum 3, tolerates 2 failures, 1 down now"


def test_quorum_sentence_does_not_count_learners_as_voting() -> None:
    view = cluster(*nodes(3), node(4, learner=True))
    assert (
        quorum_sentence(view) == "3 members (+1 learner), quorum 2, tolerates 1 failure, 0 down now"
    )


def test_quorum_sentence_for_a_single_member() -> None:
    assert (
        quorum_sentence(cluster(node(1))) == "1 member, quorum 1, tolerates 0 failures, 0 down now"
    )


def test_quorum_sentence_does_not_call_a_stray_endpoint_a_learner() -> None:
    stray = MemberView("https://10.0.0.99:2379", error="connection refused")
    view = cluster(*nodes(3), stray)
    assert quorum_sentence(view) == "3 members, quorum 2, tolerates 1 failure, 0 down now"


@pytest.mark.parametrize(
    ("count", "quorum", "tolerates"), [(1, 1, 0), (2, 2, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2)]
)
def test_quorum_and_tolerance_for_one_to_five_members(count, quorum, tolerates) -> None:
    view = cluster(*nodes(count))
    assert (view.quorum, view.tolerates) == (quorum, tolerates)


def test_stray_endpoint_is_not_a_voting_member_when_the_member_list_is_known() -> None:
    stray = MemberView("https://10.0.0.99:2379", error="connection refused")
    view = cluster(*nodes(3), stray)
    assert len(view.voting_members) == 3
    assert (view.quorum, view.tolerates, view.down) == (2, 1, 0)


def test_endpoints_count_as_voting_when_no_member_list_is_known() -> None:
    view = cluster(*(MemberView(f"https://10.0.0.{i}:2379", error="refused") for i in (1, 2, 3)))
    assert len(view.voting_members) == 3
    assert (view.quorum, view.down) == (2, 3)


def test_learner_is_not_a_voting_member() -> None:
    view = cluster(*nodes(3), node(4, learner=True))
    assert [m.name for m in view.voting_members] == ["node1", "node2", "node3"]
    assert (view.quorum, view.tolerates) == (2, 1)


def test_cluster_is_healthy_only_with_a_leader_all_healthy_and_no_alarm() -> None:
    assert cluster(*nodes(3)).healthy
    assert cluster(*nodes(3)).leader.name == "node1"
    assert not cluster(*nodes(3, leader=0)).healthy
    assert not cluster(*nodes(3, down=(2,))).healthy
    assert not cluster(*nodes(3), alarms=(Alarm(IDS[0], "NOSPACE"),)).healthy
    assert not cluster().healthy
