"""snapshot status in Python: the same numbers as etcdctl (3.4) and etcdutl (3.5), on real files.

One lab per etcd version writes keys (an overwrite, a delete, a compaction, a value spread
over overflow pages), saves a snapshot through the API, stops a member and copies its
member/snap/db, and is torn down; every test then works on those files and on damaged copies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etcdtui.errors import SnapshotError, UsageError
from etcdtui.lab import lab_down, lab_up
from etcdtui.snapshots.bolt import META_OFFSET, BoltFile, fnv1a64
from etcdtui.snapshots.status import read_status, sha256_file, sidecar_text, verify_digest

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = [pytest.mark.xdist_group("test_snapshot_file"), pytest.mark.slow]


VERSIONS = ("3.4", "3.5")
# Offsets inside a meta page of the fields the damage tests rewrite.
ROOT_AT, TXID_AT, CHECKSUM_AT = META_OFFSET + 16, META_OFFSET + 48, META_OFFSET + 56


@dataclass(frozen=True)
class Files:
    """What one version's lab left behind."""

    version: str
    snapshot: Path  # saved through the API: ends with the sha256 trailer
    member_db: Path  # a stopped member's member/snap/db: no trailer
    status_tool: str  # etcdctl for 3.4, etcdutl for 3.5 (3.5's etcdctl deprecates it)


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"etcd{v}")
def files(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Files]:
    version: str = request.param
    root = tmp_path_factory.mktemp(f"snapfile{version}")
    info = lab_up(root / "lab", etcd_version=version)
    try:
        # One endpoint: etcdctl snapshot save refuses several.
        env = os.environ | info.etcdctl_env() | {"ETCDCTL_ENDPOINTS": info.endpoints[0]}

        def etcdctl(*args: str, stdin: str | None = None) -> str:
            done = subprocess.run(
                [info.etcdctl, *args], env=env, input=stdin, capture_output=True, text=True,
                timeout=30, check=True,
            )  # fmt: skip
            return done.stdout

        for i in range(40):
            etcdctl("put", f"/app/key{i:02d}", f"value {i}")
        etcdctl("put", "/app/key00", "overwritten")
        etcdctl("del", "/app/key01")
        # 100 KB: more than a page, so the value lives on overflow pages.
        etcdctl("put", "/app/big", stdin=os.urandom(50_000).hex())
        revision = json.loads(etcdctl("get", "/app/key00", "-w", "json"))["header"]["revision"]
        etcdctl("compact", str(revision - 10))
        etcdctl("put", "/app/after-compaction", "x")
        snapshot = root / "snap.db"
        etcdctl("snapshot", "save", str(snapshot))
        node = info.nodes[2]
        subprocess.run([node.service, "stop"], capture_output=True, timeout=30, check=True)
        member_db = root / "member.db"
        shutil.copyfile(Path(node.data_dir) / "member" / "snap" / "db", member_db)
    finally:
        lab_down(info.dir)
    tool = info.etcdutl or info.etcdctl
    yield Files(version, snapshot, member_db, tool)


def tool_status(files: Files, path: Path) -> dict[str, int]:
    """etcdctl's / etcdutl's `snapshot status -w json` for the file."""
    done = subprocess.run(
        [files.status_tool, "snapshot", "status", str(path), "-w", "json"],
        env=os.environ | {"ETCDCTL_API": "3"}, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    status: dict[str, int] = json.loads(done.stdout)
    return status


def assert_agrees(files: Files, path: Path) -> None:
    ours, theirs = read_status(path), tool_status(files, path)
    assert (ours.hash, ours.revision, ours.total_keys, ours.total_size) == (
        theirs["hash"],
        theirs["revision"],
        theirs["totalKey"],
        theirs["totalSize"],
    )


def damaged(tmp_path: Path, source: Path, offset: int, data: bytes) -> Path:
    """A copy of `source` with `data` written at `offset`."""
    copy = tmp_path / f"damaged-{source.name}"
    shutil.copyfile(source, copy)
    with open(copy, "r+b") as file:
        file.seek(offset)
        file.write(data)
    return copy


def cut(tmp_path: Path, source: Path, length: int) -> Path:
    copy = tmp_path / f"cut-{source.name}"
    with open(source, "rb") as src, open(copy, "wb") as dst:
        dst.write(src.read(length))
    return copy


def rewrite_meta(path: Path, page_size: int, which: int, field_at: int, value: int) -> None:
    """Set a u64 field of meta page `which` and give it a valid checksum again."""
    base = which * page_size
    with open(path, "r+b") as file:
        file.seek(base + field_at)
        file.write(struct.pack("<Q", value))
        file.seek(base + META_OFFSET)
        fields = file.read(CHECKSUM_AT - META_OFFSET)
        file.seek(base + CHECKSUM_AT)
        file.write(struct.pack("<Q", fnv1a64(fields)))


def test_status_of_an_api_snapshot_matches_etcdctl(files: Files) -> None:
    theirs = tool_status(files, files.snapshot)
    # 40 puts, an overwrite, a delete, a big value and one more put: history, not just keys.
    assert theirs["revision"] >= 44
    assert theirs["totalKey"] > 44
    assert_agrees(files, files.snapshot)
    status = read_status(files.snapshot)
    assert status.digest == "ok"
    assert status.cluster_version == f"{files.version}.0"
    assert status.hash_hex == format(theirs["hash"], "x")


def test_member_db_copy_has_no_digest_and_matches_etcdctl(files: Files) -> None:
    assert files.member_db.stat().st_size % 4096 == 0
    assert_agrees(files, files.member_db)
    assert read_status(files.member_db).digest == "absent"
    assert verify_digest(files.member_db) == "absent"
    assert verify_digest(files.snapshot) == "ok"


def test_damaged_newest_meta_page_falls_back_to_the_other_like_bbolt(
    files: Files, tmp_path: Path
) -> None:
    with BoltFile(files.member_db) as db:
        page_size = db.page_size
    txids = []
    with open(files.member_db, "rb") as file:
        for which in (0, 1):
            file.seek(which * page_size + TXID_AT)
            txids.append(struct.unpack("<Q", file.read(8))[0])
    newest = txids.index(max(txids))
    # Flip a checksum byte: that meta page is no longer valid, the older one must be used.
    with open(files.member_db, "rb") as file:
        file.seek(newest * page_size + CHECKSUM_AT)
        byte = file.read(1)[0]
    copy = damaged(tmp_path, files.member_db, newest * page_size + CHECKSUM_AT, bytes([byte ^ 1]))
    assert_agrees(files, copy)


def test_root_past_the_high_water_mark_is_corrupt(files: Files, tmp_path: Path) -> None:
    copy = tmp_path / "member.db"
    shutil.copyfile(files.member_db, copy)
    with BoltFile(copy) as db:
        page_size, high_water = db.page_size, db.meta.high_water
    for which in (0, 1):
        rewrite_meta(copy, page_size, which, ROOT_AT, high_water + 7)
    with pytest.raises(SnapshotError, match=r"corrupt: page \d+ is outside the database") as err:
        read_status(copy)
    assert "\n" not in str(err.value)


def test_root_page_of_the_wrong_type_is_corrupt(files: Files, tmp_path: Path) -> None:
    with BoltFile(files.member_db) as db:
        root_at = db.meta.root * db.page_size
    # The page header's flags follow its 8-byte id; 0x10 makes the root a freelist page.
    copy = damaged(tmp_path, files.member_db, root_at + 8, struct.pack("<H", 0x10))
    with pytest.raises(
        SnapshotError, match=r"corrupt: page \d+ has type flags 0x10, not a branch or leaf page"
    ):
        read_status(copy)


def test_snapshot_cut_in_the_middle_is_corrupt_in_one_line(files: Files, tmp_path: Path) -> None:
    size = files.snapshot.stat().st_size
    for length in (size // 2 + 100, size // 2 // 4096 * 4096, size - 10):
        with pytest.raises(SnapshotError, match="corrupt") as err:
            read_status(cut(tmp_path, files.snapshot, length))
        assert "\n" not in str(err.value)


def test_snapshot_with_a_flipped_byte_fails_its_digest(files: Files, tmp_path: Path) -> None:
    middle = files.snapshot.stat().st_size // 2
    with open(files.snapshot, "rb") as file:
        file.seek(middle)
        byte = file.read(1)[0]
    copy = damaged(tmp_path, files.snapshot, middle, bytes([byte ^ 0xFF]))
    with pytest.raises(SnapshotError, match="corrupt: sha256 digest does not match"):
        read_status(copy)
    with pytest.raises(SnapshotError, match="sha256 digest does not match"):
        verify_digest(copy)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (os.urandom(10_000), "not a snapshot (no bbolt header)"),
        (b"name = value\n" * 700, "not a snapshot (no bbolt header)"),
        (b"", "not a snapshot (empty file)"),
    ],
    ids=["random", "text", "empty"],
)
def test_other_files_are_not_snapshots(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "file.db"
    path.write_bytes(content)
    with pytest.raises(SnapshotError) as err:
        read_status(path)
    assert str(err.value) == f"{path}: {why}"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such snapshot file"):
        read_status(tmp_path / "nope.db")
    with pytest.raises(UsageError, match="is a directory, not a regular file"):
        read_status(tmp_path)


def test_fifo_socket_and_device_are_refused_at_once_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)  # no writer: an open without O_NONBLOCK, or a read, would wait forever
    sock_path = tmp_path / "sock.db"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        for path, kind in ((fifo, "a FIFO (named pipe)"), (sock_path, "a socket"),
                           (Path("/dev/zero"), "a character device")):  # fmt: skip
            started = time.monotonic()
            for check in (read_status, verify_digest, sha256_file):
                with pytest.raises(UsageError, match=re.escape(f"is {kind}, not a regular file")):
                    check(path)
            assert time.monotonic() - started < 10  # a blocking open would wait forever
    finally:
        sock.close()


def test_unreadable_file_is_a_usage_error() -> None:
    # Root reads any file: as root (CI), the read is made as nobody, with the effective ids
    # switched for the call alone, in a folder nobody may enter.
    folder = Path(tempfile.mkdtemp(prefix="etcdtui-unreadable-"))
    try:
        folder.chmod(0o755)
        path = folder / "locked.db"
        path.write_bytes(b"x" * 4096)
        path.chmod(0)
        root = os.geteuid() == 0
        if root:
            os.setegid(65534)
            os.seteuid(65534)
        try:
            with pytest.raises(UsageError, match="not readable"):
                read_status(path)
        finally:
            if root:
                os.seteuid(0)
                os.setegid(0)
    finally:
        shutil.rmtree(folder)


def test_verify_digest_refuses_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(SnapshotError, match="empty file"):
        verify_digest(tmp_path / "empty.db")


@pytest.mark.parametrize("name", ["snap 1.db", "snap\\1.db"], ids=["space", "backslash"])
def test_sidecar_matches_sha256sum(files: Files, tmp_path: Path, name: str) -> None:
    copy = tmp_path / name
    shutil.copyfile(files.snapshot, copy)
    made = subprocess.run(
        ["sha256sum", copy.name], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert sidecar_text(copy) == made.stdout
    (tmp_path / f"{name}.sha256").write_text(sidecar_text(copy))
    checked = subprocess.run(
        ["sha256sum", "-c", f"{name}.sha256"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
