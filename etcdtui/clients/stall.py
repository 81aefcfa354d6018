"""Stall timeouts: a transfer that moves no byte for N seconds has stalled, and says so.

A snapshot may take an hour to move and still be fine; a link that went down moves nothing,
and TCP may take many minutes to notice (paramiko's keepalives expect no answer, so they never
notice). So every transfer is bounded by the time since its last byte, not by its length: SFTP
gets and puts, an SSH command streaming output, the gateway's snapshot stream, etcdctl writing
a snapshot.

`StallWatch` is the clock, for loops that poll: `touch()` when bytes move, `expired` when they
have not for too long. `Watchdog` adds a thread that calls `on_stall` once the clock runs out,
for calls that block without a timeout of their own (paramiko's SFTP requests, a channel
request on a dead link): closing the connection under them makes them fail at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType

from etcdtui.errors import SshTimeout, UsageError

STALL_SECONDS = 30.0
# Overrides STALL_SECONDS: tests shorten it; a person on a link with long pauses lengthens it.
STALL_ENV = "ETCDTUI_STALL_SECONDS"
_MAX_SECONDS = 86400.0


def stall_seconds() -> float:
    """The stall timeout in seconds: $ETCDTUI_STALL_SECONDS, else STALL_SECONDS."""
    text = os.environ.get(STALL_ENV, "").strip()
    if not text:
        return STALL_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= _MAX_SECONDS):  # also false for nan
        raise UsageError(
            f"${STALL_ENV} must be a number of seconds above 0 and up to {_MAX_SECONDS:g}, "
            f"not {text[:40]!r}"
        )
    return value


def stall_message(source: str, seconds: float) -> str:
    """The one line every stalled transfer ends with."""
    return f"no data from {source} for {seconds:g} s: the transfer stalled"


class TransferStalled(SshTimeout):
    """No byte of a transfer with a node moved within the stall timeout."""


class StallWatch:
    """Time since the last byte of a transfer from (or to) `source`."""

    def __init__(self, source: str, seconds: float | None = None) -> None:
        self.source = source
        self.seconds = stall_seconds() if seconds is None else seconds
        self._last = time.monotonic()

    def touch(self) -> None:
        """Bytes moved just now."""
        self._last = time.monotonic()

    def remaining(self) -> float:
        """Seconds left before the transfer counts as stalled (<= 0 once it does)."""
        return self._last + self.seconds - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    @property
    def message(self) -> str:
        return stall_message(self.source, self.seconds)

    def error(self) -> TransferStalled:
        return TransferStalled(self.message, node=self.source)


class _Background:
    """A watcher thread for the length of a `with` block (`_watch` returns when `_done`)."""

    _done: threading.Event
    _thread: threading.Thread

    def _start(self, name: str) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)

    def _watch(self) -> None:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


class Watchdog(StallWatch, _Background):
    """A StallWatch whose thread calls `on_stall` once, when the transfer stalls.

    Use it as a context manager around the transfer; `fired` tells afterwards whether it
    stalled (then whatever failed inside failed because `on_stall` cut it short).
    """

    def __init__(
        self, source: str, on_stall: Callable[[], None], seconds: float | None = None
    ) -> None:
        super().__init__(source, seconds)
        self.on_stall = on_stall
        self.fired = threading.Event()
        self._start(f"stall-{source}")

    def __enter__(self) -> Watchdog:
        self.touch()
        self._thread.start()
        return self

    def _watch(self) -> None:
        # Wake at the deadline of the last touch; a touch since then moves it on.
        while not self._done.wait(max(0.01, self.remaining())):
            if self.expired:
                self.fired.set()
                # Best effort by design: the transfer's own error (now certain) reports it.
                with contextlib.suppress(Exception):
                    self.on_stall()
                return


class LinkMonitor(_Background):
    """While a quiet command runs (a stop that waits, a restore): after each `every` seconds
    with no reply seen, ask the server for one (an OpenSSH keepalive request, which any
    server answers, if only with "failure"). No answer within `every` more seconds means the
    link is dead: `on_dead` closes the connection, so the command fails at once instead of
    waiting out its own timeout (TCP alone may take many minutes to notice)."""

    def __init__(
        self, probe: Callable[[], object], on_dead: Callable[[], None], every: float
    ) -> None:
        self.probe = probe
        self.on_dead = on_dead
        self.every = every
        self.dead = threading.Event()
        self._start("etcdtui-link")

    def __enter__(self) -> LinkMonitor:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(self.every):
            answered = threading.Event()

            def ask(answered: threading.Event = answered) -> None:
                with contextlib.suppress(Exception):  # a closed transport: no answer
                    self.probe()
                    answered.set()

            threading.Thread(target=ask, name="etcdtui-keepalive", daemon=True).start()
            waited = time.monotonic() + self.every
            while not answered.is_set() and not self._done.is_set():
                if time.monotonic() >= waited:
                    self.dead.set()
                    self.on_dead()
                    return
                answered.wait(0.1)
