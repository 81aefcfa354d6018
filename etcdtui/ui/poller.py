"""The dashboard's poll loop: one read of the cluster at a time, in a worker thread.

A poll runs `ClusterSource.read()` in a thread worker and posts the view to the app as a
`ClusterRefreshed` message. The next poll is armed with a one-shot timer only once the app has
shown that view, so two polls never overlap and a slow member cannot pile up requests. While
no member answers, the delay doubles up to `MAX_BACKOFF`.

Each view a member answered in is saved to the view cache (services/view_cache.py) from the
worker, so that the next start can paint it before its first poll returns (`cached`).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.timer import Timer

from etcdtui.config import Connection
from etcdtui.models import ClusterView
from etcdtui.services.history import History
from etcdtui.services.view_cache import CachedView, ViewCache
from etcdtui.ui.messages import ClusterRefreshed

if TYPE_CHECKING:
    from etcdtui.clients.cluster import ClusterSource

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
MAX_BACKOFF = 30.0

SourceFactory = Callable[[Connection], "ClusterSource"]


def open_source(connection: Connection) -> ClusterSource:
    """The live source of `connection`: its members directly, or through SSH."""
    from etcdtui.clients.via_ssh import open_cluster

    return open_cluster(connection)


class OpenedOnFirstRead:
    """A source made by `factory` on its first read, in the poll's worker thread.

    Making a client loads the etcd client modules: the dashboard paints first. A factory that
    fails makes a view saying why, as an unreachable cluster does.
    """

    def __init__(self, factory: SourceFactory, connection: Connection) -> None:
        self._factory = factory
        self._connection = connection
        self._source: ClusterSource | None = None
        self._closed = False
        self._lock = threading.Lock()

    def read(self, metrics: bool = True, health: bool = True) -> ClusterView:
        with self._lock:
            if self._source is None and not self._closed:
                try:
                    self._source = self._factory(self._connection)
                except Exception as exc:  # shown, as a failed read is
                    return ClusterView(cluster=self._connection.cluster, members=(),
                                       error=str(exc) or type(exc).__name__)  # fmt: skip
            source = self._source
        if source is None:
            return ClusterView(cluster=self._connection.cluster, members=(), error="closed")
        return source.read(metrics, health)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            source, self._source = self._source, None
        if source is not None:
            source.close()


class Poller:
    """Polls one source for `app`, keeps the history of what it read, and backs off while
    the cluster does not answer.

    The app hands each `ClusterRefreshed` to `received`, shows the view, then calls `arm`.
    """

    def __init__(
        self,
        app: App[Any],
        source: ClusterSource | None,
        interval: float,
        cache: ViewCache | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.app = app
        self.source = source
        # Where each answered view is kept, under `connection`'s identity (None: nowhere).
        self.cache = cache
        self.connection = connection
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
        cache, connection = self.cache, self.connection
        if source is None:
            return
        view = source.read()
        self.app.post_message(ClusterRefreshed(view, generation))
        if cache is not None and connection is not None:
            cache.save(connection, view)

    def cached(self) -> CachedView | None:
        """The cluster's last saved view, to paint until the first poll returns; None once a
        live view is in, or when nothing usable was saved."""
        if self.view is not None or self.cache is None or self.connection is None:
            return None
        return self.cache.load(self.connection)

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

    def use(
        self, source: ClusterSource, forget: bool = False, connection: Connection | None = None
    ) -> None:
        """Poll `source` (of `connection`, the cache's key) from now on and close the old one;
        a poll of the old one still under way is ignored. `forget`: drop the history and the
        last view too (another cluster)."""
        old, self.source = self.source, source
        self.connection = connection
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
