"""The app fed with fixed data, for screenshots and snapshot tests."""

from __future__ import annotations

from etcdtui.config import Connection, NodeConfig, SshTarget
from etcdtui.services import samples
from etcdtui.ui.app import EtcdtuiApp


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
