"""Restores cut short: a run killed halfway and continued, a rollback, and how the journal of
a killed run reads wherever it is shown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import etcdtui
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import load_connection
from etcdtui.lab import LabInfo
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import Event, execute
from etcdtui.runbooks.restore.journal import (
    ROLLED_BACK,
    load,
    save,
)
from etcdtui.runbooks.restore.runbook import RestoreOptions, RestoreRunbook
from tests.helpers.restore import (
    Restore,
    apiserver_marks,
    assert_restored,
    etcdctl,
    journal,
    keys,
    made_by_restore,
    restore_config,
    snapshot_after_history,
    view_of,
)

KILLER = """
import os, signal, sys
from pathlib import Path
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import load_connection
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import execute
from etcdtui.runbooks.restore.runbook import RestoreOptions, RestoreRunbook

config, snapshot, state_root, audit, kill_at = sys.argv[1:6]
connection = load_connection(Path(config), "lab")
options = RestoreOptions(state_root=Path(state_root))
runbook = RestoreRunbook(connection, snapshot, None, ShellPool(connection.nodes), options)
plan = runbook.plan()
assert not plan.blocked, plan.checks


def on_event(event):
    # Killed while the step runs on its node: at its first line of output.
    if event.step is not None and event.step.id == kill_at and event.kind == "output":
        os.kill(os.getpid(), signal.SIGKILL)


execute(runbook, plan, AuditLog(Path(audit)), on_event)
sys.exit(3)
"""


@pytest.mark.slow
def test_restore_killed_after_etcd_stopped_resumes_to_a_healthy_cluster(
    make_lab: Callable[..., LabInfo], restores: Callable[[Path], Restore], tmp_path: Path
) -> None:
    info = make_lab(etcd_version="3.5")
    snapshot = tmp_path / "snap.db"
    snapshot_after_history(info, snapshot)
    config = restore_config(info, tmp_path)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    package_root = str(Path(etcdtui.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": package_root}
    child = subprocess.run(
        [sys.executable, str(script), str(config), str(snapshot), str(tmp_path / "state"),
         str(tmp_path / "audit.log"), "restore-node2"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    r = restores(config)
    state = r.pending()
    assert state is not None and state.status == "running"
    assert {"etcd-stop-node1", "etcd-stop-node2", "etcd-stop-node3", "wait-stopped",
            "restore-node1"} <= set(state.done)  # fmt: skip
    assert state.current == "restore-node2" and "restore-node2" not in state.done
    assert any("CUT SHORT] restore-node2" in line for line in state.describe())
    assert not any(m.reachable for m in view_of(r.connection).members)  # etcd is down
    # What a restore cut short leaves (if etcdutl had not got that far): a partial data dir.
    partial = Path(state.node("node2").restored) / "member"
    partial.mkdir(parents=True, exist_ok=True)

    rb = r.adopt(RestoreRunbook.resume(state, r.connection, r.shells, options=r.options))
    plan = rb.plan()
    assert not plan.blocked, [c for c in plan.checks if c.failed]
    assert plan.steps[0].id == "restore-node2"
    assert not {s.id for s in plan.steps} & set(state.done)
    report = execute(rb, plan, r.audit)

    assert report.ok, (report.stopped, report.verification)
    assert_restored(info, r.connection)
    assert apiserver_marks(info) == ["stopped", "started"]
    assert r.pending() is None
    assert "moved to" in report.results[0].output  # set aside, not deleted, not restored onto
    assert len(list(info.node("node2").node_dir.glob("data.etcdtui-restored-*-incomplete-*"))) == 1


@pytest.mark.slow
def test_rollback_after_a_partial_restore_puts_the_old_data_back(
    make_lab: Callable[..., LabInfo], restores: Callable[[Path], Restore], tmp_path: Path
) -> None:
    info = make_lab(etcd_version="3.4")
    snapshot = tmp_path / "snap.db"
    snapshot_after_history(info, snapshot)
    r = restores(restore_config(info, tmp_path))
    rb = r.runbook(snapshot)
    plan = rb.plan()
    finished: list[str] = []

    def on_event(event: Event) -> None:
        if event.kind == "result" and event.step is not None:
            finished.append(event.step.id)

    report = execute(rb, plan, r.audit, on_event, should_abort=lambda: "swap-node2" in finished)
    assert report.stopped and not report.ok
    state = r.pending()
    assert state is not None and "swap-node2" in state.done and "swap-node3" not in state.done
    blocked = r.runbook(snapshot).plan()  # a new restore waits until this one is settled
    assert any(c.name == "no restore left halfway" and c.failed for c in blocked.checks)

    rb = r.adopt(RestoreRunbook.rollback(state, r.connection, r.shells, options=r.options))
    plan = rb.plan()
    assert not plan.blocked, [c for c in plan.checks if c.failed]
    assert {"unswap-node1", "unswap-node2", "rollback-apiserver-start-node1"} <= {
        s.id for s in plan.steps
    }
    report = execute(rb, plan, r.audit)

    assert report.ok, (report.stopped, report.verification)
    assert keys(info) == {"b", "c"}  # the writes after the snapshot are back
    assert view_of(r.connection).healthy
    assert apiserver_marks(info) == ["stopped", "started"]
    names = made_by_restore(info)
    assert sum("rolled-back" in n for n in names) == 2  # node1, node2: restored data set aside
    assert sum("etcdtui-restored-" in n for n in names) == 1  # node3's never went in
    assert not any("before-restore" in n for n in names)  # moved back into place
    assert r.pending() is None
    assert rb.state is not None and rb.state.status == ROLLED_BACK


@pytest.mark.slow
def test_rollback_summary_names_only_what_is_left_on_the_nodes(
    make_lab: Callable[..., LabInfo], restores: Callable[[Path], Restore], tmp_path: Path
) -> None:
    info = make_lab(etcd_version="3.5")
    snapshot = tmp_path / "snap.db"
    snapshot_after_history(info, snapshot)
    r = restores(restore_config(info, tmp_path))
    rb = r.runbook(snapshot)
    plan = rb.plan()
    finished: list[str] = []

    def on_event(event: Event) -> None:
        if event.kind == "result" and event.step is not None:
            finished.append(event.step.id)

    # Stopped once node1 and node2 have their copies: nothing else was touched.
    report = execute(rb, plan, r.audit, on_event, should_abort=lambda: "checksum-node2" in finished)
    assert report.stopped and not report.ok
    state = r.pending()
    assert state is not None
    rb = r.adopt(RestoreRunbook.rollback(state, r.connection, r.shells, options=r.options))
    plan = rb.plan()
    assert not plan.blocked, [c for c in plan.checks if c.failed]
    report = execute(rb, plan, r.audit)
    assert report.ok, (report.stopped, report.verification)
    assert keys(info) == {"b", "c"}  # untouched

    assert rb.state is not None
    lines = rb.resume_side.rollback_summary(rb.state)
    by_node = {line.split(":", 1)[0].strip(): line for line in lines[1:]}
    assert lines[0].startswith("old data back in place")
    assert set(by_node) == {"node1", "node2", "node3"}
    for name in ("node1", "node2"):
        paths = rb.state.node(name)
        assert Path(paths.snapshot).is_file()
        assert by_node[name] == f"  {name}: the snapshot's copy in {paths.snapshot}"
    node3 = rb.state.node("node3")
    assert by_node["node3"] == f"  node3: nothing beside {node3.data_dir} (all absent)"
    # No rolled-back or restored dir was ever made, and none is named.
    for paths in rb.state.members():
        assert not Path(paths.rolled_back).exists() and not Path(paths.restored).exists()
        assert paths.rolled_back not in " ".join(lines)


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from etcdtui.runbooks.restore.journal import save
from tests.helpers.restore import journal

# A run's journal as the restore writes it before each step, then the process is killed.
save(journal("lab", "20260101T000000Z-dead"), Path(sys.argv[1]))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_runs_journal_reads_interrupted_wherever_it_is_shown(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    import socket

    from etcdtui.runbooks.restore.journal import INTERRUPTED

    root = tmp_path / "xdg" / "etcdtui" / "restore"
    package_root = str(Path(etcdtui.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": package_root}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(root)],
        env=env, cwd=package_root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    path = root / "lab" / "20260101T000000Z-dead.json"
    written = json.loads(path.read_text())
    assert written["status"] == "running" and written["pid_host"] == socket.gethostname()
    state = load(path)
    assert state.pid > 0 and state.shown_status == INTERRUPTED == "interrupted (pid gone)"
    # `restore --forget` (as --resume and --rollback) describes the run before acting on it.
    forget = subprocess.run(
        [sys.executable, "-m", "etcdtui", "restore", "--forget", "--config",
         str(plain_lab.config_path)],
        env={**env, "XDG_STATE_HOME": str(tmp_path / "xdg")}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert forget.returncode == 0, forget.stderr
    assert "status: restore interrupted (pid gone); journal" in forget.stdout
    assert load(path).status == "abandoned"

    # A journal written on another bastion is not judged by a pid of this one.
    written["status"], written["pid_host"] = "running", "another-bastion"
    path.write_text(json.dumps(written))
    assert load(path).shown_status == (
        f"running (pid {written['pid']} on another-bastion: not checked from here)"
    )
    # This process, alive, is running it; a journal from before pids were recorded says so.
    alive = journal("lab", "20260102T000000Z-live")
    assert save(alive, tmp_path / "own") == alive.path and alive.pid == os.getpid()
    assert load(alive.path).shown_status == f"running (pid {alive.pid})"
    del written["pid"], written["pid_host"]
    path.write_text(json.dumps(written))
    assert load(path).shown_status == "running"


@pytest.mark.slow
def test_resume_without_file_uses_the_journals_snapshot_once_its_sha256_matches(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab(etcd_version="3.5")
    snapshot = tmp_path / "snap.db"
    snapshot_after_history(info, snapshot)
    config = restore_config(info, tmp_path)
    xdg = tmp_path / "xdg"
    # The first run, stopped once node1 has its copy: node2's and node3's are left to make.
    connection = load_connection(config, "lab")
    shells = ShellPool(connection.nodes)
    options = RestoreOptions(state_root=xdg / "etcdtui" / "restore")
    rb = RestoreRunbook(connection, snapshot, None, shells, options)
    try:
        finished: list[str] = []
        report = execute(
            rb, rb.plan(), AuditLog(tmp_path / "audit.log"),
            lambda e: finished.append(e.step.id) if e.kind == "result" and e.step else None,
            should_abort=lambda: "checksum-node1" in finished,
        )  # fmt: skip
    finally:
        rb.close()
        shells.close_all()
    assert report.stopped and rb.state is not None and rb.state.snapshot.path == str(snapshot)
    env = {**os.environ, "XDG_STATE_HOME": str(xdg)}
    resume = [sys.executable, "-m", "etcdtui", "restore", "--resume", "--config", str(config),
              "--yes", "--audit-log", str(tmp_path / "audit.log")]  # fmt: skip

    # Another file where the journal's snapshot was: refused before anything runs.
    original = snapshot.read_bytes()
    etcdctl(info, "snapshot", "save", str(snapshot))
    refused = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stdout[-3000:] + refused.stderr
    assert f"[FAIL] snapshot unchanged: {snapshot} (named by the journal) is not the snapshot " \
        "this run restores" in refused.stdout  # fmt: skip
    assert keys(info) == {"b", "c"} and not list(info.node("node2").node_dir.glob("*.db"))

    snapshot.write_bytes(original)
    done = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert f"[PASS] snapshot unchanged: {snapshot} (named by the journal): sha256" in done.stdout
    assert_restored(info, connection)
