"""Reading the dashboard as a person would: after its first refresh, row by row; and a cluster
that has not answered yet, for what the dashboard shows before its first poll returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from etcdtui.clients.cluster import ClusterSource
from etcdtui.models import ClusterView
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


class HeldSource:
    """A cluster that has not answered yet: every read waits until `release()`, then returns
    `inner`'s view (a fixed ClusterView, or a live source read then)."""

    def __init__(self, inner: ClusterView | ClusterSource) -> None:
        self.inner = inner
        self.released = threading.Event()

    def read(self, metrics: bool = True, health: bool = True) -> ClusterView:
        # Bounded: a test that forgets to release must not leave a thread behind for ever.
        self.released.wait(FIRST_POLL_WAIT)
        if isinstance(self.inner, ClusterView):
            return self.inner
        return self.inner.read(metrics, health)

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        if not isinstance(self.inner, ClusterView):
            self.inner.close()


async def until(pilot: Pilot[object], check: Callable[[], bool], what: str,
                timeout: float = FIRST_POLL_WAIT) -> None:  # fmt: skip
    """Poll `check` between frames until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def settle(pilot: Pilot[object]) -> None:
    """Until the dashboard has shown its first poll (if the app polls a cluster) and every
    worker is done, then one more frame: what a screenshot or a key press should meet.

    Waiting for the workers alone can return before the poll's worker exists: it is started
    after the first paint, sooner or later as the machine is loaded.
    """
    app = pilot.app
    if isinstance(app, EtcdtuiApp) and app.poller.source is not None:
        await until(pilot, lambda: app.polls >= 1, "the first poll")
    await app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(app: EtcdtuiApp, selector: str) -> str:
    """What a Static on the dashboard shows, as plain text."""
    widget = app.query_one(selector, Static)
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Content) else str(rendered)
