"""The TUI's first read, made by a child process on real labs: the view it hands over is the
one the TUI would have read itself, TLS included, and `etcdtui` starts it before the screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from etcdtui.cli import main
from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import load_connection
from etcdtui.lab import LabInfo
from etcdtui.models import ClusterView
from etcdtui.services.first_read import FirstRead
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.poller import OpenedOnFirstRead
from tests.helpers.labs import config_through_ssh, connection_of


def read_here(info: LabInfo) -> ClusterView:
    cluster = ClusterClient(connection_of(info))
    try:
        return cluster.read()
    finally:
        cluster.close()


def assert_whole(view: ClusterView, info: LabInfo) -> None:
    """Every member read in full: status, a healthy linearizable read, /metrics with its
    histograms (what the disk and network pane draws)."""
    here = read_here(info)
    assert view.error == "" and view.alarms == ()
    assert [(m.name, m.member.id if m.member else 0) for m in view.members] == [
        (m.name, m.member.id if m.member else 0) for m in here.members
    ]
    for member in view.members:
        assert member.reachable and member.status is not None and member.health is not None
        assert member.health.healthy, member.health.error
        assert member.metrics is not None and member.metrics.quota_bytes
        assert member.metrics.wal_fsync is not None and member.metrics.wal_fsync.count > 0
        assert member.metrics.backend_commit is not None
    assert sum(m.is_leader for m in view.members) == 1


def test_the_child_hands_over_a_whole_read(plain_lab: LabInfo) -> None:
    started = FirstRead.start(connection_of(plain_lab))
    assert started is not None
    view = started.view()
    assert view is not None
    assert_whole(view, plain_lab)
    assert started.view() is None, "taken once"


def test_the_child_reads_with_the_tls_files(tls_lab: LabInfo) -> None:
    connection = connection_of(tls_lab)
    assert connection.tls.cert and connection.tls.key
    started = FirstRead.start(connection)
    assert started is not None
    view = started.view()
    assert view is not None
    assert_whole(view, tls_lab)


def test_etcdtui_starts_the_first_read_before_the_screen(
    plain_lab: LabInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[EtcdtuiApp] = []
    # The screen itself is not run: the test looks at what the command line gave the app.
    monkeypatch.setattr(EtcdtuiApp, "run", lambda self, *a, **k: built.append(self))
    assert main(["--config", str(plain_lab.config_path), "--cluster", plain_lab.cluster]) == 0
    (app,) = built
    source = app.poller.source
    assert isinstance(source, OpenedOnFirstRead) and source.first is not None
    view = source.read()
    assert source.first is None
    assert_whole(view, plain_lab)
    source.close()


def test_no_first_read_child_for_a_cluster_reached_through_ssh(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    config = config_through_ssh(plain_lab, tmp_path)
    assert FirstRead.start(load_connection(config, plain_lab.cluster)) is None
