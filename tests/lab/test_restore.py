"""The restore runbook against real etcd labs over real sshd: whole restores, a run killed
halfway and continued, a rollback, and the preflight refusing what it must refuse.

A kube-apiserver cannot run here: node1 is declared `apiserver = true` and the lab profile's
apiserver commands are overridden to append to a marker file, so the tests see when the
restore would stop and start it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from etcdtui.cli import main
from etcdtui.lab import LabInfo
from etcdtui.models.runbook import Check, Verdict
from etcdtui.runbooks.engine import Event, PlanRefused, execute
from etcdtui.runbooks.restore.journal import (
    load,
)
from etcdtui.runbooks.restore.runbook import RestoreRunbook
from etcdtui.snapshots.crypto import SnapshotKey, encrypt_file, generate_key_file
from etcdtui.snapshots.status import sidecar_text
from tests.helpers.restore import (
    Restore,
    apiserver_marks,
    assert_restored,
    closed_port,
    etcdctl,
    forge_foreign,
    keys,
    made_by_restore,
    restore_config,
    snapshot_after_history,
    view_of,
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("version", "tls"), [("3.4", False), ("3.5", True)], ids=["etcd3.4", "etcd3.5-tls"]
)
def test_restore_brings_back_exactly_the_snapshots_keys(
    make_lab: Callable[..., LabInfo], restores: Callable[[Path], Restore], tmp_path: Path,
    version: str, tls: bool,
) -> None:  # fmt: skip
    info = make_lab(etcd_version=version, tls=tls)
    snapshot = tmp_path / "snap.db"
    snapshot_after_history(info, snapshot)
    key = None
    if tls:  # and an encrypted snapshot: decrypted on the bastion, the plaintext copied
        generate_key_file(tmp_path / "key")
        key = SnapshotKey.from_file(tmp_path / "key")
        encrypt_file(snapshot, tmp_path / "snap.db.enc", key)
        snapshot = tmp_path / "snap.db.enc"
        r = restores(restore_config(info, tmp_path))
        refused = r.runbook(snapshot).plan()  # without its key
        assert any(c.name == "snapshot verified" and c.failed for c in refused.checks)
    r = restores(restore_config(info, tmp_path))
    rb = r.runbook(snapshot, key)
    plan = rb.plan()
    assert not plan.blocked, [c for c in plan.checks if c.failed]
    assert rb.state is not None and rb.state.snapshot.encrypted == tls
    by_id = {s.id: s for s in plan.steps}
    # The lab's profile cannot ask whether the apiserver stopped: the warning says so.
    (warning,) = (c for c in plan.checks if c.name == "kube-apiservers")
    assert warning.reason.endswith("(no apiserver_ready in the profile): check node1 yourself")
    assert "wait-apiservers-down" not in by_id
    assert [s.id for s in plan.steps].index("apiserver-stop-node1") < [
        s.id for s in plan.steps
    ].index("etcd-stop-node1")
    for step_id in ("etcd-stop-node2", "restore-node2", "swap-node2", "apiserver-stop-node1"):
        assert by_id[step_id].destructive, step_id
    assert not by_id["copy-node2"].destructive and not by_id["checksum-node2"].destructive
    assert "--initial-cluster-token etcdtui-restore-" in by_id["restore-node1"].command
    seen: list[Event] = []

    report = execute(rb, plan, r.audit, seen.append)

    assert report.ok, (report.stopped, report.verification)
    assert {c.name for c in report.verification} >= {"cluster healthy", "keys", "revision"}
    assert_restored(info, r.connection)
    assert apiserver_marks(info) == ["stopped", "started"]
    # Plaintext copies of an encrypted snapshot are gone once the restore verifies; copies
    # of a plaintext snapshot stay (the operator's own file), and the summary says where.
    copies = [Path(n.snapshot) for n in rb.state.members()]
    assert copies and all(p.exists() != tls for p in copies), copies
    removed = [c for c in report.verification if c.name == "plaintext snapshot copies removed"]
    assert [c.verdict for c in removed] == ([Verdict.PASS] if tls else [])
    assert any("snapshot copies left" in line for line in rb.summary()) != tls
    assert r.pending() is None
    assert rb.state is not None and rb.state.path is not None
    assert load(rb.state.path).status == "finished"
    audited = {e.step_id for e in r.audit.recent(200)}
    assert audited >= {s.id for s in plan.steps}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ready", "why"),
    [
        ("true", "still serving after 1 s: node1"),  # it answers as ready
        ("exit 22", "still serving after 1 s: node1"),  # curl -f: an HTTP error, still there
        (
            "no-such-readyz-check",
            "node1: cannot tell whether kube-apiserver stopped: "
            "`no-such-readyz-check` could not run: ",
        ),
    ],
    ids=["ready", "http-error", "check-cannot-run"],
)
def test_an_apiserver_not_seen_down_stops_the_restore_before_etcd_is_stopped(
    make_lab: Callable[..., LabInfo],
    restores: Callable[[Path], Restore],
    tmp_path: Path,
    ready: str,
    why: str,
) -> None:
    info = make_lab(etcd_version="3.5")
    snapshot = tmp_path / "snap.db"
    snapshot_after_history(info, snapshot)
    config = restore_config(info, tmp_path)
    # A profile whose "stop" leaves the apiserver there, as its readiness check tells.
    config.write_text(
        config.read_text().replace(
            "[profiles.lab]\n", f"[profiles.lab]\napiserver_ready = {ready!r}\n"
        )
    )
    r = restores(config)
    r.options = replace(r.options, apiserver_timeout=1)
    rb = r.runbook(snapshot)
    plan = rb.plan()
    ids = [s.id for s in plan.steps]
    assert ids.index("apiserver-stop-node1") < ids.index("wait-apiservers-down")
    assert ids.index("wait-apiservers-down") < ids.index("etcd-stop-node1")
    (warning,) = (c for c in plan.checks if c.name == "kube-apiservers")
    assert warning.reason == "every kube-apiserver is stopped first and started last: node1"

    report = execute(rb, plan, r.audit)

    assert not report.ok
    step = ids.index("wait-apiservers-down") + 1
    assert report.stopped.startswith(f"step {step} (wait-apiservers-down on cluster) failed: {why}")
    assert all(info.pid(n.name) is not None for n in info.members())  # etcd untouched
    assert keys(info) == {"b", "c"} and apiserver_marks(info) == ["stopped"]
    state = r.pending()
    assert state is not None
    rb = r.adopt(RestoreRunbook.rollback(state, r.connection, r.shells, options=r.options))
    assert execute(rb, rb.plan(), r.audit).ok
    assert apiserver_marks(info) == ["stopped", "started"] and keys(info) == {"b", "c"}


@pytest.mark.slow
def test_unreachable_node_blocks_the_restore_before_anything_changes(
    plain_lab: LabInfo, restores: Callable[[Path], Restore], tmp_path: Path
) -> None:
    snapshot = tmp_path / "snap.db"
    etcdctl(plain_lab, "snapshot", "save", str(snapshot))
    before = keys(plain_lab)
    r = restores(restore_config(plain_lab, tmp_path, node2={"ssh_port": closed_port()}))
    rb = r.runbook(snapshot)
    plan = rb.plan()

    assert plan.blocked
    ssh = next(c for c in plan.checks if c.name == "SSH to every node")
    assert ssh.verdict is Verdict.FAIL and "node2" in ssh.reason
    with pytest.raises(PlanRefused):
        execute(rb, plan, r.audit)
    assert keys(plain_lab) == before
    assert view_of(r.connection).healthy
    assert made_by_restore(plain_lab) == [] and apiserver_marks(plain_lab) == []
    assert r.pending() is None and not (tmp_path / "state").exists()


@pytest.mark.slow
def test_truncated_snapshot_blocks_the_plan(
    plain_lab: LabInfo, restores: Callable[[Path], Restore], tmp_path: Path
) -> None:
    snapshot = tmp_path / "snap.db"
    etcdctl(plain_lab, "snapshot", "save", str(snapshot))
    data = snapshot.read_bytes()
    snapshot.write_bytes(data[: len(data) // 2])
    r = restores(restore_config(plain_lab, tmp_path))
    rb = r.runbook(snapshot)
    plan = rb.plan()

    assert plan.blocked
    verified = next(c for c in plan.checks if c.name == "snapshot verified")
    assert verified.verdict is Verdict.FAIL and "corrupt" in verified.reason
    with pytest.raises(PlanRefused):
        execute(rb, plan, r.audit)
    assert view_of(r.connection).healthy
    assert made_by_restore(plain_lab) == []


@pytest.mark.slow
def test_a_sidecar_that_disagrees_fails_status_and_the_restore_preflight(
    plain_lab: LabInfo,
    restores: Callable[[Path], Restore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    snapshot = tmp_path / "snap.db"
    etcdctl(plain_lab, "snapshot", "save", str(snapshot))
    (tmp_path / "snap.db.sha256").write_text(sidecar_text(snapshot))
    assert main(["snapshot", "status", str(snapshot)]) == 0
    capsys.readouterr()
    (tmp_path / "snap.db.sha256").write_text("0" * 64 + "  snap.db\n")
    assert main(["snapshot", "status", str(snapshot), "-w", "json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "sha256 differs from snap.db.sha256" in err and err.count("\n") == 1
    plan = restores(restore_config(plain_lab, tmp_path)).runbook(snapshot).plan()
    verified = next(c for c in plan.checks if c.name == "snapshot verified")
    assert plan.blocked and verified.failed and "sha256 differs" in verified.reason


@pytest.mark.slow
def test_snapshot_of_another_cluster_is_refused_unless_forced(
    plain_lab: LabInfo,
    restores: Callable[[Path], Restore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    own, foreign = tmp_path / "own.db", tmp_path / "foreign.db"
    etcdctl(plain_lab, "snapshot", "save", str(own))
    forge_foreign(own, foreign)
    config = restore_config(plain_lab, tmp_path)
    r = restores(config)

    def check(snapshot: Path, force: bool = False) -> Check:
        r.options = replace(r.options, force_foreign=force)
        plan = r.runbook(snapshot).plan()
        return next(c for c in plan.checks if c.name == "snapshot from this cluster")

    assert check(own).verdict is Verdict.PASS
    refused = check(foreign)
    assert refused.verdict is Verdict.FAIL
    assert "127.0.0.9" in refused.reason and plain_lab.node("node1").peer_url in refused.reason
    forced = check(foreign, force=True)
    assert forced.verdict is Verdict.WARN and "restoring anyway" in forced.reason
    code = main(["restore", str(foreign), "--config", str(config), "--cluster", "lab",
                 "--yes", "--audit-log", str(tmp_path / "cli.log")])  # fmt: skip
    assert code == 1
    assert "another cluster" in capsys.readouterr().out
    assert made_by_restore(plain_lab) == [] and apiserver_marks(plain_lab) == []
    assert view_of(r.connection).healthy


def test_restore_command_restores_and_refuses_a_second_start_while_one_is_pending(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab(etcd_version="3.5")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    etcdtui = [sys.executable, "-m", "etcdtui"]
    common = ["--config", str(info.config_path), "--audit-log", str(tmp_path / "audit.log")]
    etcdctl(info, "put", "/kept", "1")
    saved = subprocess.run([*etcdtui, "snapshot", "save", str(tmp_path / "s.db"), *common],
                           env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert saved.returncode == 0, saved.stdout + saved.stderr
    etcdctl(info, "put", "/after", "2")
    nothing = subprocess.run([*etcdtui, "restore", "--resume", "--config", str(info.config_path)],
                             env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert nothing.returncode == 2 and "no unfinished restore" in nothing.stderr
    off_tty = subprocess.run([*etcdtui, "restore", str(tmp_path / "s.db"), *common],
                             env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert off_tty.returncode == 2 and "refusing to change the cluster without --yes" in (
        off_tty.stderr
    )
    assert keys(info) == {"/kept", "/after"}
    done = subprocess.run([*etcdtui, "restore", str(tmp_path / "s.db"), *common, "--yes"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert keys(info) == {"/kept"}
    assert made_by_restore(info)  # the old data dirs are kept beside the new ones
