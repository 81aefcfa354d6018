"""The snapshot keyspace reader on the checked-in etcd 3.5.1 snapshot, its KeyValue decoder,
the scan's pacing, and the keyspace command's bad input."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

import pytest

from etcdtui.cli.common import Parser
from etcdtui.clients.range_scan import Pacer, RangePage
from etcdtui.errors import SnapshotError
from etcdtui.services.keyspace import grouper
from etcdtui.snapshots.keyspace import decode_key_value, read_keyspace

SMALL = Path(__file__).parent.parent / "data" / "etcd-3.5.1-small.snapshot.db"


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return bytes([number << 3 | wire]) + payload


def test_key_value_decoder_reads_key_value_size_and_lease() -> None:
    encoded = (
        _field(1, 2, b"\x03/ab")
        + _field(2, 0, b"\x05")
        + _field(5, 2, bytes([200, 1]) + b"x" * 200)
        + _field(6, 0, b"\x96\x01")  # 150
    )
    assert decode_key_value(memoryview(encoded)) == (b"/ab", 200, 150)


@pytest.mark.parametrize("bad", [b"", _field(1, 2, b"\x09short"), b"\x0f", _field(2, 0, b"\x80")])
def test_key_value_decoder_refuses_malformed_values(bad: bytes) -> None:
    with pytest.raises(ValueError):
        decode_key_value(memoryview(bad))


def test_small_snapshot_has_two_live_keys_history_and_a_tombstone() -> None:
    found = read_keyspace(SMALL, grouper(1))
    ((group, tally),) = found.groups.items()
    assert group == b"/"
    assert (tally.keys, tally.history_revisions, tally.tombstones) == (2, 2, 1)
    assert found.revision == 6 and found.leases == 0
    assert 0 < tally.stored_bytes < found.file_size


def test_releasing_the_mapping_while_walking_reads_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from etcdtui.snapshots import bolt

    kept = read_keyspace(SMALL, grouper(None))
    released: list[tuple[int, int]] = []
    release = bolt.BoltFile._release

    def spy(self: bolt.BoltFile, start: int, end: int) -> None:
        released.append((start, end))
        release(self, start, end)

    # Release after every leaf page: every page and view read afterwards is faulted back in.
    monkeypatch.setattr(bolt, "RELEASE_EVERY", 1)
    monkeypatch.setattr(bolt.BoltFile, "_release", spy)
    again = read_keyspace(SMALL, grouper(None))
    assert released and (again.groups, again.revision) == (kept.groups, kept.revision)
    assert again.leases == kept.leases and again.leased_keys == kept.leased_keys


def test_prefix_leaves_other_keys_out(tmp_path: Path) -> None:
    assert read_keyspace(SMALL, grouper(1), prefix=b"/nothing-here/").groups == {}


def test_a_file_that_is_not_a_snapshot_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"x" * 8192)
    with pytest.raises(SnapshotError, match="not a snapshot"):
        read_keyspace(junk, grouper(None))


def test_pacer_waits_when_ahead_of_its_rate() -> None:
    now = [0.0]
    waits: list[float] = []

    class Recorded(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    stop = Recorded()
    pacer = Pacer(1000, clock=lambda: now[0])
    pacer.account(500, stop)  # 0.5 s of budget used at t=0
    now[0] = 2.0
    pacer.account(500, stop)  # on time: no wait
    assert waits == [0.5]


def _parse(*argv: str) -> argparse.Namespace:
    from etcdtui.cli import keyspace

    parser = Parser(prog="etcdtui")
    keyspace.register(parser.add_subparsers(dest="command", parser_class=Parser))
    return parser.parse_args(["keyspace", *argv])


@pytest.mark.parametrize(
    "argv", [["--depth", "0"], ["--top", "x"], ["--snapshot", "/no/such/file"], ["-w", "yaml"]]
)
def test_bad_input_exits_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(*argv)
    assert exc.value.code == 2


def test_exact_with_a_snapshot_is_refused() -> None:
    from etcdtui.cli.keyspace import cmd_keyspace
    from etcdtui.errors import UsageError

    with pytest.raises(UsageError, match="--exact"):
        cmd_keyspace(_parse("--snapshot", str(SMALL), "--exact"))


class _Store:
    """A sorted keyspace answering range pages as etcd does (for scan_pages' bounds)."""

    def __init__(self, keys: list[bytes]) -> None:
        self.keys = sorted(keys)
        self.endpoint = "memory"

    def range_page(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int,
        keys_only: bool,
        revision: int = 0,
        timeout: float = 0,
    ) -> RangePage:
        inside = [k for k in self.keys if k >= start and (end == b"\0" or k < end)]
        return RangePage(5, inside[:limit], None, len(inside) > limit)


def test_scan_pages_reads_every_key_once_across_folders() -> None:
    from etcdtui.clients.range_scan import scan_pages
    from etcdtui.services.keyspace_live import folders

    keys = [f"/registry/{r}/ns-{n}/k{i}".encode() for r in "ab" for n in range(3) for i in range(7)]
    keys += [b"/registry/namespaces/x", b"/top", b"bare", b"bare2", b"/registry/a/ns-0/k0/deeper"]
    store = _Store(keys)
    for page_keys in (1, 2, 3, 50):
        seen = [k for page in scan_pages(store, b"", page_keys=page_keys, windows=folders)  # type: ignore[arg-type]
                for k in page.keys]  # fmt: skip
        assert seen == sorted(keys)
    under = [
        k for p in scan_pages(store, b"/registry/b/", page_keys=2, windows=folders) for k in p.keys
    ]  # type: ignore[arg-type]
    assert under == sorted(k for k in keys if k.startswith(b"/registry/b/"))


class _Recording(_Store):
    """A _Store that keeps each range page's limit, and refuses starts it is told to."""

    def __init__(self, keys: list[bytes], refuse: bytes = b"") -> None:
        super().__init__(keys)
        self.limits: list[int] = []
        self.refuse = refuse

    def range_page(self, start: bytes, end: bytes, **kwargs: Any) -> RangePage:
        from etcdtui.clients.etcdctl_range import UnsayableKey

        if self.refuse and start.startswith(self.refuse):
            raise UnsayableKey(f"cannot take {start!r}")
        self.limits.append(kwargs["limit"])
        return super().range_page(start, end, **kwargs)


def test_preferred_pages_ask_etcdctl_for_big_keys_only_pages_and_the_gateway_for_the_rest() -> None:
    from etcdtui.clients.range_scan import (
        FAST_PAGE_KEYS,
        PAGE_KEYS,
        PreferredPages,
        page_keys_for,
        scan_pages,
    )

    keys = [f"/k/{i:03d}".encode() for i in range(31)] + [b"/k/\xff", b"/k/\xff2"]  # 8 pages
    fast, sure = _Recording(keys, refuse=b"/k/\xff"), _Recording(keys)
    pages = PreferredPages(fast, sure)
    assert page_keys_for(pages, keys_only=True) == FAST_PAGE_KEYS
    assert page_keys_for(pages, keys_only=False) == page_keys_for(sure, True) == PAGE_KEYS
    seen = [k for page in scan_pages(pages, b"/k/", page_keys=4) for k in page.keys]
    assert seen == sorted(keys)
    assert sure.limits == [4]  # only the page that starts past b"/k/\xff"
    pages.range_page(b"/k/", b"/k0", limit=20, keys_only=False)  # a group's value sample
    assert sure.limits == [4, 20] and 20 not in fast.limits


def test_the_page_after_a_folder_is_asked_as_the_scan_enters_it() -> None:
    """The costliest page, the first after a folder (it counts the rest of the folder around
    it), is asked beside the folder's own pages rather than after them."""
    from etcdtui.clients.range_scan import scan_pages
    from etcdtui.services.keyspace_live import folders

    keys = [
        f"/registry/{r}/ns-{n}/k{i}".encode() for r in "abc" for n in range(3) for i in range(7)
    ]
    store = _Recording(keys)
    starts: list[bytes] = []
    real = store.range_page

    def range_page(start: bytes, end: bytes, **kwargs: Any) -> RangePage:
        starts.append(start)
        return real(start, end, **kwargs)

    store.range_page = range_page  # type: ignore[method-assign]
    seen = [k for page in scan_pages(store, b"", page_keys=2, windows=folders) for k in page.keys]  # type: ignore[arg-type]
    assert seen == sorted(keys)
    after_a = starts.index(b"/registry/a0")  # the first page after /registry/a/
    last_in_a = max(i for i, s in enumerate(starts) if s.startswith(b"/registry/a/"))
    assert after_a < last_in_a, starts
