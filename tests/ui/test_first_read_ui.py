"""The dashboard's first poll takes the view the first read's child process made (started
before the app): the live view then comes first, with no cached view painted before it; a
child that fails leaves the first poll to the TUI, and quitting stops a child still reading."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from etcdtui.clients.cluster import ClusterClient, ClusterSource
from etcdtui.config import Connection
from etcdtui.lab import LabInfo
from etcdtui.services.first_read import FirstRead
from etcdtui.services.view_cache import CachedView, ViewCache
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.poller import open_source
from etcdtui.ui.screens.dashboard import DashboardScreen
from tests.helpers.dashboard import first_refresh, rows, until
from tests.helpers.labs import connection_of


class Counted:
    """The live sources the app made (each is a read the TUI's own process made)."""

    def __init__(self) -> None:
        self.made: list[ClusterSource] = []

    def __call__(self, connection: Connection) -> ClusterSource:
        self.made.append(open_source(connection))
        return self.made[-1]


def cache_of(info: LabInfo, folder: Path) -> ViewCache:
    """A cache holding a real view of the lab, its first member renamed `from-the-cache`."""
    cluster = ClusterClient(connection_of(info))
    try:
        view = cluster.read()
    finally:
        cluster.close()
    first = view.members[0]
    assert first.member is not None
    renamed = replace(first, member=replace(first.member, name="from-the-cache"))
    cache = ViewCache(folder)
    assert cache.save(connection_of(info), replace(view, members=(renamed, *view.members[1:])))
    return cache


def child_running(info: LabInfo, code: str) -> tuple[Connection, FirstRead]:
    """The lab's connection, and a first read's child that runs `code` instead of reading."""
    connection = connection_of(info)
    started = FirstRead.start(connection, [sys.executable, "-c", code])
    assert started is not None
    return connection, started


def done(started: FirstRead) -> FirstRead:
    deadline = time.monotonic() + 30
    while not started.done():
        assert time.monotonic() < deadline, "the first read's child never finished"
        time.sleep(0.02)
    return started


async def test_a_first_read_done_by_the_start_is_the_first_view_shown(
    plain_lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = connection_of(plain_lab)
    cache = cache_of(plain_lab, tmp_path)
    painted: list[int] = []
    show_cached = DashboardScreen.show_cached

    def painting(self: DashboardScreen, cached: CachedView) -> None:
        painted.append(1)
        show_cached(self, cached)

    monkeypatch.setattr(DashboardScreen, "show_cached", painting)
    started = FirstRead.start(connection)
    assert started is not None
    sources = Counted()
    app = EtcdtuiApp(connection, refresh=3600, source_factory=sources, view_cache=cache,
                     first_read=done(started))  # fmt: skip
    async with app.run_test(size=(120, 30)) as pilot:
        await first_refresh(app, pilot)
        assert painted == [], "a live view was in: no cached view painted first"
        assert sources.made == [], "the first view is the child's"
        assert set(rows(app)) == {m.name for m in plain_lab.members()}
        assert app.dashboard is not None and not app.dashboard.stale
        app.action_refresh_now()
        await until(pilot, lambda: app.polls >= 2, "the second poll")
        assert len(sources.made) == 1, "the TUI reads for itself from the second poll on"
    saved = cache.load(connection)
    assert saved is not None and "from-the-cache" not in {m.name for m in saved.view.members}


async def test_a_first_read_that_fails_leaves_the_first_poll_to_the_tui(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    connection, started = child_running(plain_lab, "raise SystemExit(1)")
    sources, cache = Counted(), cache_of(plain_lab, tmp_path)
    app = EtcdtuiApp(connection, refresh=3600, source_factory=sources, view_cache=cache,
                     first_read=done(started))  # fmt: skip
    async with app.run_test(size=(120, 30)) as pilot:
        # No view came: the cached one is painted while the TUI reads for itself.
        await until(pilot, lambda: "from-the-cache" in rows(app), "the cached view")
        await first_refresh(app, pilot)
        assert len(sources.made) == 1
        assert set(rows(app)) == {m.name for m in plain_lab.members()}


async def test_quitting_stops_a_first_read_still_under_way(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    connection, started = child_running(plain_lab, "import time; time.sleep(60)")
    app = EtcdtuiApp(connection, refresh=3600, source_factory=Counted(),
                     view_cache=ViewCache(tmp_path), first_read=started)  # fmt: skip
    began = time.monotonic()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: bool(app.workers), "the first poll to start")
        await pilot.pause(0.2)
        assert not started.done()
    assert started.done(), "the child is stopped with the app"
    assert time.monotonic() - began < 10
