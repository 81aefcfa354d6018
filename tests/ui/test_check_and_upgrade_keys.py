"""The consistency, upgrade and repair keys driven like a person would, on a real lab."""

from __future__ import annotations

import time

from etcdtui.lab import LabInfo
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.detail import MemberDetailScreen
from etcdtui.ui.screens.runbook import RunbookScreen
from etcdtui.ui.widgets.panes import HealthPane
from tests.helpers.labs import connection_of

HASHKV_WAIT = 120  # seconds: a check that never ends would hold the test for ever


async def test_h_checks_consistency_and_the_pane_says_so(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.view is None:
            await pilot.pause(0.05)
        await pilot.press("h")
        deadline = time.monotonic() + HASHKV_WAIT
        while app.checks.reading is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
        reading = app.checks.reading
        assert reading is not None and reading.consistent, reading
        assert {m.name for m in reading.members} == {n.name for n in plain_lab.members()}
        await pilot.pause(0.2)
        pane = str(app.query_one("#health", HealthPane).render())
        assert "Consistency" in pane and "consistent" in pane


async def test_u_opens_the_upgrade_plan_and_f_refuses_a_member_no_check_named(
    plain_lab: LabInfo,
) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.view is None:
            await pilot.pause(0.05)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MemberDetailScreen)
        notified = len(app._notifications)
        await pilot.press("F")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MemberDetailScreen)  # no repair screen opened
        assert len(app._notifications) > notified
        await pilot.press("escape")
        await pilot.pause(0.1)
        await pilot.press("u")
        await pilot.pause(0.3)
        assert isinstance(app.screen, RunbookScreen)
        assert "Upgrade" in app.screen.title_text
