"""One runbook at a time per cluster, on a real lab: the etcd lease lock across bastions, the
lock file on this one, a killed holder, a NOSPACE recovery, and --break-lock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from etcdtui.cli import main
from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import LabInfo
from etcdtui.runbooks.lock import LOCK_KEY, Holder

ETCDTUI = str(Path(sys.executable).parent / "etcdtui")


def defrag(config: Path, audit: Path, *extra: str) -> list[str]:
    return [ETCDTUI, "defrag", "--config", str(config), "--audit-log", str(audit), *extra]


def wait_for_started_step(audit: Path, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if audit.exists() and any(
            json.loads(line)["note"] == "started" for line in audit.read_text().splitlines()
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"no step started in {audit}")


def lock_value(info: LabInfo) -> bytes | None:
    client = GatewayClient(info.endpoints[0])
    try:
        return client.get(LOCK_KEY)
    finally:
        client.close()


def test_a_second_run_is_refused_naming_the_holder_on_this_and_another_bastion(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab()
    other_bastion = tmp_path / "elsewhere.toml"  # another config file: another lock file
    shutil.copy(info.config_path, other_bastion)
    first = subprocess.Popen(defrag(info.config_path, tmp_path / "a1.log", "--yes", "--wait", "4"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for_started_step(tmp_path / "a1.log")
        holder = Holder.decode(lock_value(info) or b"")
        assert holder is not None and holder.pid == first.pid and holder.runbook == "defrag"
        for config, where in ((info.config_path, "(on this bastion)"), (other_bastion, "")):
            second = subprocess.run(defrag(config, tmp_path / "a2.log", "--yes"),
                                    capture_output=True, text=True, timeout=60)  # fmt: skip
            assert second.returncode == 1, second.stdout + second.stderr
            line = next(x for x in second.stdout.splitlines() if "cluster lock free" in x)
            assert line.startswith("  [FAIL] cluster lock free: held by ")
            assert f"(pid {first.pid}) running defrag since " in line and where in line
            assert not (tmp_path / "a2.log").exists()  # nothing ran, nothing recorded
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert "lock: the etcd lease lock /etcdtui/lock" in out
    assert lock_value(info) is None  # released with its lease
    third = subprocess.run(defrag(other_bastion, tmp_path / "a3.log", "--dry-run"),
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert third.returncode == 0 and "[PASS] cluster lock free" in third.stdout


def test_a_killed_holder_does_not_block_the_next_run_from_this_bastion(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab()
    first = subprocess.Popen(defrag(info.config_path, tmp_path / "a1.log", "--yes", "--wait", "5"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_started_step(tmp_path / "a1.log")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert lock_value(info) is not None  # its lease outlives it for a while
    again = subprocess.run(defrag(info.config_path, tmp_path / "a2.log", "--yes", "--wait", "0"),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert lock_value(info) is None


def test_nospace_recovery_and_restore_say_they_hold_the_lock_file_only(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    done = subprocess.run(
        [ETCDTUI, "recover-nospace", "--config", str(plain_lab.config_path), "--dry-run"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "only (a NOSPACE alarm refuses every write)" in done.stdout
    assert "[PASS] cluster lock free" in done.stdout


def test_break_lock_needs_the_typed_cluster_name(
    make_lab: Callable[..., LabInfo],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    info = make_lab()
    client = GatewayClient(info.endpoints[0])
    try:  # a run on another bastion that froze while holding the lock
        lease = client.lease_grant(300)
        ghost = Holder("ops", "bastion-2", 4242, "add-member", "2026-12-07T03:00:00Z", "lab")
        assert client.put_if_absent(LOCK_KEY, ghost.encode(), lease) is None
    finally:
        client.close()
    args = ["defrag", "--config", str(info.config_path), "--dry-run"]
    assert main(args) == 1
    assert "held by ops@bastion-2 (pid 4242) running add-member" in capsys.readouterr().out
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main([*args, "--break-lock"]) == 2  # off a terminal: refused, nothing broken
    assert "typed on a terminal" in capsys.readouterr().err
    assert lock_value(info) is not None
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "not-the-name")
    assert main([*args, "--break-lock"]) == 2
    assert lock_value(info) is not None
    monkeypatch.setattr("builtins.input", lambda prompt: "lab")
    assert main([*args, "--break-lock"]) == 0
    out = capsys.readouterr().out
    assert "broke the lock held by ops@bastion-2" in out and "[PASS] cluster lock free" in out
    assert lock_value(info) is None


def test_a_lock_this_process_could_not_revoke_does_not_block_its_next_run(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    from etcdtui.clients.cluster import ClusterClient
    from etcdtui.config import load_connection
    from etcdtui.runbooks.lock import RunLock

    info = make_lab()
    connection = load_connection(info.config_path, "lab")
    client = ClusterClient(connection)
    try:
        first = RunLock(connection, client, "defrag", root=tmp_path)
        first.acquire()
        first._lease = None  # as when quorum was lost at its end: the key outlives the run
        first.release()
        assert Holder.decode(lock_value(info) or b"") is not None
        second = RunLock(connection, client, "add-member", root=tmp_path)
        assert second.check().verdict.value == "pass"
        assert "etcd lease lock" in second.acquire()
        held = Holder.decode(lock_value(info) or b"")
        assert held is not None and held.runbook == "add-member"
        second.release()
        assert lock_value(info) is None
    finally:
        client.close()
