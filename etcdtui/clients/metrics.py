"""Pick the figures etcdtui needs out of a member's /metrics (Prometheus text format).

A member's /metrics is about 150 KB; parsing all of it takes ~24 ms, so the ~70 lines that
matter are picked out first (~0.3 ms) and only those go through prometheus_client's parser.
"""

from __future__ import annotations

from etcdtui.models import Histogram, MemberMetrics

WAL_FSYNC = "etcd_disk_wal_fsync_duration_seconds"
BACKEND_COMMIT = "etcd_disk_backend_commit_duration_seconds"
PEER_RTT = "etcd_network_peer_round_trip_time_seconds"
QUOTA = "etcd_server_quota_backend_bytes"
DB_TOTAL = "etcd_mvcc_db_total_size_in_bytes"
HAS_LEADER = "etcd_server_has_leader"
LEADER_CHANGES = "etcd_server_leader_changes_seen_total"

_FAMILIES = (WAL_FSYNC, BACKEND_COMMIT, PEER_RTT, QUOTA, DB_TOTAL, HAS_LEADER, LEADER_CHANGES)
_PREFIXES = tuple(_FAMILIES) + tuple(f"# TYPE {f} " for f in _FAMILIES)


def select_lines(text: str) -> str:
    """The lines of the families etcdtui reads, with their TYPE lines."""
    return "\n".join(line for line in text.splitlines() if line.startswith(_PREFIXES)) + "\n"


def _histograms(samples: list[tuple[str, dict[str, str], float]], key: str) -> dict[str, Histogram]:
    """Histograms from one family's samples, grouped by the value of label `key`."""
    groups: dict[str, dict[str, object]] = {}
    for name, labels, value in samples:
        group = groups.setdefault(labels.get(key, ""), {"buckets": [], "count": 0.0, "sum": 0.0})
        if name.endswith("_bucket"):
            bound = float(labels["le"])
            buckets = group["buckets"]
            assert isinstance(buckets, list)
            buckets.append((bound, value))
        elif name.endswith("_count"):
            group["count"] = value
        elif name.endswith("_sum"):
            group["sum"] = value
    result = {}
    for label, group in groups.items():
        buckets = group["buckets"]
        count, total = group["count"], group["sum"]
        assert isinstance(buckets, list) and isinstance(count, float) and isinstance(total, float)
        result[label] = Histogram(tuple(sorted(buckets)), count, total)
    return result


def parse_metrics(text: str, endpoint: str) -> MemberMetrics:
    """A MemberMetrics from the full /metrics text of one member."""
    values: dict[str, float] = {}
    histograms: dict[str, dict[str, Histogram]] = {}
    # Imported on first use: commands that never scrape /metrics skip its ~80 ms.
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(select_lines(text)):
        samples = [(s.name, dict(s.labels), float(s.value)) for s in family.samples]
        if family.type == "histogram":
            histograms[family.name] = _histograms(samples, "To")
        elif samples:
            # Keyed by sample name: the parser drops a counter family's `_total` suffix.
            values[samples[0][0]] = samples[0][2]

    def single(name: str) -> Histogram | None:
        return histograms.get(name, {}).get("")

    def integer(name: str) -> int | None:
        return int(values[name]) if name in values else None

    has_leader = values.get(HAS_LEADER)
    return MemberMetrics(
        endpoint=endpoint,
        quota_bytes=integer(QUOTA),
        db_total_size=integer(DB_TOTAL),
        has_leader=None if has_leader is None else has_leader >= 1,
        leader_changes=integer(LEADER_CHANGES),
        wal_fsync=single(WAL_FSYNC),
        backend_commit=single(BACKEND_COMMIT),
        peer_rtt=histograms.get(PEER_RTT, {}),
    )
