"""Keyspace grouping, ordering, checks and output, on fixed numbers (no cluster needed)."""

from __future__ import annotations

import json

import pytest

from etcdtui.services.keyspace import (
    GroupRow,
    KeyspaceReport,
    LiveFacts,
    SnapshotFacts,
    depth_group,
    drill_down,
    kube_group,
    live_report,
    with_findings,
)
from etcdtui.services.keyspace_render import bar, render_json, render_table


@pytest.mark.parametrize(
    ("key", "group"),
    [
        (b"/registry/pods/ns-a/web-1", b"/registry/pods/ns-a/"),
        (b"/registry/events/ns-b/web-1.17a", b"/registry/events/ns-b/"),
        (b"/registry/namespaces/ns-a", b"/registry/namespaces/"),
        (b"/registry/ranges/serviceips", b"/registry/ranges/"),
        (b"/registry/apiregistration.k8s.io/apiservices/v1.apps",
         b"/registry/apiregistration.k8s.io/apiservices/"),
        (b"/registry/cert-manager.io/certificates/ns-c/tls",
         b"/registry/cert-manager.io/certificates/ns-c/"),
        (b"/registry/health", b"/registry/"),
        (b"/app/config/x", b"/app/"),
        (b"plain", b""),
    ],
)  # fmt: skip
def test_default_grouping_follows_the_key_shape(key: bytes, group: bytes) -> None:
    assert kube_group(key) == group


def test_depth_grouping_never_counts_the_key_name() -> None:
    assert depth_group(b"/registry/pods/ns-a/web", 2) == b"/registry/pods/"
    assert depth_group(b"/registry/pods/ns-a/web", 9) == b"/registry/pods/ns-a/"
    assert depth_group(b"/top", 1) == b"/"
    assert depth_group(b"a/b/c", 1) == b"a/"


def test_drill_down_goes_one_segment_deeper() -> None:
    assert drill_down("/registry/pods/", None) == ("/registry/pods/", 3)
    assert drill_down("/registry/", 1) == ("/registry/", 2)


def _live(rows: list[GroupRow]) -> KeyspaceReport:
    facts = LiveFacts("http://127.0.0.1:2379", 1000.0, 900.0, 1.0, 20, True)
    return live_report("http://127.0.0.1:2379", 7, "", rows, facts)


def test_groups_sort_by_bytes_then_keys() -> None:
    report = _live([GroupRow("/a/", 5, 100), GroupRow("/b/", 9, 100), GroupRow("/c/", 1, 500)])
    assert [r.prefix for r in report.groups] == ["/c/", "/b/", "/a/"]


def test_events_over_half_the_keys_point_at_event_ttl() -> None:
    report = _live(
        [GroupRow("/registry/events/ns/", 60, 10), GroupRow("/registry/pods/ns/", 40, 10)]
    )
    fired = {f.check: f for f in report.findings}
    assert "--event-ttl" in fired["events"].fix
    assert "big-group" in fired  # 50 % of the bytes in one group


def test_no_check_fires_on_a_balanced_keyspace() -> None:
    rows = [GroupRow(f"/registry/r{i}/", 10, 100) for i in range(5)]
    assert _live(rows).findings == ()


def _snapshot(history_bytes: int, db_size: int, idle: int) -> KeyspaceReport:
    row = GroupRow("/registry/pods/a/", 3, 30, 6, history_bytes, 0, 0.5, 0)
    report = KeyspaceReport(
        "snap.db", 9, "", (row,), row,
        snapshot=SnapshotFacts(db_size, db_size, idle + 1, 1, idle),
    )  # fmt: skip
    return with_findings(report)


def test_history_over_half_the_database_says_compaction_is_not_running() -> None:
    fired = {f.check: f for f in _snapshot(600, 1000, 0).findings}
    assert "--etcd-compaction-interval" in fired["history"].fix
    assert "history" not in {f.check for f in _snapshot(400, 1000, 0).findings}


def test_leases_without_keys_are_flagged() -> None:
    fired = {f.check: f for f in _snapshot(0, 1000, 2).findings}
    assert fired["idle-leases"].message.startswith("2 of 3 leases")


def test_json_has_history_fields_only_in_snapshot_mode() -> None:
    live = json.loads(render_json(_live([GroupRow("/a/", 1, 10)])))
    assert set(live["groups"][0]) == {"prefix", "keys", "bytes"}
    assert live["live"]["sample_size"] == 20
    snap = json.loads(render_json(_snapshot(0, 1000, 0)))
    assert {"history_revisions", "history_bytes"} <= set(snap["groups"][0])
    assert snap["leases"] == {"count": 1, "keys_attached": 1, "without_keys": 0}


def test_top_keeps_the_biggest_groups_and_all_the_totals() -> None:
    report = _live([GroupRow(f"/g{i}/", 1, 10 * i) for i in range(1, 6)])
    out = json.loads(render_json(report, top=2))
    assert [g["prefix"] for g in out["groups"]] == ["/g5/", "/g4/"]
    assert (out["total"]["keys"], out["groups_not_shown"]) == (5, 3)
    assert "3 smaller groups not shown" in render_table(report, top=2)


def test_table_escapes_control_characters_in_prefixes() -> None:
    table = render_table(_live([GroupRow("/evil\x1b[2J/", 1, 10)]))
    assert "\x1b" not in table


def test_bar_is_proportional() -> None:
    assert bar(50, 100, 10) == "█████·····"
    assert bar(0, 0, 4) == "····"
