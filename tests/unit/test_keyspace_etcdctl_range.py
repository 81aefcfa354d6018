"""How a range page becomes `etcdctl get` arguments, and etcdctl's answer the page asked for:
checked against a sorted keyspace answering as etcd answers (keys at or after the key, before
the range end, at most the limit, `more` when some were left)."""

from __future__ import annotations

import pytest

from etcdtui.clients.etcdctl_range import etcdctl_range
from etcdtui.clients.range_read import RangePage, parse_range_page

KEYS = sorted([b"/a/1", b"/a/2", b"/a/3", b"/b/1", b"/b/2", b"/c\xc3\xa9/1", b"/d/1"])


def _etcd(args: list[str]) -> RangePage:
    """What etcd returns for the `etcdctl get` arguments `args` over KEYS."""
    flags = [a for a in args[: args.index("--")] if a.startswith("--")]
    positional = args[args.index("--") + 1 :]
    limit = int(next(f for f in flags if f.startswith("--limit=")).split("=")[1])
    start = positional[0].encode() or b"\0"
    if "--from-key" in flags:
        inside = [k for k in KEYS if k >= start]
    else:
        inside = [k for k in KEYS if start <= k < positional[1].encode()]
    return RangePage(7, inside[:limit], None, len(inside) > limit)


def _page(start: bytes, end: bytes, limit: int) -> RangePage:
    asked = etcdctl_range(start, end, limit=limit, keys_only=True, revision=7)
    assert asked is not None
    assert "--rev=7" in asked.args and "--consistency=s" in asked.args
    return asked.trim(_etcd(asked.args))


def _expected(start: bytes, end: bytes, limit: int) -> RangePage:
    inside = [k for k in KEYS if k >= start and (end == b"\0" or k < end)]
    return RangePage(7, inside[:limit], None, len(inside) > limit)


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (b"\0", b"\0"),  # every key
        (b"\0", b"/b/"),  # from the first key to a bound
        (b"/a/1\0", b"\0"),  # just after a key, to the end
        (b"/a/1\0", b"/a0"),  # just after a key, inside a folder
        (b"/a/3\0", b"/c\xc3\xa9/"),
        (b"/b/", b"/c\xc3\xaa"),  # a folder's bound that is text
        (b"/c\xc3\xa9/", b"/c\xc3\xa9\xff"),  # a bound no argument can hold: cut here
        (b"/d/1\0", b"/d0"),  # after the last key: nothing
    ],
)
def test_etcdctl_pages_are_the_ranges_asked_for(start: bytes, end: bytes, limit: int) -> None:
    assert _page(start, end, limit) == _expected(start, end, limit)


def test_a_start_no_argument_can_hold_is_refused() -> None:
    assert etcdctl_range(b"/a\0/b", b"\0", limit=5, keys_only=True, revision=0) is None
    assert etcdctl_range(b"\xff/x", b"\0", limit=5, keys_only=True, revision=0) is None


def test_pages_parse_keys_and_value_sizes_without_decoding_values() -> None:
    values = ["", "YWJjZA==", "YWJjZGU=", "YWJj"]  # "", "abcd", "abcde", "abc"
    keys = ["L2E=", "L2I=", "L2M=", "L2Q="]  # /a, /b, /c, /d
    kvs = [{"key": key, "value": value} for key, value in zip(keys, values, strict=True)]
    data = {"header": {"revision": "9"}, "more": True, "kvs": kvs}
    page = parse_range_page(data, keys_only=False)
    assert page == RangePage(9, [b"/a", b"/b", b"/c", b"/d"], [0, 4, 5, 3], True)
    assert parse_range_page({"header": {"revision": 3}}, keys_only=True) == RangePage(
        3, [], None, False
    )
