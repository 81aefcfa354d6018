"""The dashboard while members fail: killed, frozen, or out of space; the rest keep refreshing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace

from textual.widgets import Static

from etcdtui.ui.app import EtcdtuiApp
from tests.helpers.dashboard import first_refresh, rows
from tests.helpers.labs import connection_of, follower


async def test_killed_member_is_flagged_while_the_others_keep_refreshing(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    app = EtcdtuiApp(connection_of(info), refresh=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        await first_refresh(app, pilot)
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


async def test_nospace_alarm_shows_in_the_quota_pane(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab(quota_bytes=4 * 1024 * 1024)
    env = {**os.environ, **info.etcdctl_env()}
    for i in range(64):
        put = subprocess.run(
            [info.etcdctl, "put", f"/fill/{i}"], input="x" * 256 * 1024, env=env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if put.returncode != 0:
            break
    app = EtcdtuiApp(connection_of(info), refresh=60)
    async with app.run_test(size=(160, 50)) as pilot:
        await first_refresh(app, pilot)
        quota = str(app.query_one("#quota", Static).render())
        assert "ALARM NOSPACE on node" in quota
        assert "CRITICAL" in str(app.query_one("#health", Static).render())
        assert str(app.query_one("#summary", Static).render()).startswith("UNHEALTHY")


async def test_frozen_member_is_unreachable_while_the_others_keep_refreshing(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    victim = follower(info)
    app = EtcdtuiApp(replace(connection_of(info), timeout=0.5), refresh=0.1)
    pid = info.pid(victim)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.polls < 1:
            await pilot.pause(0.05)
        os.kill(pid, signal.SIGSTOP)
        try:
            before = app.polls
            started = time.monotonic()
            while app.polls < before + 3 and time.monotonic() - started < 10:
                await pilot.pause(0.05)
            shown = rows(app)
        finally:
            os.kill(pid, signal.SIGCONT)
    assert app.polls >= before + 3  # polling goes on: each costs one timeout, not one per call
    assert shown[victim][2] == "UNREACHABLE" and "timed out after 0.5 s" in shown[victim][-1]
    assert all(cells[2] == "healthy" for name, cells in shown.items() if name != victim)
