"""etcdctl's file followed as it grows, and the save's view of the cluster reused from its plan."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any, cast

import pytest

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import Connection
from etcdtui.errors import EtcdError, SnapshotError
from etcdtui.snapshots.etcdctl_stream import READ_SIZE, EtcdctlStream
from etcdtui.snapshots.save import SnapshotSaver


def fake_etcdctl(tmp_path: Path, source: Path, *, status: int = 0) -> str:
    """Writes `source` as etcdctl does: into FILE.part in three bursts, then renamed to FILE."""
    fake = tmp_path / "etcdctl"
    fake.write_text(
        "#!/bin/sh\nfor a; do last=$a; done\n"
        f'head -c 1000 "{source}" > "$last.part"; sleep 0.05\n'
        f'tail -c +1001 "{source}" | head -c {READ_SIZE * 2 + 7} >> "$last.part"; sleep 0.05\n'
        f'tail -c +{READ_SIZE * 2 + 1008} "{source}" >> "$last.part"\n'
        f'mv "$last.part" "$last"\nexit {status}\n'
    )
    fake.chmod(0o755)
    return str(fake)


def snapshot_file(tmp_path: Path, damaged: bool = False) -> Path:
    body = bytearray(os.urandom(512 * 3000))
    trailer = hashlib.sha256(body).digest()
    if damaged:
        body[700_000] ^= 1
    source = tmp_path / "source.db"
    source.write_bytes(bytes(body) + trailer)
    return source


def stream(etcdctl: str) -> EtcdctlStream:
    return EtcdctlStream(etcdctl, "http://127.0.0.1:1", Connection("lab", ()), "node2", 30)


def test_the_file_etcdctl_writes_is_checked_and_adopted_with_its_sidecar(tmp_path: Path) -> None:
    source = snapshot_file(tmp_path)
    target = tmp_path / "out" / "s.db"
    target.parent.mkdir()
    seen: list[int] = []
    size, digest = stream(fake_etcdctl(tmp_path, source)).save_plain(
        target, lambda done, total, s: seen.append(done), 0.0, None
    )
    assert size == source.stat().st_size == seen[-1]
    assert seen == sorted(seen) and len(seen) >= 3
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert target.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert (tmp_path / "out" / "s.db.sha256").read_text() == f"{digest}  s.db\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["s.db", "s.db.sha256"]


def test_the_pieces_for_an_encryptor_are_not_the_reused_buffer(tmp_path: Path) -> None:
    source = snapshot_file(tmp_path)
    work = tmp_path / "ram"
    work.mkdir()
    pieces = list(stream(fake_etcdctl(tmp_path, source)).chunks(work))
    assert all(isinstance(piece, bytes) for piece in pieces)
    assert b"".join(pieces) == source.read_bytes()
    assert list(work.iterdir()) == []


def test_a_damaged_file_or_a_failed_etcdctl_is_never_adopted(tmp_path: Path) -> None:
    target = tmp_path / "out" / "s.db"
    target.parent.mkdir()
    damaged = fake_etcdctl(tmp_path, snapshot_file(tmp_path, damaged=True))
    with pytest.raises(SnapshotError, match="digest does not match"):
        stream(damaged).save_plain(target, lambda *a: None, 0.0, None)
    failed = fake_etcdctl(tmp_path, snapshot_file(tmp_path), status=1)
    with pytest.raises(EtcdError, match="etcdctl snapshot save failed"):
        stream(failed).save_plain(target, lambda *a: None, 0.0, None)
    assert list(target.parent.iterdir()) == []


class CountedReads:
    """A stand-in for the cluster client that counts its reads (no cluster is asked)."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, **flags: Any) -> object:
        self.reads += 1
        return object()


def test_the_plans_view_is_reused_by_the_save_that_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = CountedReads()
    saver = SnapshotSaver(Connection("lab", ()), cast(ClusterClient, cluster), etcdctl="")
    first = saver.read_view()
    assert saver.read_view() is first and cluster.reads == 1
    monkeypatch.setattr("etcdtui.snapshots.save.VIEW_REUSE", 0.0)  # as if read long ago
    assert saver.read_view() is not first and cluster.reads == 2
