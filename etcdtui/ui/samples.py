"""The app fed with fixed data, for screenshots and snapshot tests."""

from __future__ import annotations

from pathlib import Path

from etcdtui.config import Connection, NodeConfig, SshTarget
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Plan, Step, StepResult
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.defrag import DefragOptions, DefragRunbook
from etcdtui.runbooks.engine import Output
from etcdtui.services import samples
from etcdtui.ui.app import EtcdtuiApp
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


def sample_app(scenario: str = "healthy", read_only: bool = False) -> EtcdtuiApp:
    """An app showing `scenario`, with 15 minutes of history behind it; it never re-polls."""
    view = samples.SCENARIOS[scenario]()
    app = EtcdtuiApp(
        sample_connection(scenario),
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


def sample_runbook_screen() -> RunbookScreen:
    return RunbookScreen(
        "Defragmentation · prod · followers first, leader last",
        lambda screen: SampleDefrag(),
        AuditLog(Path("/nonexistent/etcdtui-sample-audit.log")),
        options=True,
    )
