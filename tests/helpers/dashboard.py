"""Reading the dashboard as a person would: after its first refresh, row by row."""

from __future__ import annotations

import time

from textual.pilot import Pilot
from textual.widgets import DataTable

from etcdtui.ui.app import EtcdtuiApp


def rows(app: EtcdtuiApp) -> dict[str, list[str]]:
    table = app.query_one("#members", DataTable)
    result = {}
    for key in table.rows:
        cells = [str(c) for c in table.get_row(key)]
        result[cells[1]] = cells
    return result


FIRST_POLL_WAIT = 60.0  # seconds: a poll that never ends would hold the test for ever


async def first_refresh(app: EtcdtuiApp, pilot: Pilot[object]) -> None:
    """Until the app has shown its first poll (started after the first paint, so waiting for
    the workers alone can return before the poll's worker even exists)."""
    deadline = time.monotonic() + FIRST_POLL_WAIT
    while app.polls < 1 and time.monotonic() < deadline:
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()
