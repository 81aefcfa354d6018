"""The stall clock, the quiet paramiko threads, and the record of node-side leftovers.

No lab needed: the node-side commands run on this machine (LocalShell runs them as a node
would, with /bin/sh), a fake etcdctl stands for a frozen one.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etcdtui.clients.local_shell import LocalShell
from etcdtui.clients.stall import (
    STALL_ENV,
    STALL_SECONDS,
    StallWatch,
    TransferStalled,
    Watchdog,
    stall_seconds,
)
from etcdtui.config import Connection
from etcdtui.errors import EtcdTimeout, UsageError
from etcdtui.snapshots.etcdctl_stream import EtcdctlStream
from etcdtui.snapshots.leftovers import (
    LeftoverRecord,
    is_own_folder,
    removal_command,
    sweep,
)
from etcdtui.snapshots.on_node import PROGRESS, node_save_script


def _wait(check: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- the stall clock ----------------------------------------------------------------------------


def test_the_stall_timeout_is_thirty_seconds_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(STALL_ENV, raising=False)
    assert stall_seconds() == STALL_SECONDS == 30.0
    monkeypatch.setenv(STALL_ENV, "2.5")
    assert stall_seconds() == 2.5
    assert StallWatch("node2").seconds == 2.5


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", "1e9"])
def test_a_bad_stall_timeout_is_a_usage_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(STALL_ENV, value)
    with pytest.raises(UsageError, match=rf"^\${STALL_ENV} must be a number of seconds"):
        stall_seconds()


def test_a_stall_error_is_one_line_naming_the_source_and_the_seconds() -> None:
    error = StallWatch("node2", 30).error()
    assert isinstance(error, TransferStalled)
    assert str(error) == "no data from node2 for 30 s: the transfer stalled"
    assert error.node == "node2"


def test_the_watchdog_fires_once_when_no_byte_moves() -> None:
    calls: list[float] = []
    began = time.monotonic()
    with Watchdog("node2", lambda: calls.append(time.monotonic()), 0.2) as watchdog:
        assert _wait(watchdog.fired.is_set)
        time.sleep(0.1)  # had it fired again, it would have by now
    assert len(calls) == 1 and 0.2 <= calls[0] - began < 1.5


def test_bytes_that_keep_moving_keep_the_watchdog_quiet() -> None:
    calls: list[int] = []
    with Watchdog("node2", lambda: calls.append(1), 0.3) as watchdog:
        for _ in range(10):  # 1 s in all, never 0.3 s without a touch
            time.sleep(0.1)
            watchdog.touch()
    assert calls == [] and not watchdog.fired.is_set()


# --- paramiko's threads -------------------------------------------------------------------------


_THREADS = """
import threading, paramiko
import etcdtui.clients.ssh.shell  # installs the hook, as every SSH user of etcdtui does
# SSHClient.exec_command without a connection raises inside paramiko's own code, as its SFTP
# prefetch thread does when the connection drops under it.
theirs = threading.Thread(target=paramiko.SSHClient().exec_command, args=("true",))
theirs.start(); theirs.join()
print("---", flush=True)
def ours():
    raise RuntimeError("a bug of ours must still be seen")
mine = threading.Thread(target=ours)
mine.start(); mine.join()
"""


def test_a_paramiko_thread_that_dies_prints_nothing_but_others_still_do() -> None:
    # A process of its own: pytest puts its own threading.excepthook around each test.
    out = subprocess.run([sys.executable, "-c", _THREADS], capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    assert out.stdout == "---\n"
    assert out.stderr.count("Traceback") == 1
    assert "a bug of ours must still be seen" in out.stderr and "paramiko" not in out.stderr


# --- etcdctl on the bastion ---------------------------------------------------------------------


def test_etcdctl_whose_file_stops_growing_is_stopped_and_reported_as_a_stall(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "etcdctl"
    # Writes a little of the snapshot, then hangs as etcdctl does behind a dead link.
    fake.write_text('#!/bin/sh\nfor a; do last=$a; done\nhead -c 5000 /dev/zero > "$last.part"\n'
                    "exec sleep 300\n")  # fmt: skip
    fake.chmod(0o755)
    stream = EtcdctlStream(str(fake), "http://127.0.0.1:1", Connection("lab", ()), "node2", 0.5)
    work = tmp_path / "work"
    work.mkdir()
    received = 0
    began = time.monotonic()
    with pytest.raises(EtcdTimeout, match=r"^no data from node2 for 0.5 s: the transfer stalled$"):
        for chunk in stream._follow(work):
            received += len(chunk)
    assert received == 5000
    assert time.monotonic() - began < 5
    assert not _running(str(fake))


def _running(command: str) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return any(line.startswith(command) or f" {command}" in line for line in out.splitlines())


# --- the node-side script -----------------------------------------------------------------------


def test_the_node_script_reports_growth_and_prints_the_files_sha256(tmp_path: Path) -> None:
    fake = tmp_path / "etcdctl"
    # etcdctl's way: write FILE.part, then rename it to FILE.
    fake.write_text('#!/bin/sh\nfor a; do last=$a; done\nhead -c 300000 /dev/urandom > "$last.part"'
                    '\nsleep 0.5\nmv "$last.part" "$last"\n')  # fmt: skip
    fake.chmod(0o755)
    remote = tmp_path / "snap" / "snapshot.db"
    remote.parent.mkdir()
    result = LocalShell().run(node_save_script([str(fake), "--endpoints=x"], str(remote)))
    assert result.exit_code == 0, result.stderr
    assert f"{PROGRESS} 300000" in result.stdout.splitlines()
    digest = hashlib.sha256(remote.read_bytes()).hexdigest()
    assert f"{digest}  {remote}" in result.stdout.splitlines()


def test_the_node_script_exits_with_etcdctls_failure(tmp_path: Path) -> None:
    fake = tmp_path / "etcdctl"
    fake.write_text("#!/bin/sh\necho 'Error: context deadline exceeded' >&2\nexit 5\n")
    fake.chmod(0o755)
    result = LocalShell().run(node_save_script([str(fake)], str(tmp_path / "snapshot.db")))
    assert result.exit_code == 5
    assert "context deadline exceeded" in result.stderr
    assert not (tmp_path / "snapshot.db").exists()


# --- the record of leftovers --------------------------------------------------------------------


def _folder(parent: Path, name: str = ".etcdtui-snapshot.0123456789ab") -> Path:
    folder = parent / name
    folder.mkdir(mode=0o700)
    (folder / "snapshot.db").write_bytes(b"every secret of the cluster")
    return folder


def test_the_record_is_private_and_keyed_by_cluster_and_node(tmp_path: Path) -> None:
    record = LeftoverRecord(tmp_path / "state" / "etcdtui" / "node-leftovers.json")
    record.add("prod", "node2", "/var/lib/.etcdtui-snapshot.aaaaaa")
    record.add("prod", "node3", "/var/lib/.etcdtui-snapshot.bbbbbb")
    record.add("test", "node2", "/var/lib/.etcdtui-snapshot.cccccc")
    for folder in ("aaaaaa", "bbbbbb", "cccccc"):
        record.release("prod" if folder != "cccccc" else "test",
                       "node3" if folder == "bbbbbb" else "node2",
                       f"/var/lib/.etcdtui-snapshot.{folder}")  # fmt: skip
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(record.path.parent.stat().st_mode) == 0o700
    assert record.folders("prod", "node2") == ["/var/lib/.etcdtui-snapshot.aaaaaa"]
    assert record.folders("test", "node2") == ["/var/lib/.etcdtui-snapshot.cccccc"]
    record.forget("prod", "node2", "/var/lib/.etcdtui-snapshot.aaaaaa")
    data = json.loads(record.path.read_text())["leftovers"]
    assert set(data["prod"]) == {"node3"} and set(data["test"]) == {"node2"}


def test_a_folder_in_use_is_not_swept_until_its_save_releases_it(tmp_path: Path) -> None:
    record = LeftoverRecord(tmp_path / "record.json")
    record.add("lab", "node2", "/d/.etcdtui-snapshot.aaaaaa")
    assert record.folders("lab", "node2") == []  # this process's save is still using it
    record.release("lab", "node2", "/d/.etcdtui-snapshot.aaaaaa")
    assert record.folders("lab", "node2") == ["/d/.etcdtui-snapshot.aaaaaa"]


def test_a_folder_of_another_running_etcdtui_is_left_to_it(tmp_path: Path) -> None:
    record = LeftoverRecord(tmp_path / "record.json")
    other = subprocess.Popen(["sleep", "30"])  # stands for an etcdtui saving right now
    entry = {"path": "/d/.etcdtui-snapshot.aaaaaa", "host": socket.gethostname(), "pid": other.pid}
    record.path.write_text(json.dumps({"version": 1, "leftovers": {"lab": {"node2": [entry]}}}))
    try:
        assert record.folders("lab", "node2") == []
    finally:
        other.kill()
        other.wait()
    assert record.folders("lab", "node2") == [entry["path"]]  # it was killed mid-save


@pytest.mark.parametrize(
    ("path", "own"),
    [
        ("/var/lib/.etcdtui-snapshot.Ab12Cd", True),
        ("/var/lib/.etcdtui-snapshot.0123456789ab", True),
        ("var/lib/.etcdtui-snapshot.Ab12Cd", False),  # relative
        ("/var/lib/../lib/.etcdtui-snapshot.Ab12Cd", False),  # not normalised
        ("/var/lib/etcd", False),
        ("/", False),
        ("/var/lib/.etcdtui-snapshot.", False),
        ("/var/lib/.etcdtui-snapshot.Ab12Cd/..", False),
        ("/var/lib/.etcdtui-snapshot.Ab1 2C", False),
        ("/var/lib/.etcdtui-snapshot.Ab12Cd\n/etc", False),
    ],
)
def test_only_etcdtuis_own_folders_are_ever_removed(path: str, own: bool) -> None:
    assert is_own_folder(path) is own


def test_a_sweep_removes_the_recorded_copy_and_says_so(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "snapshot.db.part").write_bytes(b"half")
    record = LeftoverRecord(tmp_path / "record.json")
    record.add("lab", "node2", str(folder))
    record.release("lab", "node2", str(folder))
    notes: list[str] = []
    sweep(LocalShell(), record, "lab", "node2", notes.append)
    assert not folder.exists()
    assert notes == [f"node2: removed the snapshot copy an earlier save left in {folder}"]
    assert record.folders("lab", "node2") == []


def test_a_recorded_folder_already_gone_is_forgotten_quietly(tmp_path: Path) -> None:
    record = LeftoverRecord(tmp_path / "record.json")
    gone = str(tmp_path / ".etcdtui-snapshot.abcdef")
    record.add("lab", "node2", gone)
    record.release("lab", "node2", gone)
    notes: list[str] = []
    sweep(LocalShell(), record, "lab", "node2", notes.append)
    assert notes == [] and record.folders("lab", "node2") == []


def test_a_symlink_in_the_folders_place_is_not_followed(tmp_path: Path) -> None:
    elsewhere = _folder(tmp_path, "elsewhere")
    link = tmp_path / ".etcdtui-snapshot.abcdef"
    link.symlink_to(elsewhere)
    record = LeftoverRecord(tmp_path / "record.json")
    record.add("lab", "node2", str(link))
    record.release("lab", "node2", str(link))
    notes: list[str] = []
    sweep(LocalShell(), record, "lab", "node2", notes.append)
    assert (elsewhere / "snapshot.db").exists() and link.is_symlink()
    assert notes == [f"node2: the snapshot copy in {link} is still there: exit code 1"]
    assert record.folders("lab", "node2") == [str(link)]  # kept: a person must look


def test_a_path_the_record_should_not_hold_is_never_touched(tmp_path: Path) -> None:
    victim = tmp_path / "data"
    victim.mkdir()
    (victim / "snapshot.db").write_bytes(b"not ours")
    record = LeftoverRecord(tmp_path / "record.json")
    record.add("lab", "node2", str(victim))
    record.release("lab", "node2", str(victim))
    notes: list[str] = []
    sweep(LocalShell(), record, "lab", "node2", notes.append)
    assert (victim / "snapshot.db").read_bytes() == b"not ours"
    assert len(notes) == 1 and "is not an etcdtui folder: not removed" in notes[0]
    assert record.folders("lab", "node2") == []


def test_the_removal_command_quotes_the_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ".etcdtui-snapshot.abcdef")
    command = removal_command(str(folder))
    assert f"rm -f -- {folder}/snapshot.db {folder}/snapshot.db.part" in command
    odd = "/tmp/x'; touch /tmp/pwned; '/.etcdtui-snapshot.abcdef"
    assert "'\"'\"'" in removal_command(odd)  # shlex.quote's escape of a single quote
    assert os.path.exists(folder)
