"""Driving a runbook screen with Textual's pilot as a person would: execute, confirm, wait."""

from __future__ import annotations

from textual.widgets import Input

from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.confirm import ConfirmScreen
from etcdtui.ui.screens.runbook import RunbookScreen


async def wait_done(screen: RunbookScreen, pilot) -> None:  # type: ignore[no-untyped-def]
    while screen.running or screen.report is None:
        await pilot.pause(0.1)


async def run_destructive(app: EtcdtuiApp, pilot, cluster: str = "lab") -> RunbookScreen:  # type: ignore[no-untyped-def]
    """On the runbook screen just opened: wait for the plan, execute it, type the cluster's
    name, wait for the end; the report must be ok."""
    screen = app.screen
    assert isinstance(screen, RunbookScreen)
    while screen.plan is None:
        await pilot.pause(0.1)
    assert not screen.plan.blocked, [c.reason for c in screen.plan.checks]
    assert screen.plan.destructive
    await pilot.press("x")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    app.screen.query_one(Input).value = cluster
    await pilot.press("enter")
    await wait_done(screen, pilot)
    assert screen.report is not None and screen.report.ok, screen.report.stopped
    return screen
