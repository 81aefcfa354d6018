"""The app fed with fixed data, for screenshots and snapshot tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from etcdtui.config import Connection, NodeConfig, SshTarget
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Plan, Step, StepResult
from etcdtui.models.snapshot import SnapshotEntry, SnapshotStatus
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.catalogue import Catalogue
from etcdtui.runbooks.defrag import DefragOptions, DefragRunbook
from etcdtui.runbooks.engine import Output
from etcdtui.services import samples
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.backups import BackupsScreen
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
    scenario: str = "healthy", read_only: bool = False, via_ssh: bool = False
) -> EtcdtuiApp:
    """An app showing `scenario`, with 15 minutes of history behind it; it never re-polls.

    `via_ssh`: as reached through SSH, one node refusing port forwarding.
    """
    view = samples.SCENARIOS[scenario]()
    connection = sample_connection(scenario)
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
    return SampleBackups(connection, lambda: None,  # type: ignore[arg-type, return-value]
                         AuditLog(Path("/nonexistent/etcdtui-sample-audit.log")))  # fmt: skip


def sample_runbook_screen() -> RunbookScreen:
    return RunbookScreen(
        "Defragmentation · prod · followers first, leader last",
        lambda screen: SampleDefrag(),
        AuditLog(Path("/nonexistent/etcdtui-sample-audit.log")),
        options=True,
    )
