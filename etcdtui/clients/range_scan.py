"""Paginated range reads for scanning a keyspace without loading the cluster.

Each page is one range read of any EtcdClient (`range_page`: the gateway, directly or through
an SSH tunnel, or etcdctl on a node): `limit` keys, keys only unless values are wanted,
serializable (the member answers from its own store, so a follower serves it without asking
the leader), and pinned to the first page's revision so every page reads the same
consistent keyspace. The next page starts just after the last key of the one before. Pages
are paced to a rate limit in keys per second.

"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from etcdtui.clients.etcd_api import prefix_end
from etcdtui.clients.etcdctl_range import UnsayableKey
from etcdtui.clients.range_read import PAGE_TIMEOUT, RangePage

__all__ = [
    "PAGE_KEYS",
    "Pacer",
    "PageReader",
    "PreferredPages",
    "RangePage",
    "page_keys_for",
    "scan_pages",
]

# Keys a page: each page costs etcd a count of its whole range and the gateway a JSON
# encoding, so fewer, bigger pages scan faster; the pacer keeps the rate bounded all the same.
PAGE_KEYS = 10_000


class PageReader(Protocol):
    """What a scan reads pages from: every EtcdClient is one."""

    @property
    def endpoint(self) -> str: ...

    def range_page(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int,
        keys_only: bool,
        revision: int = 0,
        timeout: float = PAGE_TIMEOUT,
    ) -> RangePage: ...


# Keys a keys-only page read by etcdctl here asks for. Every page is a process of its own
# (tens of ms before etcd is even asked) and costs etcd a count of its range, so fewer,
# larger pages: on a 1,000,000-key lab, a median 12.2 s with pages of 10,000 keys, 8.8 s with
# 50,000 (three runs each). Such a page is about 2.5 MB.
FAST_PAGE_KEYS = 50_000

# Value reads of fewer keys than this (a group's sample) cost less through the gateway than
# a process of their own.
SMALL_PAGE = 1_000


class PreferredPages:
    """Pages from `fast` (etcdctl on this machine), and from `sure` (the member's own route)
    for a small read of values, or a page that starts at a key etcdctl cannot take as an
    argument."""

    def __init__(self, fast: PageReader, sure: PageReader) -> None:
        self.fast, self.sure = fast, sure

    @property
    def endpoint(self) -> str:
        return self.sure.endpoint

    def range_page(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int,
        keys_only: bool,
        revision: int = 0,
        timeout: float = PAGE_TIMEOUT,
    ) -> RangePage:
        def read(reader: PageReader) -> RangePage:
            return reader.range_page(start, end, limit=limit, keys_only=keys_only,
                                     revision=revision, timeout=timeout)  # fmt: skip

        if not keys_only and limit < SMALL_PAGE:
            return read(self.sure)
        try:
            return read(self.fast)
        except UnsayableKey:
            return read(self.sure)


def page_keys_for(scanner: PageReader, keys_only: bool) -> int:
    """How many keys a page of `scanner` asks for: more for etcdctl's keys-only pages."""
    if keys_only and isinstance(scanner, PreferredPages):
        return FAST_PAGE_KEYS
    return PAGE_KEYS


class Pacer:
    """Keeps a scan at or below `rate` keys per second by sleeping between pages."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self.started = clock()
        self.done = 0

    def account(self, keys: int, stop: threading.Event | None = None) -> None:
        """Count `keys` read; wait until reading them was allowed (or `stop` is set)."""
        self.done += keys
        ahead = self.done / self.rate - (self._clock() - self.started)
        if ahead > 0:
            if stop is not None:
                stop.wait(ahead)
            else:
                time.sleep(ahead)

    @property
    def keys_per_second(self) -> float:
        elapsed = self._clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


def _narrower(
    windows: Callable[[bytes], list[bytes]] | None, key: bytes, ends: list[bytes]
) -> None:
    """Push the ends of the parts of the keyspace holding `key` that are narrower than the
    current range (a part's end below the current end), widest first."""
    for folder in windows(key) if windows is not None else ():
        if not folder:
            continue  # a key outside any folder: no narrower part
        end = prefix_end(folder)
        if ends[-1] == b"\0" or end < ends[-1]:
            ends.append(end)


def scan_pages(
    scanner: PageReader,
    prefix: bytes,
    *,
    keys_only: bool = True,
    page_keys: int = PAGE_KEYS,
    pacer: Pacer | None = None,
    stop: threading.Event | None = None,
    windows: Callable[[bytes], list[bytes]] | None = None,
) -> Iterator[RangePage]:
    """Every key under `prefix` (b"": all keys), page by page at one revision.

    etcd counts every key from a page's start to its range end to answer one page, so a
    page of an open range costs the whole rest of the keyspace. `windows` (a key -> the
    folders it is in, widest first: /registry/, /registry/pods/, /registry/pods/ns-a/)
    bounds each page to the narrowest folder of the key before it; when a folder is done,
    the scan goes on with the rest of the folder around it. The next page is read (in a
    thread) while the caller counts the one before, so the two overlap.

    The first page after a folder still counts the rest of the folder around it (after
    /registry/pods/, every key of /registry/ that follows), the costliest pages of a scan.
    So on entering a folder, the page after it is read at once, beside the folder's own
    pages (a read per folder level at most, WINDOW_DEPTH with the keyspace's windows); the
    pacer keeps the rate over the whole scan.
    """
    start = prefix or b"\0"
    ends = [prefix_end(prefix) if prefix else b"\0"]
    revision = 0
    read = functools.partial(scanner.range_page, limit=page_keys, keys_only=keys_only)
    after: dict[bytes, _Ahead] = {}  # the page after a folder, by the folder's end
    found = read(start, ends[-1], revision=0)
    while True:
        revision = revision or found.revision
        if found.more and found.keys:
            start = found.keys[-1] + b"\0"
            depth = len(ends)
            _narrower(windows, found.keys[-1], ends)
            for level in range(depth, len(ends)):  # each folder entered: what follows it
                after[ends[level]] = _Ahead(functools.partial(read, ends[level], ends[level - 1],
                                                              revision=revision))  # fmt: skip
        elif len(ends) > 1:
            start = ends.pop()  # this folder is done: on to the rest of the one around it
        else:
            start = b""  # the last page
        # The next page is read while the caller works on this one.
        ahead = after.pop(start, None) or (
            _Ahead(functools.partial(read, start, ends[-1], revision=revision)) if start else None
        )
        if found.keys:
            yield RangePage(revision, found.keys, found.value_sizes, found.more)
            if pacer is not None:
                pacer.account(len(found.keys), stop)
        if ahead is None or (stop is not None and stop.is_set()):
            return
        found = ahead.result()


class _Ahead:
    """One page read in a thread of its own while the scan hands on the page before.

    A daemon thread: a scan stopped (or interrupted) while a page is on its way neither
    waits for it nor keeps the process from exiting.
    """

    def __init__(self, read: Callable[[], RangePage]) -> None:
        self._done = threading.Event()
        self._page: RangePage | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(read,), name="range-page", daemon=True).start()

    def _run(self, read: Callable[[], RangePage]) -> None:
        try:
            self._page = read()
        except BaseException as exc:  # handed to the scan, which raises it
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> RangePage:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._page is not None
        return self._page
