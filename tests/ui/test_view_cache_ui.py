"""The first screen: the cluster's cached last view is painted before the first poll returns,
marked stale with its age, and the first poll replaces it."""

from __future__ import annotations

import json
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable

from etcdtui.config import Connection, from_flags
from etcdtui.lab import LabInfo
from etcdtui.models import ClusterView
from etcdtui.services import samples
from etcdtui.services.view_cache import ViewCache
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.poller import open_source
from etcdtui.ui.samples import sample_connection
from etcdtui.ui.screens.dashboard import DashboardScreen
from tests.helpers.dashboard import HeldSource, first_refresh, rows, screen_text, until
from tests.helpers.labs import connection_of

HOSTILE = "[b]node1[/b]\x1b[2J"  # markup and a terminal code, from the cluster
AGE = 180.0  # seconds since the cached view was saved


def cache_with(folder: Path, connection: Connection, view: ClusterView, age: float) -> ViewCache:
    """A cache holding `view` for `connection`, saved `age` seconds ago."""
    cache = ViewCache(folder)
    assert cache.save(connection, view)
    path = cache.path(connection)
    record = json.loads(path.read_text())
    record["saved_at"] = time.time() - age
    path.write_text(json.dumps(record))
    return cache


def hostile_healthy() -> ClusterView:
    view = samples.healthy()
    first = view.members[0]
    assert first.member is not None
    return replace(view, members=(replace(first, member=replace(first.member, name=HOSTILE)),
                                  *view.members[1:]))  # fmt: skip


def dashboard_of(app: EtcdtuiApp) -> DashboardScreen:
    dashboard = app.dashboard
    assert dashboard is not None
    return dashboard


def assert_stale(app: EtcdtuiApp, names: set[str]) -> None:
    """The cached rows are on screen and nothing says live."""
    assert dashboard_of(app).stale
    assert set(rows(app)) == names
    banner = screen_text(app, "#stale")
    assert "CACHED VIEW, NOT LIVE" in banner and "3 min ago" in banner, banner
    summary = screen_text(app, "#summary")
    assert summary.strip().startswith("CACHED") and "not live" in summary, summary
    assert "now" not in summary, summary
    assert "HEALTHY" not in summary, "a cached view gives no verdict"
    assert "CACHED" in str(app.query_one("#members", DataTable).border_title)
    health = screen_text(app, "#health")
    assert "0 down" in health and "down now" not in health, health
    assert "no verdict until the first refresh" in health and "ok:" not in health, health
    assert app.view is None and app.polls == 0, "a cached view is never the live one"


def assert_live(app: EtcdtuiApp) -> None:
    assert not dashboard_of(app).stale
    assert not app.query_one("#stale").display
    assert "CACHED" not in screen_text(app, "#summary")
    assert "CACHED" not in str(app.query_one("#members", DataTable).border_title)
    health = screen_text(app, "#health")
    assert "down now" in health and "no verdict" not in health, health
    assert app.view is not None and app.polls >= 1


async def test_cached_view_is_painted_stale_until_the_first_poll_returns(tmp_path: Path) -> None:
    connection = sample_connection()
    cache = cache_with(tmp_path, connection, hostile_healthy(), AGE)
    source = HeldSource(samples.frozen_member())
    app = EtcdtuiApp(connection, refresh=3600, source=source, view_cache=cache)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: dashboard_of(app).stale, "the cached view")
        # Outside text stays data: the name as written, its control characters shown.
        assert_stale(app, {"[b]node1[/b]\\x1b[2J", "node2", "node3"})
        assert all(cells[2] == "healthy" for cells in rows(app).values())
        source.release()
        await first_refresh(app, pilot)
        assert_live(app)
        assert rows(app)["node3"][2] == "UNREACHABLE"
        assert screen_text(app, "#summary").startswith("UNHEALTHY")
    saved = cache.load(connection)
    assert saved is not None and not saved.view.members[2].reachable, "the live view is kept"


async def test_without_a_cache_the_dashboard_waits_as_before(tmp_path: Path) -> None:
    source = HeldSource(samples.healthy())
    app = EtcdtuiApp(sample_connection(), refresh=3600, source=source,
                     view_cache=ViewCache(tmp_path))  # fmt: skip
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.2)
        assert not dashboard_of(app).stale
        assert screen_text(app, "#summary").startswith("Connecting…")
        assert not app.query_one("#stale").display
        assert rows(app) == {}
        source.release()
        await first_refresh(app, pilot)
        assert_live(app)


async def test_another_clusters_cache_is_not_painted(tmp_path: Path) -> None:
    other = replace(sample_connection(), cluster="staging")
    cache = cache_with(tmp_path, other, samples.healthy(), AGE)
    cache.path(other).rename(cache.path(sample_connection()))  # under prod's name
    source = HeldSource(samples.healthy())
    app = EtcdtuiApp(sample_connection(), refresh=3600, source=source, view_cache=cache)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.2)
        assert not dashboard_of(app).stale and rows(app) == {}
        source.release()
        await first_refresh(app, pilot)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: requests wait for their
    timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"127.0.0.1:{server.getsockname()[1]}"


async def test_cached_view_stays_marked_while_the_cluster_does_not_answer(
    tmp_path: Path, silent_endpoint: str
) -> None:
    connection = from_flags(silent_endpoint, timeout=2.0)
    cache = cache_with(tmp_path, connection, samples.healthy(), AGE)
    before = cache.path(connection).read_bytes()
    app = EtcdtuiApp(connection, refresh=3600, view_cache=cache)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: dashboard_of(app).stale, "the cached view")
        assert_stale(app, {"node1", "node2", "node3"})
        await first_refresh(app, pilot)
        assert_live(app)
        assert "unreachable" in screen_text(app, "#summary")
        assert rows(app)[f"http://{silent_endpoint}"][2] == "UNREACHABLE"
    assert cache.path(connection).read_bytes() == before, "no answer: the last good view stays"


async def test_a_live_poll_is_kept_and_painted_at_the_next_start(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    connection = connection_of(plain_lab)
    cache = ViewCache(tmp_path / "views")
    app = EtcdtuiApp(connection, refresh=60, view_cache=cache)
    async with app.run_test(size=(120, 30)) as pilot:
        await first_refresh(app, pilot)
        live = set(rows(app))
    path = cache.path(connection)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    held: list[HeldSource] = []

    def held_live(c: Connection) -> HeldSource:
        held.append(HeldSource(open_source(c)))
        return held[-1]

    again = EtcdtuiApp(connection, refresh=60, source_factory=held_live, view_cache=cache)
    async with again.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: dashboard_of(again).stale, "the cached view")
        assert dashboard_of(again).stale and set(rows(again)) == live
        assert "CACHED VIEW, NOT LIVE" in screen_text(again, "#stale")
        await until(pilot, lambda: bool(held), "the first poll to start")
        held[0].release()
        await first_refresh(again, pilot)
        assert_live(again)
        assert set(rows(again)) == live
