"""Consistency checks from the dashboard: one at a time, in a worker, the last reading kept.

`h` (or the cluster's `check_minutes`) takes a reading: every member's HashKV at one revision
(services/consistency.py), through the runbooks' client, so the dashboard's polls go on. The
Leader & health pane says a check is under way, then shows its verdict; the member detail reads
`reading` to offer the repair. The interval is never shorter than the service allows for a
large database (HashKV reads the whole keyspace).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from textual.css.query import NoMatches
from textual.timer import Timer

from etcdtui.errors import EtcdtuiError
from etcdtui.ui.widgets.panes import HealthPane

if TYPE_CHECKING:
    from etcdtui.services.consistency import Reading
    from etcdtui.ui.app import EtcdtuiApp

# services.consistency (and the etcd clients under it) is imported when a reading is taken:
# the dashboard's first paint does not wait for it.


class ConsistencyChecks:
    """The app's consistency readings of its current cluster."""

    def __init__(self, app: EtcdtuiApp) -> None:
        self.app = app
        self.reading: Reading | None = None
        self._timer: Timer | None = None

    def start(self) -> None:
        """Take a reading now (a reading under way is replaced by this one)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._show(None, checking=True)
        self.app.run_worker(self._read, thread=True, exclusive=True, group="consistency",
                            exit_on_error=False)  # fmt: skip

    def forget(self) -> None:
        """Another cluster: its predecessor's reading means nothing for it."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.reading = None

    def _read(self) -> None:
        from etcdtui.services.consistency import ConsistencyCheck

        launcher = self.app.launcher
        try:
            reading = ConsistencyCheck(launcher.cluster()).read()
        except EtcdtuiError as exc:
            self.app.call_from_thread(self._failed, launcher, str(exc))
            return
        self.app.call_from_thread(self._done, launcher, reading)

    def _done(self, launcher: object, reading: Reading) -> None:
        from etcdtui.services.consistency import check_interval

        if launcher is not self.app.launcher:
            return  # the app moved to another cluster meanwhile
        self.reading = reading
        self._show(reading, checking=False)
        view = self.app.view
        minutes = self.app.connection.check_minutes
        interval = check_interval(minutes * 60, view) if view is not None else 0.0
        if interval:
            self._timer = self.app.set_timer(interval, self.start)

    def _failed(self, launcher: object, why: str) -> None:
        if launcher is not self.app.launcher:
            return
        self._show(None, checking=False)
        self.app.notify(f"consistency check failed: {why}", severity="error", markup=False)

    def _show(self, reading: Reading | None, checking: bool) -> None:
        dashboard = self.app.dashboard
        if dashboard is None:
            return
        with contextlib.suppress(NoMatches):
            dashboard.query_one("#health", HealthPane).show_consistency(reading, checking)
