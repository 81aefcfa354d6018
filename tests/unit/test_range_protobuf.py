"""Reading etcdctl's `-w protobuf` range answers (RangeResponse in protobuf's wire form)."""

from __future__ import annotations

import pytest

from etcdtui.clients.range_read import parse_range_protobuf


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def key_value(key: bytes, value: bytes = b"", lease: int = 0) -> bytes:
    body = field(1, key) + field(2, 5) + field(3, 7) + field(4, 1)
    if value:
        body += field(5, value)
    if lease:
        body += field(6, lease)
    return body


def response(*kvs: bytes, revision: int = 42, more: bool = False) -> bytes:
    header = field(1, 1 << 60) + field(2, 99) + field(3, revision) + field(4, 3)
    body = field(1, header) + b"".join(field(2, kv) for kv in kvs)
    return body + (field(3, 1) if more else b"") + field(4, len(kvs) + 7)


def test_keys_revision_and_more_are_read_whatever_the_key_length() -> None:
    long_key = b"/registry/" + b"x" * 300  # its length takes two bytes
    page = parse_range_protobuf(
        response(key_value(b"/a"), key_value(long_key), key_value(b"/\xff\x00b"), more=True),
        keys_only=True,
    )
    assert page.keys == [b"/a", long_key, b"/\xff\x00b"]
    assert page.revision == 42 and page.more and page.value_sizes is None


def test_value_sizes_come_from_the_values_and_an_empty_value_is_zero() -> None:
    data = response(key_value(b"/a", b"v" * 200, lease=5), key_value(b"/b"), more=False)
    page = parse_range_protobuf(data, keys_only=False)
    assert page.keys == [b"/a", b"/b"]
    assert page.value_sizes == [200, 0]
    assert not page.more


@pytest.mark.parametrize(
    "data",
    [
        b"",  # etcdctl failed and printed nothing
        response(key_value(b"/a"))[:-3],  # cut short
        field(2, key_value(b"/a")),  # no header
        response(key_value(b"/a")) + b"\x0b",  # a wire type protobuf has no use for here
        field(1, field(3, 4)) + field(2, b"\x0a\x7f/short"),  # a key longer than its message
    ],
    ids=["empty", "truncated", "no-header", "bad-wire-type", "key-past-its-end"],
)
def test_what_is_not_a_range_response_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_range_protobuf(data, keys_only=True)
