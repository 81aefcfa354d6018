"""`etcdtui snapshot save|status` and the backups screen, against real etcd and real sshd."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable

from etcdtui.clients.private_dirs import PREFIX
from etcdtui.lab import LabInfo
from etcdtui.runbooks.audit import AuditLog
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.backups import BackupsScreen
from tests.helpers.labs import connection_of

ETCDTUI = [sys.executable, "-m", "etcdtui"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ETCDTUI, *args], capture_output=True, text=True, timeout=120,
                          env=env)  # fmt: skip


def etcdctl_status(info: LabInfo, path: Path) -> dict[str, int]:
    tool = [info.etcdutl] if info.etcdutl else [info.etcdctl]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")} | {
        "ETCDCTL_API": "3"
    }
    out = subprocess.run([*tool, "snapshot", "status", str(path), "-w", "json"], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    data: dict[str, int] = json.loads(out.stdout)
    return data


def save(info: LabInfo, path: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    result = run("snapshot", "save", str(path), "--config", str(info.config_path),
                 "--audit-log", str(path.parent / "audit.log"), *extra, env=env)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def assert_saved(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.with_name(path.name + ".sha256").read_text() == f"{digest}  {path.name}\n"
    assert not path.with_name(path.name + ".part").exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(PREFIX)]


def test_save_from_a_follower_agrees_with_etcdctl_status(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    path = tmp_path / "snap.db"
    out = save(plain_lab, path)
    assert_saved(path)
    leader = json.loads(run("status", "--config", str(plain_lab.config_path), "-w", "json")
                        .stdout)["leader"]  # fmt: skip
    assert f"from {leader} " not in out and "via etcdctl on the bastion" in out
    status = run("snapshot", "status", str(path), "-w", "json")
    assert status.returncode == 0, status.stderr
    mine, theirs = json.loads(status.stdout), etcdctl_status(plain_lab, path)
    for key in ("hash", "revision", "totalKey", "totalSize"):
        assert mine[key] == theirs[key], key
    assert mine["digest"] == "ok"
    audit = AuditLog(tmp_path / "audit.log").recent(5)
    assert audit[-1].runbook == "snapshot-save" and audit[-1].ok


def test_save_through_the_gateway_without_etcdctl(plain_lab: LabInfo, tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    env = {**os.environ, "PATH": "/nonexistent"}
    out = save(plain_lab, path, "--from", "node3", env=env)
    assert "via etcd's gRPC-JSON gateway" in out and "from node3 " in out
    assert_saved(path)
    assert (
        json.loads(run("snapshot", "status", str(path), "-w", "json").stdout)["totalKey"]
        == (etcdctl_status(plain_lab, path)["totalKey"])
    )


def test_encrypted_save_needs_the_key_and_never_writes_plaintext(
    tls_lab: LabInfo, tmp_path: Path
) -> None:
    key = tmp_path / "k.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    path = tmp_path / "enc.db"
    save(tls_lab, path, "--encrypt", "--key-file", str(key))
    assert_saved(path)
    assert b"clusterVersion" not in path.read_bytes()  # the plaintext bolt file would hold it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "enc.db",
                                                          "enc.db.sha256", "k.key"]  # fmt: skip
    ok = run("snapshot", "status", str(path), "--key-file", str(key), "-w", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["encrypted"] is True
    missing = run("snapshot", "status", str(path))
    assert missing.returncode == 1 and "is encrypted" in missing.stderr
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    other.chmod(0o600)
    wrong = run("snapshot", "status", str(path), "--key-file", str(other))
    assert wrong.returncode == 1 and "wrong key" in wrong.stderr
    assert wrong.stderr.count("\n") == 1


def test_save_on_the_node_copies_back_and_cleans_the_node(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    from etcdtui.snapshots.leftovers import LeftoverRecord

    path = tmp_path / "node.db"
    state = tmp_path / "state"
    out = save(plain_lab, path, "--on-node", "node2",
               env={**os.environ, "XDG_STATE_HOME": str(state)})  # fmt: skip
    assert "via etcdctl on node2, then SFTP" in out
    assert_saved(path)
    node_parent = Path(plain_lab.node("node2").data_dir).parent
    assert not list(node_parent.glob(".etcdtui-snapshot.*"))
    assert etcdctl_status(plain_lab, path)["totalKey"] > 0
    # The node's copy was recorded before it was made, and forgotten once removed.
    record = LeftoverRecord(state / "etcdtui" / "node-leftovers.json")
    assert json.loads(record.path.read_text())["leftovers"] == {}


def test_existing_file_is_never_overwritten(plain_lab: LabInfo, tmp_path: Path) -> None:
    path = tmp_path / "keep.db"
    path.write_text("an older backup")
    result = run("snapshot", "save", str(path), "--config", str(plain_lab.config_path))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert path.read_text() == "an older backup"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "node9"), "no member named 'node9'"),
        (("--encrypt",), "--encrypt needs --key-file"),
        (("--on-node", "node9"), "no node named 'node9'"),
    ],
)
def test_bad_save_input_is_one_line_exit_2(
    plain_lab: LabInfo, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run("snapshot", "save", str(tmp_path / "x.db"), "--config",
                 str(plain_lab.config_path), *args)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "x.db.part").exists()


def test_corrupt_and_truncated_snapshots_are_reported_corrupt(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    path = tmp_path / "good.db"
    save(plain_lab, path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.db"
    middle = len(data) // 2
    flipped.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    for bad in (truncated, flipped):
        result = run("snapshot", "status", str(bad))
        assert result.returncode == 1, result.stdout
        assert "corrupt" in result.stderr and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_snapshot_through_ssh_on_a_locked_down_cluster(locked_lab: LabInfo, tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    out = save(locked_lab, path)
    assert "through SSH" in out
    assert_saved(path)
    status = json.loads(run("snapshot", "status", str(path), "-w", "json").stdout)
    assert status["digest"] == "ok" and status["totalKey"] > 0


async def test_backups_screen_saves_and_lists_a_snapshot(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    from dataclasses import replace

    connection = replace(connection_of(plain_lab), snapshot_dir=str(tmp_path / "snaps"))
    app = EtcdtuiApp(connection, refresh=60, audit=AuditLog(tmp_path / "audit.log"))
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "no usable snapshot" in str(app.screen.query_one("#backups-summary").render())
        await pilot.press("s")
        for _ in range(100):
            await pilot.pause(0.1)
            table = app.screen.query_one("#backups", DataTable)
            if table.row_count and not app.screen.saving:  # type: ignore[attr-defined]
                break
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#backups", DataTable)
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0].startswith("lab-") and row[-1] == "yes" and row[-2] == "no"
        assert "no usable snapshot" not in str(app.screen.query_one("#backups-summary").render())
    files = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert len(files) == 2 and files[1].endswith(".sha256")


async def test_restore_from_the_backups_screen_after_the_typed_name(
    make_lab,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace

    from tests.helpers.pilot import run_destructive

    info: LabInfo = make_lab(etcd_version="3.4")
    folder = tmp_path / "snaps"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env |= info.etcdctl_env()

    def put(key: str) -> None:
        subprocess.run([info.etcdctl, "put", key, "v"], env=env, check=True, capture_output=True)

    put("/before")
    save(info, folder / "s.db")
    put("/after")
    connection = replace(connection_of(info), snapshot_dir=str(folder))
    app = EtcdtuiApp(connection, refresh=60, audit=AuditLog(tmp_path / "audit.log"))
    async with app.run_test(size=(130, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("R")
        await pilot.pause()
        await run_destructive(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
    out = subprocess.run([info.etcdctl, "get", "", "--prefix", "--keys-only"], env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert sorted(k for k in out.splitlines() if k) == ["/before"]


# -- a save that cannot be recorded does not run (issue 13) ------------------------------------


def _no_snapshot_left(folder: Path, name: str) -> None:
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(name)
                 or p.name.startswith(PREFIX)]  # fmt: skip
    assert leftovers == []


def _unrecordable(tmp_path: Path, kind: str) -> Path:
    """An audit log path that cannot be written: a folder, a symlink, under a plain file."""
    if kind == "directory":
        path = tmp_path / "audit-dir"
        path.mkdir()
        return path
    if kind == "symlink":
        target = tmp_path / "elsewhere.log"
        target.write_text("")
        target.chmod(0o600)
        path = tmp_path / "audit-link.log"
        path.symlink_to(target)
        return path
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / "audit.log"


@pytest.mark.parametrize("kind", ["directory", "symlink", "under-a-file"])
def test_cli_save_whose_start_cannot_be_recorded_does_not_run(
    plain_lab: LabInfo, tmp_path: Path, kind: str
) -> None:
    audit = _unrecordable(tmp_path, kind)
    out = tmp_path / "out"
    out.mkdir()
    result = run("snapshot", "save", str(out / "x.db"), "--config", str(plain_lab.config_path),
                 "--audit-log", str(audit))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"cannot write the audit log {audit}" in result.stderr
    assert result.stdout == ""  # not even "saving a snapshot ..."
    assert list(out.iterdir()) == []
    if kind == "symlink":
        assert "symbolic link" in result.stderr
        assert (tmp_path / "elsewhere.log").read_text() == ""


def test_cli_save_records_started_then_its_result_with_the_sha256(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    path = tmp_path / "snap.db"
    save(plain_lab, path)
    entries = AuditLog(tmp_path / "audit.log").recent()
    assert [(e.runbook, e.step_id, e.exit_code) for e in entries][:2] == [
        ("snapshot-save", "plan", 0),
        ("snapshot-save", "save", -1),
    ]
    plan, started, finished = entries
    assert (plan.step, plan.command, plan.note) == (0, "1 steps", started.command)
    assert started.note == "started"
    assert plan.run_id == started.run_id == finished.run_id
    assert started.command == finished.command
    assert started.command.startswith(f"snapshot save {path} via ")
    assert started.target == finished.target != "-"
    digest = path.with_name(path.name + ".sha256").read_text().split()[0]
    assert (finished.exit_code, finished.ok, finished.note) == (0, True, f"sha256 {digest}")
    assert finished.duration > 0


def test_started_is_on_record_before_the_first_byte_arrives(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    from etcdtui.clients.via_ssh import open_cluster
    from etcdtui.runbooks.snapshot_save import save_recorded
    from etcdtui.snapshots.save import SnapshotSaver

    connection = connection_of(plain_lab)
    log = AuditLog(tmp_path / "audit.log")
    seen: list[list[int]] = []

    def progress(done: int, total: int | None, seconds: float) -> None:
        if not seen:
            seen.append([e.exit_code for e in log.recent()])

    cluster = open_cluster(connection)
    try:
        saver = SnapshotSaver(connection, cluster, etcdctl="")  # the gateway: chunk by chunk
        result = save_recorded(saver, log, tmp_path / "s.db", on_progress=progress)
    finally:
        cluster.close()
    assert seen == [[0, -1]]  # at the first chunk: the plan, "started" and nothing else
    assert [e.exit_code for e in log.recent()] == [0, -1, 0]
    assert result.route == "etcd's gRPC-JSON gateway"


def _fake_etcdctl(folder: Path, body: str) -> Path:
    """An `etcdctl` first on PATH: logs its argv and environment, then runs `body`."""
    folder.mkdir()
    real = subprocess.run(["sh", "-c", "command -v etcdctl"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    script = folder / "etcdctl"
    script.write_text(
        f'#!/bin/sh\n{{ echo "ARGV $*"; env; }} >> "{folder}/seen"\n' + body.replace("REAL", real)
    )
    script.chmod(0o755)
    return folder


def test_a_save_that_fails_after_starting_records_the_failure_and_leaves_nothing(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    fake = _fake_etcdctl(tmp_path / "bin", 'case "$*" in *"snapshot save"*) echo "Error: boom" >&2;'
                         ' exit 1;; esac\nexec REAL "$@"\n')  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    result = run("snapshot", "save", str(out / "x.db"), "--config", str(plain_lab.config_path),
                 "--audit-log", str(tmp_path / "audit.log"), env=env)  # fmt: skip
    assert result.returncode == 1 and "boom" in result.stderr, result.stderr
    _no_snapshot_left(out, "x.db")
    _, started, failed = AuditLog(tmp_path / "audit.log").recent()
    assert (started.exit_code, started.note) == (-1, "started")
    assert (failed.run_id, failed.exit_code, failed.ok) == (started.run_id, 1, False)
    assert "boom" in failed.output_tail


async def test_backups_screen_with_an_unrecordable_log_saves_nothing_and_is_not_stuck(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    from dataclasses import replace

    snaps = tmp_path / "snaps"
    connection = replace(connection_of(plain_lab), snapshot_dir=str(snaps))
    audit = _unrecordable(tmp_path, "symlink")
    app = EtcdtuiApp(connection, refresh=60, audit=AuditLog(audit))
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")  # the dashboard's key for the backups screen
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BackupsScreen)
        await app.workers.wait_for_complete()
        before = len(app._notifications)
        await pilot.press("s")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.saving is False
        assert screen.query_one("#backups-progress").display is False
        status = str(screen.query_one("#backups-status").render())
        assert "Not saved" in status and "symbolic link" in status
        new = [n.message for n in app._notifications][before:]
        assert len(new) == 1 and "cannot write the audit log" in new[0]
    assert sorted(p.name for p in snaps.iterdir()) == []
    assert (tmp_path / "elsewhere.log").read_text() == ""


# -- the passphrase never reaches a child process --------------------------------------------


def test_the_passphrase_leaves_the_environment_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from etcdtui.cli.common import snapshot_key

    monkeypatch.setenv("ETCDTUI_PASSPHRASE", "correct horse battery staple")
    key = snapshot_key(argparse.Namespace(key_file=None, passphrase=True), confirm=True)
    assert key is not None
    assert "ETCDTUI_PASSPHRASE" not in os.environ
    child = subprocess.run(["/bin/sh", "-c", "env; echo ${ETCDTUI_PASSPHRASE-unset}"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "correct horse" not in child and child.endswith("unset\n")


def test_an_unused_passphrase_variable_is_removed_as_well(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import argparse

    from etcdtui.cli.common import snapshot_key

    monkeypatch.setenv("ETCDTUI_PASSPHRASE", "not for children")
    assert snapshot_key(argparse.Namespace(key_file=None, passphrase=False)) is None
    assert "ETCDTUI_PASSPHRASE" not in os.environ


def test_an_encrypted_save_passes_the_passphrase_to_no_child(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    phrase = "correct horse battery staple 7f3a"
    fake = _fake_etcdctl(tmp_path / "bin", 'exec REAL "$@"\n')
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "ETCDTUI_PASSPHRASE": phrase}
    path = tmp_path / "enc.db"
    out = save(plain_lab, path, "--encrypt", "--passphrase", env=env)
    assert "via etcdctl on the bastion" in out and "encrypted" in out
    seen = (fake / "seen").read_text()
    assert "ARGV" in seen and "snapshot save" in seen  # etcdctl did run, as a child
    assert phrase not in seen and "ETCDTUI_PASSPHRASE" not in seen
    assert phrase.encode() not in (tmp_path / "audit.log").read_bytes()
    status = run("snapshot", "status", str(path), "--passphrase", "-w", "json",
                 env={**os.environ, "ETCDTUI_PASSPHRASE": phrase})  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["encrypted"] is True


def test_a_save_runs_while_another_run_holds_the_cluster_lock(
    plain_lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etcdtui.clients.cluster import ClusterClient
    from etcdtui.runbooks.lock import RunLock

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the CLI's lock file too
    connection = connection_of(plain_lab)
    client = ClusterClient(connection)
    held = RunLock(connection, client, "defrag")
    try:
        held.acquire()
        path = tmp_path / "snap.db"
        save(plain_lab, path, env=dict(os.environ))  # a save only reads: it takes no lock
        assert_saved(path)
        plan = AuditLog(tmp_path / "audit.log").recent()[0]
        assert plan.step_id == "plan" and "lock:" not in plan.note
    finally:
        held.release()
        client.close()
