"""The gateway's snapshot messages decoded as they arrive, whatever the read boundaries."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import random

import pytest

from etcdtui.clients.gateway_snapshot import BlobDecoder
from etcdtui.errors import EtcdError, SnapshotError
from etcdtui.snapshots.sink import DigestCheck


def snapshot_like(pages: int) -> bytes:
    body = os.urandom(512 * pages)
    return body + hashlib.sha256(body).digest()


def gateway_lines(data: bytes, size: int = 1000) -> bytes:
    """`data` as etcd's gateway sends it: one JSON object per line, a blob in each."""
    lines = []
    for at in range(0, len(data), size):
        blob = base64.b64encode(data[at : at + size]).decode()
        result = {"remaining_bytes": str(len(data) - at - size), "blob": blob}
        lines.append(json.dumps({"result": result}, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def decode(pieces: list[bytes]) -> bytes:
    decoder = BlobDecoder("http://node2:2379")
    out = b"".join(b"".join(decoder.feed(piece)) for piece in pieces)
    decoder.finish()
    return out


def split_at(data: bytes, *cuts: int) -> list[bytes]:
    edges = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def test_two_pieces_split_at_every_byte_give_the_same_bytes() -> None:
    data = os.urandom(50)  # blobs of 7 bytes: base64 groups, padding and markers all split
    stream = gateway_lines(data, size=7)
    for cut in range(len(stream) + 1):
        assert decode(split_at(stream, cut)) == data, cut


@pytest.mark.parametrize("seed", range(6))
def test_random_pieces_of_a_snapshot_pass_its_trailer_check(seed: int) -> None:
    data = snapshot_like(40)
    stream = gateway_lines(data, size=random.Random(seed).choice([32768, 1000, 999, 3]))
    rng = random.Random(seed)
    cuts = [rng.randrange(len(stream)) for _ in range(rng.choice([1, 50, 2000]))]
    check = DigestCheck()
    decoder = BlobDecoder("node2")
    for piece in split_at(stream, *cuts):
        for chunk in decoder.feed(piece):
            check.update(chunk)
    decoder.finish()
    check.verify("node2")
    assert check.whole_sha256() == hashlib.sha256(data).hexdigest()


def test_one_byte_pieces_and_a_last_line_without_its_newline() -> None:
    data = os.urandom(100)
    stream = gateway_lines(data, size=30).rstrip(b"\n")
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == data


def test_messages_without_a_blob_and_blank_lines_are_passed_over() -> None:
    stream = b'{"result":{"version":"3.5.0"}}\n\n' + gateway_lines(b"abcdef") + b"\r\n"
    assert decode(split_at(stream, 3, 40)) == b"abcdef"


@pytest.mark.parametrize("cut", [0, 5, 30, 60])
def test_an_error_message_is_raised_in_one_line(cut: int) -> None:
    error = {"error": {"grpc_code": 14, "message": "etcdserver: no leader", "http_code": 503}}
    stream = gateway_lines(b"abc") + json.dumps(error).encode() + b"\n"
    with pytest.raises(EtcdError, match=r"^http://node2:2379: snapshot failed: etcdserver: no "):
        decode(split_at(stream, cut))


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (b"<html>bad gateway</html>\n", "not etcd's"),
        (b'{"other":{"blob":"QUJD"}}\n', "not the result's"),
        (b'{"result":{"blob":"QUJDR"}}\n', "base64 is damaged"),
        (b'{"result":{"blob":"QUJ"}}\n', "base64 is damaged"),
        (b"x" * (1 << 21), "not etcd's"),
    ],
)
def test_what_is_not_etcds_stream_is_refused(stream: bytes, why: str) -> None:
    with pytest.raises(EtcdError, match=why):
        decode(split_at(stream, len(stream) // 3))


def test_a_stream_cut_inside_a_blob_leaves_the_trailer_check_to_fail() -> None:
    stream = gateway_lines(snapshot_like(4), size=300)
    decoder = BlobDecoder("node2")
    check = DigestCheck()
    for chunk in decoder.feed(stream[: len(stream) - 50]):
        check.update(chunk)
    decoder.finish()
    with pytest.raises(SnapshotError, match=r"ended early|does not match"):
        check.verify("node2")
