"""The sink's trailer check and sha256, fed in chunks of every awkward size."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from etcdtui.errors import SnapshotError
from etcdtui.snapshots.sink import DigestCheck


def snapshot_like(pages: int) -> bytes:
    body = os.urandom(4096 * pages)
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize("seed", range(5))
def test_trailer_and_whole_digest_hold_for_any_chunking(seed: int) -> None:
    data = snapshot_like(8)
    rng = random.Random(seed)
    check, at = DigestCheck(), 0
    while at < len(data):
        size = rng.choice([1, 7, 31, 32, 33, 4096, 10000])
        check.update(data[at : at + size])
        at += size
    check.verify("test")
    assert check.whole_sha256() == hashlib.sha256(data).hexdigest()
    assert check.size == len(data)


def test_a_changed_byte_or_a_cut_stream_fails_the_check() -> None:
    data = bytearray(snapshot_like(4))
    data[5000] ^= 1
    changed = DigestCheck()
    changed.update(bytes(data))
    with pytest.raises(SnapshotError, match="digest does not match"):
        changed.verify("test")
    cut = DigestCheck()
    cut.update(snapshot_like(4)[:-100])
    with pytest.raises(SnapshotError, match="ended early"):
        cut.verify("test")


def test_a_stream_cut_short_leaves_no_part_file(tmp_path: Path) -> None:
    from etcdtui.clients.stall import StallWatch, TransferStalled
    from etcdtui.snapshots.sink import stream_to_file

    def stalled() -> Iterator[bytes]:
        yield snapshot_like(2)[:5000]
        raise StallWatch("node2", 30).error()

    seen: list[int] = []
    path = tmp_path / "cut.db"
    with pytest.raises(TransferStalled, match=r"^no data from node2 for 30 s"):
        stream_to_file(stalled(), path, None, lambda done, total, s: seen.append(done), 0.0,
                       None, "node2")  # fmt: skip
    assert seen == [5000]
    assert list(tmp_path.iterdir()) == []
