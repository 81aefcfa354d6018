"""A restore lab as the restore tests see it: its keys, its config with the apiserver
profile, the runbook plumbing one test needs, and what a restored cluster must look like.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tomllib
from pathlib import Path

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, dump_toml, load_connection
from etcdtui.lab import LabInfo
from etcdtui.lab.ports import free_ports
from etcdtui.models import ClusterView
from etcdtui.models.runbook import Step
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.restore.journal import (
    NodePaths,
    RestoreState,
    SnapshotFacts,
)
from etcdtui.runbooks.restore.kinds import (
    NodeArgs,
    RestoreKind,
)
from etcdtui.runbooks.restore.runbook import RestoreOptions, RestoreRunbook, pending_restore
from etcdtui.snapshots.crypto import SnapshotKey

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


def assert_restored(info: LabInfo, connection: Connection) -> None:
    assert keys(info) == {"a", "b"}
    view = view_of(connection)
    assert view.healthy, [m.problem for m in view.members]
    assert len(view.members) == 3
    assert len({m.status.leader_id for m in view.members if m.status}) == 1
    for node in info.members():
        kept = list(node.node_dir.glob("data.etcdtui-before-restore-*"))
        assert len(kept) == 1 and (kept[0] / "member").is_dir(), node.name


def closed_port() -> int:
    return free_ports(1)[0]


def forge_foreign(snapshot: Path, path: Path) -> None:
    """`snapshot` as if taken from another cluster: every member's peer host changed (same
    length, so the bbolt pages stay valid), and etcd's sha256 trailer made anew."""
    data = snapshot.read_bytes()[:-32]
    forged = data.replace(b'"peerURLs":["http://127.0.0.1:', b'"peerURLs":["http://127.0.0.9:')
    assert forged != data
    path.write_bytes(forged + hashlib.sha256(forged).digest())


def journal(cluster: str, run: str) -> RestoreState:
    facts = SnapshotFacts("/b/snap.db", "ab" * 32, 10, 7, 20, 3, 1, "3.5.0", "ok", False)
    step = Step("swap-n1", RestoreKind.SWAP, "n1", "mv a b && mv c a", "why", True, NodeArgs("n1"))
    paths = NodePaths.for_run("n1", "m1", "/var/lib/etcd/", run, True, True)
    return RestoreState(cluster, run, facts, "tok", (paths,), (step,), done=[])
