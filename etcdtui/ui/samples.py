"""The app fed with fixed data, for screenshots and snapshot tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from etcdtui.config import Connection, NodeConfig, SshTarget
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Plan, Step, StepResult
from etcdtui.models.severity import Severity
from etcdtui.models.snapshot import SnapshotEntry, SnapshotStatus
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook
from etcdtui.runbooks.engine import Output
from etcdtui.services import samples
from etcdtui.services.kube.certs import CertStatus, unreadable
from etcdtui.services.kube.inspect import NodeFacts
from etcdtui.services.kube.report import KubeReport
from etcdtui.services.kube.settings import ApiserverSettings
from etcdtui.services.kube.wiring import KubeFinding
from etcdtui.snapshots.catalogue import Catalogue
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.backups import BackupsScreen
from etcdtui.ui.screens.kube import KubeScreen
from etcdtui.ui.screens.runbook import RunbookScreen


def sample_connection(view_name: str = "healthy") -> Connection:
    view = samples.SCENARIOS[view_name]()
    nodes = tuple(
        NodeConfig(
            name=m.name,
            ssh=SshTarget(host=f"cp{i + 1}.prod.example", user="ops", proxy_jump="bastion"),
            profile="static-pod",
            sudo=True,
            peer_urls=m.member.peer_urls if m.member else (),
            client_urls=m.member.client_urls if m.member else (),
        )
        for i, m in enumerate(view.members)
    )
    return Connection(
        cluster="prod",
        endpoints=tuple(m.endpoint for m in view.members),
        nodes=nodes,
    )


def sample_app(
    scenario: str = "healthy", read_only: bool = False, via_ssh: bool = False, nodes: bool = True
) -> EtcdtuiApp:
    """An app showing `scenario`, with 15 minutes of history behind it; it never re-polls.

    `via_ssh`: as reached through SSH, one node refusing port forwarding. `nodes=False`: a
    config that lists no nodes (no SSH settings).
    """
    view = samples.SCENARIOS[scenario]()
    connection = sample_connection(scenario)
    if not nodes:
        connection = replace(connection, nodes=())
    if via_ssh:
        connection = replace(connection, via="ssh")
        note = f"{view.members[2].name}: the SSH server refuses port forwarding"
        view = replace(view, via="ssh", notes=(f"{note}: reading it with etcdctl on the node",))
    app = EtcdtuiApp(
        connection,
        refresh=3600,
        read_only=read_only,
        source=samples.FixedSource(view),
    )
    for earlier in samples.history(view):
        app.history.add(earlier)
    return app


class SampleDefrag:
    """The defrag runbook's plan on the healthy sample cluster; it never runs anything."""

    name = "defrag"
    cluster = "prod"

    def plan(self) -> Plan:
        # No client: plan_from does no I/O.
        runbook = DefragRunbook(sample_connection(), None, DefragOptions())  # type: ignore[arg-type]
        return runbook.plan_from(samples.healthy())

    def run_step(self, step: Step, output: Output) -> StepResult:
        raise EtcdtuiError("the sample runbook does not run")

    def verify(self) -> list[Check]:
        return []

    def summary(self) -> list[str]:
        return []

    def cluster_lock(self) -> None:
        return None  # a sample takes no lock


class SampleBackups(BackupsScreen):
    """The backups screen over a fixed catalogue: reads no folder, saves nothing."""

    def action_rescan(self) -> None:
        now = 1_764_000_000.0
        status = SnapshotStatus(0x8F3A21C4, 48_213_907, 1_204_873, 1_845_493_760, "3.5.0", "ok")
        older = replace(status, hash=0x1B7D03EE, revision=47_890_112, total_keys=1_198_020)
        entries = (
            SnapshotEntry("/var/backups/etcd/prod-20251124-020000.db", 1_845_493_792,
                          now - 26.5 * 3600, True, status),
            SnapshotEntry("/var/backups/etcd/prod-20251123-020000.db", 1_839_202_336,
                          now - 50.5 * 3600, True, older),
            SnapshotEntry("/var/backups/etcd/prod-20251122-020000.db", 1_834_000_000,
                          now - 74.5 * 3600, False, None,
                          "corrupt: sha256 digest does not match"),
        )  # fmt: skip
        self._show(Catalogue("/var/backups/etcd", entries, 24.0, now))

    def action_save(self) -> None:
        self.notify("The sample screen saves nothing.")


def sample_backups_screen() -> SampleBackups:
    connection = replace(sample_connection(), snapshot_dir="/var/backups/etcd")
    return SampleBackups(connection, lambda: None,  # type: ignore[arg-type]
                         AuditLog(Path("/nonexistent/etcdtui-sample-audit.log")))  # fmt: skip


def sample_runbook_screen() -> RunbookScreen:
    return RunbookScreen(
        "Defragmentation · prod · followers first, leader last",
        lambda screen: SampleDefrag(),
        AuditLog(Path("/nonexistent/etcdtui-sample-audit.log")),
        options=True,
    )


# --- the Kubernetes screen ----------------------------------------------------------------

_KUBE_NOW = 1_764_000_000.0  # 2025-11-24 16:00 UTC
_PKI = "/etc/kubernetes/pki"
_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"


def _cert(
    node: str, role: str, path: str, expires: str, severity: Severity = Severity.OK
) -> CertStatus:
    not_after = datetime.fromisoformat(expires).replace(tzinfo=UTC)
    days = (not_after.timestamp() - _KUBE_NOW) / 86400
    subject = f"CN={node}"
    return CertStatus(node, role, path, subject, "CN=etcd-ca", not_after, days, severity)


def _apiserver(*servers: str) -> ApiserverSettings:
    return ApiserverSettings(_MANIFEST, servers, f"{_PKI}/etcd/ca.crt",
                             f"{_PKI}/apiserver-etcd-client.crt",
                             f"{_PKI}/apiserver-etcd-client.key")  # fmt: skip


def sample_kube_report() -> KubeReport:
    """Three kubeadm nodes: one apiserver still lists a removed member, node3 runs none (so
    its member is unused), a server certificate expires in 3 days, a data dir is 755."""
    facts = (
        NodeFacts("node1", apiserver=_apiserver("https://10.0.0.11:2379",
                                                "https://10.0.0.12:2379")),
        NodeFacts("node2", apiserver=_apiserver("https://127.0.0.1:2379",
                                                "https://10.0.0.14:2379")),
        NodeFacts("node3", notes=("etcd runs as a systemd unit (etcd.service)",)),
    )  # fmt: skip
    ok, warn, critical = Severity.OK, Severity.WARN, Severity.CRITICAL
    wiring = (
        KubeFinding("node1", "etcd-servers", ok,
                    "node1: 2 etcd servers, all current members, over TLS with a client "
                    "certificate"),
        KubeFinding("node2", "etcd-servers", critical,
                    "node2: --etcd-servers has https://10.0.0.14:2379, which is no etcd "
                    "member's client URL (removed or replaced member?)",
                    f"Remove https://10.0.0.14:2379 from --etcd-servers in {_MANIFEST}"),
        KubeFinding("node3", "member-unused", warn,
                    "member node3 (https://10.0.0.13:2379) is in no kube-apiserver's "
                    "--etcd-servers: if the others fail, no apiserver fails over to it",
                    "Add https://10.0.0.13:2379 (member node3) to --etcd-servers in a "
                    "kube-apiserver manifest"),
    )  # fmt: skip
    certs = (
        _cert("node1", "server", f"{_PKI}/etcd/server.crt", "2026-09-10T08:12:00"),
        _cert("node1", "CA", f"{_PKI}/etcd/ca.crt", "2034-11-20T08:12:00"),
        _cert("node1", "client (kube-apiserver)", f"{_PKI}/apiserver-etcd-client.crt",
              "2025-12-10T08:12:00", warn),
        _cert("node2", "server", f"{_PKI}/etcd/server.crt", "2025-11-27T09:30:00", critical),
        _cert("node2", "peer", f"{_PKI}/etcd/peer.crt", "2026-09-10T08:12:00"),
        _cert("node2", "client (healthcheck)", f"{_PKI}/etcd/healthcheck-client.crt",
              "2025-11-20T09:30:00", critical),
        unreadable("node3", "CA", f"{_PKI}/etcd/ca.crt",
                   "cat: /etc/kubernetes/pki/etcd/ca.crt: Permission denied"),
    )  # fmt: skip
    security = (
        KubeFinding("node1", "data dir 0700", ok, "node1: data dir /var/lib/etcd is 700"),
        KubeFinding("node2", "data dir 0700", critical,
                    "node2: data dir /var/lib/etcd is 755: others can read every key and "
                    "secret", "chmod 700 /var/lib/etcd"),
        KubeFinding("node1", "private keys", ok, "node1: 5 private keys, none world-readable"),
        KubeFinding("", "client-cert-auth", ok,
                    "https://10.0.0.11:2379 refused a client without a certificate"),
        KubeFinding("", "client-cert-auth", warn,
                    "https://10.0.0.13:2379: could not check (unknown: timed out after 2 s)"),
        KubeFinding("", "peer TLS", ok, "all 3 peer URLs https"),
        KubeFinding("node3", "peer TLS", warn,
                    "node3: --peer-client-cert-auth is off: any host can pose as a peer",
                    "set --peer-client-cert-auth=true"),
    )  # fmt: skip
    return KubeReport(facts, wiring, certs, security, taken_at=_KUBE_NOW)


def sample_kube_screen() -> KubeScreen:
    """The Kubernetes screen over `sample_kube_report()`: reads no node."""
    return KubeScreen(sample_connection(), sample_kube_report)
