"""A member's /metrics, and the quantiles read from its histograms as Prometheus computes them."""

from __future__ import annotations

import pytest

from etcdtui.clients.metrics import family_lines, parse_metrics, parse_sample
from etcdtui.models import Histogram, MemberMetrics

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("test_metrics_parse")

INF = float("inf")

# An excerpt of a 3.5 member's /metrics, in the order etcd serves it, numbers chosen so the
# quantiles can be worked out by hand. Families etcdtui does not read are mixed in.
METRICS = """\
# HELP etcd_debugging_mvcc_db_total_size_in_bytes Total size of the underlying database in bytes.
# TYPE etcd_debugging_mvcc_db_total_size_in_bytes gauge
etcd_debugging_mvcc_db_total_size_in_bytes 9.9e+07
# HELP etcd_disk_backend_commit_duration_seconds The latency distributions of commit by backend.
# TYPE etcd_disk_backend_commit_duration_seconds histogram
etcd_disk_backend_commit_duration_seconds_bucket{le="0.001"} 0
etcd_disk_backend_commit_duration_seconds_bucket{le="0.002"} 200
etcd_disk_backend_commit_duration_seconds_bucket{le="0.004"} 700
etcd_disk_backend_commit_duration_seconds_bucket{le="0.008"} 950
etcd_disk_backend_commit_duration_seconds_bucket{le="0.016"} 998
etcd_disk_backend_commit_duration_seconds_bucket{le="0.032"} 1000
etcd_disk_backend_commit_duration_seconds_bucket{le="0.064"} 1000
etcd_disk_backend_commit_duration_seconds_bucket{le="+Inf"} 1000
etcd_disk_backend_commit_duration_seconds_sum 3.75
etcd_disk_backend_commit_duration_seconds_count 1000
# HELP etcd_disk_backend_defrag_duration_seconds The latency distribution of backend defrag.
# TYPE etcd_disk_backend_defrag_duration_seconds histogram
etcd_disk_backend_defrag_duration_seconds_bucket{le="0.1"} 0
etcd_disk_backend_defrag_duration_seconds_bucket{le="+Inf"} 2
etcd_disk_backend_defrag_duration_seconds_sum 12.5
etcd_disk_backend_defrag_duration_seconds_count 2
# HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 5
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 1500
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"} 1900
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.008"} 1960
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.016"} 1990
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.032"} 1998
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.064"} 2000
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 2000
etcd_disk_wal_fsync_duration_seconds_sum 4.125
etcd_disk_wal_fsync_duration_seconds_count 2000
# HELP etcd_mvcc_db_total_size_in_bytes Total size of the underlying database physically allocated.
# TYPE etcd_mvcc_db_total_size_in_bytes gauge
etcd_mvcc_db_total_size_in_bytes 2.4576e+07
# HELP etcd_mvcc_db_total_size_in_use_in_bytes Total size of the database logically in use.
# TYPE etcd_mvcc_db_total_size_in_use_in_bytes gauge
etcd_mvcc_db_total_size_in_use_in_bytes 1.2288e+07
# HELP etcd_network_peer_round_trip_time_seconds Round-Trip-Time histogram between peers
# TYPE etcd_network_peer_round_trip_time_seconds histogram
etcd_network_peer_round_trip_time_seconds_bucket{To="91bc3c398fb3c146",le="0.0001"} 0
etcd_network_peer_round_trip_time_seconds_bucket{To="91bc3c398fb3c146",le="0.0002"} 50
etcd_network_peer_round_trip_time_seconds_bucket{To="91bc3c398fb3c146",le="0.0004"} 400
etcd_network_peer_round_trip_time_seconds_bucket{To="91bc3c398fb3c146",le="0.0008"} 500
etcd_network_peer_round_trip_time_seconds_bucket{To="91bc3c398fb3c146",le="0.1024"} 500
etcd_network_peer_round_trip_time_seconds_bucket{To="91bc3c398fb3c146",le="0.2048"} 500
etcd_network_peer_round_trip_time_seconds_bucket{To="91bc3c398fb3c146",le="+Inf"} 500
etcd_network_peer_round_trip_time_seconds_sum{To="91bc3c398fb3c146"} 0.17
etcd_network_peer_round_trip_time_seconds_count{To="91bc3c398fb3c146"} 500
etcd_network_peer_round_trip_time_seconds_bucket{To="fd422379fda50e48",le="0.0001"} 0
etcd_network_peer_round_trip_time_seconds_bucket{To="fd422379fda50e48",le="0.0002"} 0
etcd_network_peer_round_trip_time_seconds_bucket{To="fd422379fda50e48",le="0.0004"} 0
etcd_network_peer_round_trip_time_seconds_bucket{To="fd422379fda50e48",le="0.0008"} 100
etcd_network_peer_round_trip_time_seconds_bucket{To="fd422379fda50e48",le="0.1024"} 450
etcd_network_peer_round_trip_time_seconds_bucket{To="fd422379fda50e48",le="0.2048"} 500
etcd_network_peer_round_trip_time_seconds_bucket{To="fd422379fda50e48",le="+Inf"} 500
etcd_network_peer_round_trip_time_seconds_sum{To="fd422379fda50e48"} 9.5
etcd_network_peer_round_trip_time_seconds_count{To="fd422379fda50e48"} 500
# HELP etcd_network_peer_sent_bytes_total The total number of bytes sent to peers.
# TYPE etcd_network_peer_sent_bytes_total counter
etcd_network_peer_sent_bytes_total{To="91bc3c398fb3c146"} 1.8366292e+07
# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.
# TYPE etcd_server_has_leader gauge
etcd_server_has_leader 1
# HELP etcd_server_is_leader Whether or not this member is a leader. 1 if is, 0 otherwise.
# TYPE etcd_server_is_leader gauge
etcd_server_is_leader 0
# HELP etcd_server_leader_changes_seen_total The number of leader changes seen.
# TYPE etcd_server_leader_changes_seen_total counter
etcd_server_leader_changes_seen_total 3
# HELP etcd_server_quota_backend_bytes Current backend storage quota size in bytes.
# TYPE etcd_server_quota_backend_bytes gauge
etcd_server_quota_backend_bytes 2.147483648e+09
# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 3.1e-05
go_gc_duration_seconds{quantile="1"} 0.000852
go_gc_duration_seconds_sum 0.0312
go_gc_duration_seconds_count 412
# HELP grpc_server_handled_total Total number of RPCs completed on the server.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV"} 1234
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 6.7313664e+07
"""

ENDPOINT = "https://10.0.0.11:2379"


@pytest.fixture(scope="module")
def metrics() -> MemberMetrics:
    return parse_metrics(METRICS, ENDPOINT)


def test_quota_in_scientific_notation_is_read_as_bytes(metrics: MemberMetrics) -> None:
    assert metrics.quota_bytes == 2_147_483_648
    assert isinstance(metrics.quota_bytes, int)


def test_db_total_size_is_the_allocated_size_not_in_use_nor_the_debugging_copy(
    metrics: MemberMetrics,
) -> None:
    assert metrics.db_total_size == 24_576_000


def test_leader_gauge_and_leader_change_counter(metrics: MemberMetrics) -> None:
    assert metrics.endpoint == ENDPOINT
    assert metrics.has_leader is True
    assert metrics.leader_changes == 3


def test_wal_fsync_histogram_and_p99(metrics: MemberMetrics) -> None:
    wal = metrics.wal_fsync
    assert wal is not None
    assert (wal.count, wal.total) == (2000.0, 4.125)
    assert wal.buckets[0] == (0.001, 5.0) and wal.buckets[-1] == (INF, 2000.0)
    assert len(wal.buckets) == 8
    # rank 1980 falls in (0.008, 0.016]: 0.008 + 0.008 * (1980 - 1960) / (1990 - 1960)
    assert metrics.wal_fsync_p99 == pytest.approx(0.008 + 0.008 * 20 / 30)


def test_backend_commit_p99(metrics: MemberMetrics) -> None:
    # rank 990 falls in (0.008, 0.016]: 0.008 + 0.008 * (990 - 950) / (998 - 950)
    assert metrics.backend_commit_p99 == pytest.approx(0.008 + 0.008 * 40 / 48)
    assert metrics.backend_commit is not None and metrics.backend_commit.total == 3.75


def test_peer_round_trip_is_one_histogram_per_peer(metrics: MemberMetrics) -> None:
    assert sorted(metrics.peer_rtt) == ["91bc3c398fb3c146", "fd422379fda50e48"]
    near, far = metrics.peer_rtt["91bc3c398fb3c146"], metrics.peer_rtt["fd422379fda50e48"]
    # rank 495: 0.0004 + 0.0004 * (495 - 400) / 100, and 0.1024 + 0.1024 * (495 - 450) / 50
    assert near.quantile(0.99) == pytest.approx(0.00078)
    assert far.quantile(0.99) == pytest.approx(0.19456)
    assert (near.count, far.total) == (500.0, 9.5)


def test_peer_round_trip_p99_is_the_slowest_peer(metrics: MemberMetrics) -> None:
    assert metrics.peer_rtt_p99 == pytest.approx(0.19456)


def test_family_lines_are_the_samples_after_its_type_line_and_no_other_family() -> None:
    kind, lines = family_lines(METRICS, "etcd_disk_wal_fsync_duration_seconds")
    assert kind == "histogram"
    assert len(lines) == 10 and all(line.startswith("etcd_disk_wal_fsync_") for line in lines)
    assert family_lines(METRICS, "etcd_server_leader_changes_seen_total") == (
        "counter",
        ["etcd_server_leader_changes_seen_total 3"],
    )
    # A longer name sharing the prefix is another family: "in_use" is not the allocated size.
    assert family_lines(METRICS, "etcd_mvcc_db_total_size_in_bytes")[1] == [
        "etcd_mvcc_db_total_size_in_bytes 2.4576e+07"
    ]
    assert family_lines(METRICS, "etcd_server_is_leader")[1] == ["etcd_server_is_leader 0"]
    assert family_lines(METRICS, "etcd_no_such_family") == ("", [])
    # The TYPE line must start a line: the name quoted in another line's text is not it.
    assert family_lines(
        "# HELP x see # TYPE etcd_server_has_leader gauge\n", "etcd_server_has_leader"
    ) == ("", [])


def test_a_family_ends_at_a_sample_of_another_name_even_without_a_comment_between() -> None:
    text = (
        "# TYPE etcd_server_has_leader gauge\n"
        "etcd_server_has_leader 1\n"
        "etcd_server_has_leader_extra 7\n"
        "etcd_server_has_leader 0\n"
    )
    assert family_lines(text, "etcd_server_has_leader")[1] == ["etcd_server_has_leader 1"]


@pytest.mark.parametrize(
    ("line", "sample"),
    [
        ("etcd_server_has_leader 1", ("etcd_server_has_leader", {}, 1.0)),
        ('x_bucket{le="+Inf"} 2000', ("x_bucket", {"le": "+Inf"}, 2000.0)),
        ('x_bucket{To="91bc",le="0.0002"} 50', ("x_bucket", {"To": "91bc", "le": "0.0002"}, 50.0)),
        ('x{a="b", c = "d",} 1e+07 1712345678000', ("x", {"a": "b", "c": "d"}, 1e7)),
        ('x{a="q\\"uote\\\\ }{,n\\nl"} 3', ("x", {"a": 'q"uote\\ }{,n\nl'}, 3.0)),
        ("x\t4.5\r", ("x", {}, 4.5)),
    ],
)
def test_parse_sample_reads_names_labels_values_and_skips_timestamps(
    line: str, sample: tuple[str, dict[str, str], float]
) -> None:
    assert parse_sample(line) == sample


@pytest.mark.parametrize("line", ["x", 'x{a="b"', "x{a=b} 1", "x one", 'x{a="b"} ', ""])
def test_parse_sample_refuses_a_line_that_is_no_sample(line: str) -> None:
    assert parse_sample(line) is None


def test_not_a_number_leaves_a_figure_unknown_rather_than_failing() -> None:
    text = (
        "# TYPE etcd_server_quota_backend_bytes gauge\n"
        "etcd_server_quota_backend_bytes NaN\n"
        "# TYPE etcd_mvcc_db_total_size_in_bytes gauge\n"
        "etcd_mvcc_db_total_size_in_bytes +Inf\n"
    )
    parsed = parse_metrics(text, ENDPOINT)
    assert (parsed.quota_bytes, parsed.db_total_size) == (None, None)


def test_crlf_line_ends_and_a_help_line_after_the_type_line_are_read() -> None:
    text = (
        "# TYPE etcd_server_leader_changes_seen_total counter\r\n"
        "# HELP etcd_server_leader_changes_seen_total The number of leader changes seen.\r\n"
        "etcd_server_leader_changes_seen_total 5\r\n"
    )
    assert parse_metrics(text, ENDPOINT).leader_changes == 5


def test_figures_agree_with_prometheus_client_parser() -> None:
    """The same figures as the general parser etcdtui used before its own."""
    from prometheus_client import parser  # the test extra installs it

    ours = parse_metrics(METRICS, ENDPOINT)
    families = {f.name: f for f in parser.text_string_to_metric_families(METRICS)}
    wal = families["etcd_disk_wal_fsync_duration_seconds"]
    buckets = sorted(
        (float(s.labels["le"]), s.value) for s in wal.samples if s.name.endswith("_bucket")
    )
    assert ours.wal_fsync is not None and list(ours.wal_fsync.buckets) == buckets
    rtt = families["etcd_network_peer_round_trip_time_seconds"]
    peers = {s.labels["To"] for s in rtt.samples}
    assert set(ours.peer_rtt) == peers
    for peer, histogram in ours.peer_rtt.items():
        counts = [
            s.value for s in rtt.samples if s.labels["To"] == peer and s.name.endswith("_count")
        ]
        assert [histogram.count] == counts
    quota = families["etcd_server_quota_backend_bytes"].samples[0].value
    assert ours.quota_bytes == int(quota)
    changes = families["etcd_server_leader_changes_seen"].samples[0].value
    assert ours.leader_changes == int(changes)


def test_a_member_without_a_leader_says_so() -> None:
    text = "# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 0\n"
    assert parse_metrics(text, ENDPOINT).has_leader is False


def test_missing_families_leave_the_figures_unknown() -> None:
    parsed = parse_metrics("# TYPE process_open_fds gauge\nprocess_open_fds 42\n", ENDPOINT)
    assert parsed == MemberMetrics(ENDPOINT)
    assert (parsed.wal_fsync_p99, parsed.backend_commit_p99, parsed.peer_rtt_p99) == (None,) * 3
    assert parse_metrics("", ENDPOINT) == MemberMetrics(ENDPOINT)


# --- Histogram.quantile, checked against histogram_quantile by hand -------------------------

# 10 observations: 2 up to 1 ms, 3 more up to 2 ms, 4 more up to 4 ms, 1 more up to 8 ms.
TEN = Histogram(((0.001, 2.0), (0.002, 5.0), (0.004, 9.0), (0.008, 10.0), (INF, 10.0)), 10.0, 0.03)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.1, 0.001 * 1 / 2),  # rank 1 in the first bucket, which starts at 0
        (0.2, 0.001),  # rank 2 tops the first bucket exactly
        (0.25, 0.001 + 0.001 * 0.5 / 3),
        (0.5, 0.001 + 0.001 * 3 / 3),
        (0.9, 0.004),
        (0.95, 0.004 + 0.004 * 0.5 / 1),
        (0.99, 0.004 + 0.004 * 0.9 / 1),
        (1.0, 0.008),
    ],
)
def test_quantile_interpolates_inside_its_bucket_like_prometheus(q: float, expected: float) -> None:
    assert TEN.quantile(q) == pytest.approx(expected)


def test_quantile_of_an_empty_histogram_is_none() -> None:
    assert Histogram(((0.001, 0.0), (INF, 0.0)), 0.0, 0.0).quantile(0.99) is None
    assert Histogram((), 0.0, 0.0).quantile(0.5) is None


def test_everything_in_the_inf_bucket_gives_the_largest_finite_bound() -> None:
    hist = Histogram(((0.001, 0.0), (0.002, 0.0), (8.192, 0.0), (INF, 7.0)), 7.0, 90.0)
    assert hist.quantile(0.99) == 8.192
    assert hist.quantile(0.01) == 8.192


def test_quantile_beyond_the_last_finite_bucket_gives_that_bucket_bound() -> None:
    hist = Histogram(((0.001, 50.0), (0.002, 98.0), (INF, 100.0)), 100.0, 0.5)
    assert hist.quantile(0.99) == 0.002
    assert hist.quantile(0.5) == pytest.approx(0.001)


def test_minus_gives_the_observations_made_since() -> None:
    before = Histogram(((0.001, 100.0), (0.5, 100.0), (1.0, 100.0), (INF, 100.0)), 100.0, 0.05)
    after = Histogram(((0.001, 190.0), (0.5, 190.0), (1.0, 200.0), (INF, 200.0)), 200.0, 7.6)
    recent = after.minus(before)
    assert recent.buckets == ((0.001, 90.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0))
    assert recent.count == 100.0 and recent.total == pytest.approx(7.55)
    # Lately 10% of fsyncs took over half a second; since start it was 5%.
    assert recent.quantile(0.95) == pytest.approx(0.5 + 0.5 * 5 / 10)
    assert after.quantile(0.95) == pytest.approx(0.001 * 190 / 190)


def test_minus_never_goes_negative_after_a_counter_reset() -> None:
    before = Histogram(((0.001, 100.0), (INF, 100.0)), 100.0, 0.05)
    after = Histogram(((0.001, 3.0), (INF, 4.0)), 4.0, 0.01)
    recent = after.minus(before)
    assert recent.buckets == ((0.001, 0.0), (INF, 0.0))
    assert (recent.count, recent.total) == (0.0, 0.0)
    assert recent.quantile(0.99) is None


def test_p99_properties_are_none_without_histograms() -> None:
    empty = MemberMetrics(ENDPOINT)
    assert (empty.wal_fsync_p99, empty.backend_commit_p99, empty.peer_rtt_p99) == (None,) * 3
    idle_peer = MemberMetrics(ENDPOINT, peer_rtt={"a": Histogram(((INF, 0.0),), 0.0, 0.0)})
    assert idle_peer.peer_rtt_p99 is None
