"""The restore's journal and plan without a lab: round trips, old journals, one restore at a
time, the apiserver nodes a config names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import etcdtui
from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import BUILTIN_PROFILES, Connection, dump_toml, load_connection
from etcdtui.errors import ConfigError
from etcdtui.runbooks.restore.journal import (
    FINISHED,
    ClusterLock,
    JournalError,
    abandon,
    load,
    save,
)
from etcdtui.runbooks.restore.journal_format import to_json
from etcdtui.runbooks.restore.kinds import (
    ARGS,
    READ_ONLY_KINDS,
    NodeStart,
    RestoreKind,
    StartAllArgs,
    WaitHealthyArgs,
    WaitStoppedArgs,
)
from etcdtui.runbooks.restore.resume import ResumeSide
from etcdtui.runbooks.restore.runbook import RestoreOptions, RestoreRunbook, pending_restore
from tests.helpers.restore import (
    journal,
)


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
    # Every kind there was then: the wait for the kube-apiservers to stop came later.
    assert {s.kind for s in steps} == set(RestoreKind) - {RestoreKind.WAIT_APISERVERS_DOWN}
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
