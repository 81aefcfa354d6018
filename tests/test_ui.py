"""The TUI driven like a person would, against real lab clusters."""

from __future__ import annotations

import os
import signal

from textual.widgets import DataTable, Static

from etcdtui.config import from_flags
from etcdtui.lab import LabInfo
from etcdtui.ui.app import EtcdtuiApp
from tests.conftest import connection_of, follower


def rows(app: EtcdtuiApp) -> dict[str, list[str]]:
    table = app.query_one("#members", DataTable)
    result = {}
    for key in table.rows:
        cells = [str(c) for c in table.get_row(key)]
        result[cells[1]] = cells
    return result


async def test_members_appear_with_the_leader_marked(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = rows(app)
        assert sorted(shown) == ["node1", "node2", "node3"]
        assert [cells[0] for cells in shown.values()].count("★") == 1
        assert all(cells[2] == "healthy" for cells in shown.values())
        summary = str(app.query_one("#summary", Static).render())
        assert summary.startswith("HEALTHY") and "leader node" in summary


async def test_killed_member_is_flagged_while_the_others_keep_refreshing(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    app = EtcdtuiApp(connection_of(info), refresh=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        victim = follower(info)
        os.kill(info.pid(victim), signal.SIGKILL)
        before = app.polls
        while app.polls < before + 3:
            await pilot.pause(0.1)
        shown = rows(app)
        assert shown.pop(victim)[2] == "UNREACHABLE"
        assert "connection refused" in rows(app)[victim][-1]
        assert all(cells[2] == "healthy" for cells in shown.values())
        assert "UNHEALTHY" in str(app.query_one("#summary", Static).render())


async def test_pause_stops_polling_and_says_so(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=0.1)
    async with app.run_test(size=(120, 30)) as pilot:
        while app.polls < 2:
            await pilot.pause(0.05)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        paused_at = app.polls
        await pilot.pause(0.5)
        assert app.polls == paused_at
        assert "PAUSED" in str(app.query_one("#summary", Static).render())
        await pilot.press("p")
        while app.polls == paused_at:
            await pilot.pause(0.05)
        assert "PAUSED" not in str(app.query_one("#summary", Static).render())


async def test_unreachable_cluster_is_shown_as_such() -> None:
    app = EtcdtuiApp(from_flags("127.0.0.1:1", timeout=0.5), refresh=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "unreachable" in str(app.query_one("#summary", Static).render())
        assert rows(app)["?"][2] == "UNREACHABLE"
