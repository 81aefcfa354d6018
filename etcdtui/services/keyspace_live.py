"""A live keyspace scan: exact key counts by group from keys-only pages, value sizes from a
sample per group (or exact, reading values page by page), read from a follower at a bounded
rate. A group's sample is up to DEFAULT_SAMPLE consecutive keys from a key chosen uniformly
among the group's, read at the scan's revision in one range read (two when it wraps).
Stopping it (the `stop` event, or ctrl+c in the CLI) keeps what was counted so far.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd_api import prefix_end
from etcdtui.clients.range_scan import Pacer, PageReader, PreferredPages, page_keys_for, scan_pages
from etcdtui.models.cluster import ClusterView
from etcdtui.services.keyspace import (
    GroupRow,
    KeyspaceReport,
    LiveFacts,
    depth_group,
    live_report,
    shown,
)
from etcdtui.snapshots.keyspace import Grouper

DEFAULT_RATE = 100_000  # keys per second
DEFAULT_SAMPLE = 20  # values read per group
# Pages stay inside the narrowest folder, this deep at most, of the key before: scan_pages.
WINDOW_DEPTH = 4

Progress = Callable[[int, float], None]  # keys counted so far, keys per second


def scan_member(view: ClusterView) -> str:
    """The client URL to scan: a healthy follower's, the leader's only when no follower answers."""
    reachable = [m for m in view.members if m.reachable and m.status is not None]
    followers = [m for m in reachable if not m.is_leader and not m.is_learner]
    chosen = followers or reachable
    if not chosen:
        from etcdtui.errors import EtcdError

        raise EtcdError(f"cluster {view.cluster}: no member answered: nothing to scan")
    return chosen[0].endpoint


def scan_client(cluster: ClusterClient) -> PageReader:
    """The client of the member to scan (scan_member), by the cluster's own route: its
    client URL directly, an SSH tunnel, or etcdctl on its node. The cluster owns it.

    A member reached directly is read by etcdctl on this machine where there is one: its
    protobuf pages cost etcd a fraction of the gateway's JSON ones."""
    endpoint = scan_member(cluster.read(metrics=False, health=False))
    fast = cluster.local_etcdctl(endpoint)
    sure = cluster.client(endpoint)
    return sure if fast is None else PreferredPages(fast, sure)


def folders(key: bytes) -> list[bytes]:
    """The folders holding `key`, widest first, at most WINDOW_DEPTH deep."""
    return [depth_group(key, depth) for depth in range(1, WINDOW_DEPTH + 1)]


@dataclass
class _Group:
    keys: int = 0
    key_bytes: int = 0
    value_bytes: int = 0
    start: bytes = b""  # where its sample begins: one of its keys, chosen uniformly


@dataclass
class LiveScan:
    """The running tallies of one scan, kept whole when it is stopped."""

    group_of: Grouper
    exact: bool
    sample_size: int
    groups: dict[bytes, _Group] = field(default_factory=dict)
    revision: int = 0
    keys: int = 0
    _random: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, keys: list[bytes], value_sizes: list[int] | None) -> None:
        """Count one page; pick each group's sample start uniformly (reservoir of one).

        Keys come in key order, so a group's keys mostly come in runs: each run is counted
        at once, and replaces the sample start with one of its keys with probability
        run / keys so far, which keeps the choice uniform over the group's keys.
        """
        group_of, count = self.group_of, len(keys)
        index = 0
        while index < count:
            group = group_of(keys[index])
            end = index + 1
            while end < count and group_of(keys[end]) == group:
                end += 1
            tally = self.groups.get(group)
            if tally is None:
                tally = self.groups[group] = _Group()
            run = end - index
            tally.keys += run
            tally.key_bytes += sum(map(len, keys[index:end]))
            if value_sizes is not None:
                tally.value_bytes += sum(value_sizes[index:end])
            elif self._random.randrange(tally.keys) < run:
                tally.start = keys[index + self._random.randrange(run)]
            index = end
        self.keys += count

    def _sample(self, scanner: PageReader, group: bytes, tally: _Group) -> list[int]:
        """Value sizes of up to sample_size consecutive keys of the group from its start
        (wrapping to the group's first keys when the group ends first): one or two reads."""
        end = prefix_end(group) if group else b"\0"
        sizes: list[int] = []
        for start, stop in ((tally.start, end), (group or b"\0", tally.start)):
            want = self.sample_size - len(sizes)
            if want <= 0 or (start >= stop and stop != b"\0"):
                break
            page = scanner.range_page(start, stop, limit=want, keys_only=False,
                                      revision=self.revision)  # fmt: skip
            ours = [s for k, s in zip(page.keys, page.value_sizes or (), strict=False)
                    if self.group_of(k) == group]  # fmt: skip
            sizes += ours
        return sizes

    def measure_samples(self, scanner: PageReader, stop: threading.Event | None) -> None:
        """Estimate each group's value bytes from its sample's mean value size."""
        for group, tally in self.groups.items():
            if stop is not None and stop.is_set():
                return
            sizes = self._sample(scanner, group, tally) if tally.keys else []
            if sizes:
                tally.value_bytes = round(sum(sizes) / len(sizes) * tally.keys)

    def rows(self) -> list[GroupRow]:
        return [GroupRow(shown(g), t.keys, t.key_bytes + t.value_bytes)
                for g, t in self.groups.items()]  # fmt: skip


@dataclass(frozen=True)
class ScanOptions:
    """How to scan: what, how fast, and how value sizes are found."""

    prefix: bytes = b""
    exact: bool = False
    sample_size: int = DEFAULT_SAMPLE
    rate: float = DEFAULT_RATE
    page_keys: int | None = None  # None: the reader's own (page_keys_for)


def run_scan(
    scanner: PageReader,
    group_of: Grouper,
    options: ScanOptions,
    *,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
) -> KeyspaceReport:
    """Scan the member behind `scanner`; a KeyboardInterrupt or `stop` ends the scan early
    and the report says so (complete=False) with the counts made until then."""
    started = time.monotonic()
    scan = LiveScan(group_of, options.exact, options.sample_size)
    pacer = Pacer(options.rate)
    page_keys = options.page_keys or page_keys_for(scanner, not options.exact)
    complete = False
    try:
        for page in scan_pages(scanner, options.prefix, keys_only=not options.exact,
                               page_keys=page_keys, pacer=pacer, stop=stop,
                               windows=folders):  # fmt: skip
            scan.revision = page.revision
            scan.add(page.keys, page.value_sizes)
            if progress is not None:
                progress(scan.keys, pacer.keys_per_second)
        complete = stop is None or not stop.is_set()
    except KeyboardInterrupt:
        complete = False
    scanned = time.monotonic() - started
    if not options.exact:
        try:
            scan.measure_samples(scanner, stop)
        except KeyboardInterrupt:
            complete = False
    facts = LiveFacts(
        endpoint=scanner.endpoint,
        rate_limit=options.rate,
        keys_per_second=scan.keys / scanned if scanned > 0 else 0.0,
        seconds=time.monotonic() - started,
        sample_size=None if options.exact else options.sample_size,
        complete=complete,
    )
    return live_report(scanner.endpoint, scan.revision, shown(options.prefix), scan.rows(), facts)
