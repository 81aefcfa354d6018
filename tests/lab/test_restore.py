"""The restore runbook against real etcd labs over real sshd: whole restores, a run killed
halfway and continued, a rollback, and the preflight refusing what it must refuse.

A kube-apiserver cannot run here: node1 is declared `apiserver = true` and the lab profile's
apiserver commands are overridden to append to a marker file, so the tests see when the
restore would stop and start it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import etcdtui
from etcdtui.cli import main
from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import BUILTIN_PROFILES, Connection, dump_toml, load_connection
from etcdtui.errors import ConfigError
from etcdtui.lab import LabInfo
from etcdtui.lab.ports import free_ports
from etcdtui.models import ClusterView
from etcdtui.models.runbook import Check, Step, Verdict
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import Event, PlanRefused, execute
from etcdtui.runbooks.restore.journal import (
    FINISHED,
    ROLLED_BACK,
    ClusterLock,
    JournalError,
    NodePaths,
    RestoreState,
    SnapshotFacts,
    abandon,
    load,
    save,
)
from etcdtui.runbooks.restore.journal_format import to_json
from etcdtui.runbooks.restore.kinds import (
    ARGS,
    READ_ONLY_KINDS,
    NodeArgs,
    NodeStart,
    RestoreKind,
    StartAllArgs,
    WaitHealthyArgs,
    WaitStoppedArgs,
)
from etcdtui.runbooks.restore.resume import ResumeSide
from etcdtui.runbooks.restore.runbook import RestoreOptions, RestoreRunbook, pending_restore
from etcdtui.snapshots.crypto import SnapshotKey, encrypt_file, generate_key_file
from etcdtui.snapshots.status import sidecar_text

APISERVER_PROFILE = {
    "apiserver_stop": "echo stopped >> {service}.apiserver",
    "apiserver_start": "echo started >> {service}.apiserver",
}


def etcdctl(info: LabInfo, *args: str) -> str:
    env = {**os.environ, **info.etcdctl_env(), "ETCDCTL_ENDPOINTS": info.endpoints[0]}
    result = subprocess.run(
        [info.etcdctl, *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def keys(info: LabInfo) -> set[str]:
    return {line for line in etcdctl(info, "get", "", "--prefix", "--keys-only").splitlines()
            if line}  # fmt: skip


def snapshot_after_history(info: LabInfo, path: Path) -> None:
    """a and b in the snapshot; afterwards c written and a deleted (only in the old data)."""
    etcdctl(info, "put", "a", "1")
    etcdctl(info, "put", "b", "2")
    etcdctl(info, "snapshot", "save", str(path))
    etcdctl(info, "put", "c", "3")
    etcdctl(info, "del", "a")
    assert keys(info) == {"b", "c"}


def restore_config(info: LabInfo, tmp_path: Path, **node_changes: dict[str, object]) -> Path:
    """The lab's config with node1 as a control-plane node, and `node_changes` applied."""
    data = tomllib.loads(info.config_path.read_text())
    nodes = data["clusters"]["lab"]["nodes"]
    nodes["node1"]["apiserver"] = True
    for node, changes in node_changes.items():
        for key, value in changes.items():
            target = nodes[node]["ssh"] if key == "ssh_port" else nodes[node]
            target["port" if key == "ssh_port" else key] = value
    data["profiles"] = {"lab": APISERVER_PROFILE}
    path = tmp_path / "restore.toml"
    path.write_text(dump_toml(data))
    return path


def apiserver_marks(info: LabInfo) -> list[str]:
    marker = Path(info.node("node1").service + ".apiserver")
    return marker.read_text().split() if marker.exists() else []


def view_of(connection: Connection) -> ClusterView:
    client = ClusterClient(connection)
    try:
        return client.read(metrics=False)
    finally:
        client.close()


def made_by_restore(info: LabInfo) -> list[str]:
    return sorted(p.name for n in info.members() for p in n.node_dir.glob("data.etcdtui-*"))


class Restore:
    """One test's runbook plumbing: its connection, shells, journal folder and audit log."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.connection = load_connection(config, "lab")
        self.shells = ShellPool(self.connection.nodes)
        self.options = RestoreOptions(state_root=tmp_path / "state", healthy_timeout=60)
        self.audit = AuditLog(tmp_path / "audit.log")
        self.runbooks: list[RestoreRunbook] = []

    def runbook(self, snapshot: Path, key: SnapshotKey | None = None) -> RestoreRunbook:
        rb = RestoreRunbook(self.connection, snapshot, key, self.shells, self.options)
        self.runbooks.append(rb)
        return rb

    def adopt(self, rb: RestoreRunbook) -> RestoreRunbook:
        self.runbooks.append(rb)
        return rb

    def pending(self) -> RestoreState | None:
        return pending_restore(self.connection, self.options.state_root)

    def close(self) -> None:
        for rb in self.runbooks:
            rb.close()
        self.shells.close_all()


@pytest.fixture
def restores(tmp_path: Path) -> Iterator[Callable[[Path], Restore]]:
    made: list[Restore] = []

    def make(config: Path) -> Restore:
        made.append(Restore(config, tmp_path))
        return made[-1]

    yield make
    for restore in made:
        restore.close()


def assert_restored(info: LabInfo, connection: Connection) -> None:
    assert keys(info) == {"a", "b"}
    view = view_of(connection)
    assert view.healthy, [m.problem for m in view.members]
    assert len(view.members) == 3
    assert len({m.status.leader_id for m in view.members if m.status}) == 1
    for node in info.members():
        kept = list(node.node_dir.glob("data.etcdtui-before-restore-*"))
        assert len(kept) == 1 and (kept[0] / "member").is_dir(), node.name


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


def closed_port() -> int:
    return free_ports(1)[0]


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


def forge_foreign(snapshot: Path, path: Path) -> None:
    """`snapshot` as if taken from another cluster: every member's peer host changed (same
    length, so the bbolt pages stay valid), and etcd's sha256 trailer made anew."""
    data = snapshot.read_bytes()[:-32]
    forged = data.replace(b'"peerURLs":["http://127.0.0.1:', b'"peerURLs":["http://127.0.0.9:')
    assert forged != data
    path.write_bytes(forged + hashlib.sha256(forged).digest())


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


def test_config_takes_apiserver_nodes_and_their_profile_commands(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    base = {
        "clusters": {"c": {"endpoints": ["http://10.0.0.1:2379"], "nodes": {
            "cp1": {"profile": "static-pod", "apiserver": True, "ssh": {"host": "cp1"}},
            "cp2": {"profile": "systemd", "ssh": {"host": "cp2"}},
            "cp3": {"profile": "mine", "apiserver": True, "ssh": {"host": "cp3"}},
        }}},
        "profiles": {"mine": {"start": "s", "stop": "t", "is_active": "a",
                              "apiserver_stop": "as", "apiserver_start": "ap",
                              "control_plane_restart": "crictl rm -f kube-scheduler"}},
    }  # fmt: skip
    path.write_text(dump_toml(base))
    connection = load_connection(path, "c")
    cp1, cp2, cp3 = connection.nodes
    assert (cp1.apiserver, cp2.apiserver, cp3.apiserver) == (True, False, True)
    assert connection.profile_command(cp1, "apiserver_stop") == (
        "test ! -e /etc/kubernetes/manifests/kube-apiserver.yaml || mv "
        "/etc/kubernetes/manifests/kube-apiserver.yaml "
        "/etc/kubernetes/kube-apiserver.yaml.etcdtui-stopped"
    )
    assert connection.profile_command(cp2, "apiserver_start") == "systemctl start kube-apiserver"
    assert connection.profile_command(cp3, "control_plane_restart").startswith("crictl")
    assert not connection.has_profile_command(cp1, "control_plane_restart")
    assert "control_plane_restart" not in BUILTIN_PROFILES["systemd"]
    base["profiles"]["mine"]["apiserver_restart"] = "x"  # type: ignore[index]
    path.write_text(dump_toml(base))
    with pytest.raises(ConfigError, match="apiserver_restart: unknown key"):
        load_connection(path, "c")


def journal(cluster: str, run: str) -> RestoreState:
    facts = SnapshotFacts("/b/snap.db", "ab" * 32, 10, 7, 20, 3, 1, "3.5.0", "ok", False)
    step = Step("swap-n1", RestoreKind.SWAP, "n1", "mv a b && mv c a", "why", True, NodeArgs("n1"))
    paths = NodePaths.for_run("n1", "m1", "/var/lib/etcd/", run, True, True)
    return RestoreState(cluster, run, facts, "tok", (paths,), (step,), done=[])


def test_journal_round_trips_and_only_unsettled_runs_are_pending(tmp_path: Path) -> None:
    connection = Connection(cluster="prod/eu", endpoints=("http://10.0.0.1:2379",))
    assert pending_restore(connection, tmp_path) is None
    old, new = (
        journal("prod/eu", "20260101T000000Z-aaaa"),
        journal("prod/eu", "20260102T000000Z-bbbb"),
    )
    old.status = FINISHED
    for state in (old, new, journal("other", "20260103T000000Z-cccc")):
        save(state, tmp_path)
    assert new.path is not None and new.path.parent.name == "prod_eu"
    assert new.path.stat().st_mode & 0o777 == 0o600
    back = load(new.path)
    assert back.nodes[0].data_dir == "/var/lib/etcd"  # the trailing slash would break the names
    assert back.nodes[0].before == "/var/lib/etcd.etcdtui-before-restore-20260102T000000Z-bbbb"
    assert back.steps == new.steps and back.snapshot == new.snapshot
    pending = pending_restore(connection, tmp_path)
    assert pending is not None and pending.run == new.run
    abandon(pending, "lab torn down", tmp_path)
    assert pending_restore(connection, tmp_path) is None
    assert load(new.path).status == "abandoned"


# A journal as etcdtui wrote it before steps were typed: a restore cut short at swap-node2 of
# the sample cluster (every node a control-plane node), then a rollback begun and stopped.
FORMAT1 = Path(__file__).resolve().parents[1] / "data" / "restore_journal_format1.json"


def sample_control_plane() -> Connection:
    from etcdtui.ui.samples import sample_connection

    base = sample_connection()
    return replace(base, nodes=tuple(replace(n, apiserver=True) for n in base.nodes))


def test_a_journal_written_before_typed_steps_loads_typed_and_writes_back_the_same(
    tmp_path: Path,
) -> None:
    written = json.loads(FORMAT1.read_text())
    state = load(FORMAT1)
    steps = state.steps + state.rollback_steps
    assert {s.kind for s in steps} == set(RestoreKind)
    for step in steps:
        assert isinstance(step.kind, RestoreKind) and isinstance(step.args, ARGS[step.kind])
        assert step.read_only == (step.kind in READ_ONLY_KINDS)
    start = next(s for s in state.steps if s.id == "etcd-start").params(StartAllArgs)
    assert start.nodes == ("node1", "node2", "node3")
    assert start.starts[1] == NodeStart(
        "node2",
        "mv /etc/kubernetes/etcd.yaml.etcdtui-stopped /etc/kubernetes/manifests/etcd.yaml",
        "test -e /etc/kubernetes/manifests/etcd.yaml",
    )
    assert next(s for s in state.steps if s.id == "wait-stopped").params(
        WaitStoppedArgs
    ) == WaitStoppedArgs(("node1", "node2", "node3"), 60.0)
    assert next(s for s in state.steps if s.id == "wait-healthy").params(
        WaitHealthyArgs
    ) == WaitHealthyArgs(("node1", "node2", "node3"), 90.0)
    # Written again, every field and every argument pair is as it was, in the same order.
    assert json.dumps(to_json(state)) == json.dumps(written)
    state.path = tmp_path / "again.json"
    again = json.loads(save(state).read_text())
    assert again.pop("updated") and {**again, "updated": written["updated"]} == written
    # The same journal with the `read_only` field one etcdtui wrote for a while loads the same.
    for step_json in written["steps"] + written["rollback_steps"]:
        step_json["read_only"] = False
    older = tmp_path / "older.json"
    older.write_text(json.dumps(written))
    assert load(older).steps == state.steps


def test_an_old_journals_rollback_is_planned_by_step_kinds_as_before(tmp_path: Path) -> None:
    state = load(FORMAT1)
    connection = sample_control_plane()
    lock = ClusterLock(connection.cluster, tmp_path, connection.source)
    side = ResumeSide(connection, ShellPool(connection.nodes), RestoreOptions(stop_timeout=60),
                      lock, Path(state.snapshot.path), None)  # fmt: skip
    # The journal's rollback is the one etcdtui planned from its restore steps: the same again.
    assert side._rollback_steps(state) == state.rollback_steps
    # Cut short before any data dir moved: no stop or unswap, etcd started again where stopped.
    state.done = [s.id for s in state.steps if s.kind is not RestoreKind.SWAP][:13]
    state.cut_short = "restore-node1"
    ids = [s.id for s in side._rollback_steps(state)]
    assert ids[:2] == ["rollback-etcd-start", "rollback-wait-healthy"]
    assert not any(s.kind is RestoreKind.UNSWAP for s in side._rollback_steps(state))


def test_every_kind_of_restore_step_has_one_handler(tmp_path: Path) -> None:
    connection = sample_control_plane()
    options = RestoreOptions(state_root=tmp_path)
    rb = RestoreRunbook(connection, tmp_path / "none.db", None, ShellPool(connection.nodes),
                        options, client=ClusterClient(connection))  # fmt: skip
    try:
        assert set(rb.handlers) == set(RestoreKind) == set(ARGS)
    finally:
        rb.close()


def test_one_restore_at_a_time_per_cluster(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; "
         "from etcdtui.runbooks.restore.journal import ClusterLock; "
         "ClusterLock('c', Path(sys.argv[1])).acquire(); print('held', flush=True); "
         "time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(etcdtui.__file__).parent.parent)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = ClusterLock("c", tmp_path)
        assert f"pid {holder.pid}" in lock.busy()
        with pytest.raises(JournalError, match="another etcdtui"):
            lock.acquire()
        assert ClusterLock("another", tmp_path).busy() == ""
    finally:
        holder.kill()
        holder.wait()
    lock.acquire()  # the kernel let go of the dead holder's lock
    lock.release()


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

# A run's journal as the restore writes it before each step, then the process is killed.
save(journal("lab", "20260101T000000Z-dead"), Path(sys.argv[1]))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_runs_journal_reads_interrupted_wherever_it_is_shown(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    import json
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
