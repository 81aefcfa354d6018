"""Pick the figures etcdtui needs out of a member's /metrics (Prometheus text format).

A member's /metrics is about 160 KB, of which etcdtui reads seven families (~70 lines). Each
family's samples follow its `# TYPE` line, one after another, as every Prometheus client
library writes them: so each family is found with one `str.find` and only its own lines are
parsed, here, without a general parser (prometheus_client's costs ~80 ms to import and
~20 ms to parse the whole text).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from etcdtui.models import Histogram, MemberMetrics

WAL_FSYNC = "etcd_disk_wal_fsync_duration_seconds"
BACKEND_COMMIT = "etcd_disk_backend_commit_duration_seconds"
PEER_RTT = "etcd_network_peer_round_trip_time_seconds"
QUOTA = "etcd_server_quota_backend_bytes"
DB_TOTAL = "etcd_mvcc_db_total_size_in_bytes"
HAS_LEADER = "etcd_server_has_leader"
LEADER_CHANGES = "etcd_server_leader_changes_seen_total"

_FAMILIES = (WAL_FSYNC, BACKEND_COMMIT, PEER_RTT, QUOTA, DB_TOTAL, HAS_LEADER, LEADER_CHANGES)

Sample = tuple[str, dict[str, str], float]
"""One sample line: its name (the family's, or with _bucket, _sum or _count), labels, value."""

# One label pair: a name, then a quoted value in which \\, \" and \n are escaped.
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def family_lines(text: str, family: str) -> tuple[str, list[str]]:
    """One family's type (histogram, gauge, counter...) and its sample lines, in the order
    served; ("", []) when the text has no `# TYPE` line for it."""
    type_line = f"# TYPE {family} "
    if text.startswith(type_line):
        start = 0
    else:
        start = text.find("\n" + type_line) + 1
        if start == 0:
            return "", []
    end = text.find("\n", start)
    if end < 0:
        end = len(text)
    kind = text[start + len(type_line) : end].strip()
    names = _HISTOGRAM_SUFFIXES if kind == "histogram" else ("",)
    lines = []
    # The family's lines run until a line of another name (or a comment, or the end).
    for line in _lines_from(text, end + 1):
        if not line.strip() or line.startswith(f"# HELP {family} "):
            continue  # what some exporters put between a TYPE line and its samples
        name_end = _name_end(line)
        if not line.startswith(family) or line[len(family) : name_end] not in names:
            break
        lines.append(line)
    return kind, lines


def _name_end(line: str) -> int:
    """Where a sample line's metric name ends: at its labels or at the blank before its value."""
    ends = [i for i in (line.find("{"), line.find(" "), line.find("\t")) if i >= 0]
    return min(ends) if ends else len(line)


def _lines_from(text: str, start: int) -> Iterator[str]:
    """The lines of `text` from offset `start`, without their newline, lazily."""
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield text[start:end].rstrip("\r")
        start = end + 1


def parse_sample(line: str) -> Sample | None:
    """`name{label="value",...} value [timestamp]`; None for a line that is not one."""
    brace = line.find("{")
    labels: dict[str, str] = {}
    if brace >= 0:
        close = line.rfind("}")
        if close < brace:
            return None
        name, inside, rest = line[:brace].strip(), line[brace + 1 : close], line[close + 1 :]
        position = 0
        while position < len(inside.rstrip()):
            match = _LABEL.match(inside, position)
            if match is None:
                return None
            labels[match.group(1)] = _unescape(match.group(2))
            position = match.end()
    else:
        name, _, rest = line.strip().replace("\t", " ").partition(" ")
    fields = rest.split()
    if not name or not fields:
        return None
    try:
        return name, labels, float(fields[0])
    except ValueError:
        return None


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], value)


def _histograms(family: str, samples: list[Sample], key: str) -> dict[str, Histogram]:
    """Histograms from one family's samples, grouped by the value of label `key`."""
    groups: dict[str, tuple[list[tuple[float, float]], list[float]]] = {}
    for name, labels, value in samples:
        buckets, count_sum = groups.setdefault(labels.get(key, ""), ([], [0.0, 0.0]))
        suffix = name[len(family) :]
        if suffix == "_bucket" and "le" in labels:
            try:
                buckets.append((float(labels["le"]), value))
            except ValueError:
                continue  # not a bound: the bucket cannot be placed
        elif suffix == "_count":
            count_sum[0] = value
        elif suffix == "_sum":
            count_sum[1] = value
    return {
        label: Histogram(tuple(sorted(buckets)), count, total)
        for label, (buckets, (count, total)) in groups.items()
    }


def parse_metrics(text: str, endpoint: str) -> MemberMetrics:
    """A MemberMetrics from the full /metrics text of one member."""
    values: dict[str, float] = {}
    histograms: dict[str, dict[str, Histogram]] = {}
    for family in _FAMILIES:
        kind, lines = family_lines(text, family)
        samples = [s for s in map(parse_sample, lines) if s is not None]
        if kind == "histogram":
            histograms[family] = _histograms(family, samples, "To")
        elif samples:
            values[family] = samples[0][2]

    def single(name: str) -> Histogram | None:
        return histograms.get(name, {}).get("")

    def integer(name: str) -> int | None:
        value = values.get(name)
        return int(value) if value is not None and math.isfinite(value) else None

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
