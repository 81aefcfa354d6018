"""The dashboard's poll loop: one read of the cluster at a time, in a worker thread.

A poll runs `ClusterSource.read()` in a thread worker and posts the view to the app as a
`ClusterRefreshed` message. The next poll is armed with a one-shot timer only once the app has
shown that view, so two polls never overlap and a slow member cannot pile up requests. While
no member answers, the delay doubles up to `MAX_BACKOFF`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.timer import Timer

from etcdtui.clients.cluster import ClusterSource
from etcdtui.config import Connection
from etcdtui.models import ClusterView
from etcdtui.services.history import History
from etcdtui.ui.messages import ClusterRefreshed

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
MAX_BACKOFF = 30.0

SourceFactory = Callable[[Connection], ClusterSource]


class Poller:
    """Polls one source for `app`, keeps the history of what it read, and backs off while
    the cluster does not answer.

    The app hands each `ClusterRefreshed` to `received`, shows the view, then calls `arm`.
    """

    def __init__(self, app: App[Any], source: ClusterSource | None, interval: float) -> None:
        self.app = app
        self.source = source
        self.interval = interval
        self.history = History()
        self.view: ClusterView | None = None
        self.paused = False
        self.polls = 0
        self.failures = 0
        self._generation = 0  # bumped on every source change: older results are dropped
        self._timer: Timer | None = None

    def poll(self) -> None:
        """One refresh now, in a thread; a poll still running is superseded."""
        self.app.run_worker(self._read, name="poll", group="poll", description="poll",
                            thread=True, exclusive=True, exit_on_error=False)  # fmt: skip

    def _read(self) -> None:
        source, generation = self.source, self._generation
        if source is None:
            return
        view = source.read()
        self.app.post_message(ClusterRefreshed(view, generation))

    def received(self, message: ClusterRefreshed) -> ClusterView | None:
        """Take a refresh into the history; None for one of a source we switched away from."""
        if message.generation != self._generation:
            return None
        view = message.view
        self.polls += 1
        if self.polls == 1:
            # Everything built at start-up lives as long as the app: keep it out of the
            # collector's full passes, which otherwise stall a key press by ~100 ms.
            gc.freeze()
        self.view = view
        self.history.add(view)
        unreachable = bool(view.error) and not any(m.reachable for m in view.members)
        self.failures = self.failures + 1 if unreachable else 0
        return view

    def next_delay(self) -> float:
        """The refresh interval, doubled per failed refresh while no member answers."""
        if not self.failures:
            return self.interval
        doubled = self.interval * 2.0 ** min(self.failures, 16)  # no overflow after hours
        return min(doubled, max(MAX_BACKOFF, self.interval))

    def state_text(self) -> str:
        """The dashboard's refresh state, as markup of our own (no text from outside)."""
        if self.paused:
            return "[b $warning]⏸ PAUSED[/] (p resumes)"
        if self.failures:
            return f"[b $error]no member answers[/]: retrying in {self.next_delay():.0f} s"
        return f"every {self.interval:g} s"

    def arm(self) -> None:
        """Schedule the next poll (none while paused), replacing any scheduled one."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = None if self.paused else self.app.set_timer(self.next_delay(), self.poll)

    def toggle_pause(self) -> bool:
        """Stop or restart the automatic refresh (a restart polls at once); True if paused."""
        self.paused = not self.paused
        if self.paused and self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self.paused:
            self.poll()
        return self.paused

    def cycle_interval(self) -> float:
        """Move to the next refresh interval of INTERVALS (after the last, the first)."""
        later = [i for i in INTERVALS if i > self.interval]
        self.interval = later[0] if later else INTERVALS[0]
        self.arm()
        return self.interval

    def use(self, source: ClusterSource, forget: bool = False) -> None:
        """Poll `source` from now on and close the old one; a poll of the old one still under
        way is ignored. `forget`: drop the history and the last view too (another cluster)."""
        old, self.source = self.source, source
        self._generation += 1
        self.failures = 0
        if forget:
            self.history.clear()
            self.view = None
        if old is not None:
            old.close()

    def close(self) -> None:
        """Close the source (the app is ending)."""
        if self.source is not None:
            self.source.close()
