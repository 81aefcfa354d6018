"""One member change's facts, shared by everything that plans or runs its steps.

The node side (handlers.py), the static-pod manifest (static_pod.py) and what points at the
members (pointers.py) each hold this, not each other: the cluster, the SSH shells, the new node
and member, the member replaced, and the stamp of what the run moves aside on the nodes.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd import EtcdClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdError, EtcdtuiError
from etcdtui.models import ClusterView, Member
from etcdtui.models.command import CommandResult
from etcdtui.runbooks.membership.refusals import quorum_loss


def output_tail(result: CommandResult, lines: int = 5) -> str:
    """The last lines of a command's output, or its exit code when it printed nothing."""
    text = (result.stdout + result.stderr).strip()
    return "\n".join(text.splitlines()[-lines:]) or f"exit code {result.exit_code}"


@dataclass(frozen=True)
class MemberChange:
    """Who and what one replace-member or add-member run acts on, and how it reaches them."""

    connection: Connection
    client: ClusterClient
    shells: ShellPool
    new_node: NodeConfig
    new_name: str
    old_name: str  # "" when adding
    run_stamp: str

    def sh(self, node: NodeConfig, raw: str, timeout: float = 60.0) -> CommandResult:
        """`raw` run on `node` over SSH (with sudo if the node says so)."""
        return self.shells.shell(node.name).run(raw, timeout=timeout, sudo=node.sudo)

    def api(self, view: ClusterView | None = None) -> EtcdClient:
        """A healthy voting member to send membership requests to (the leader if it can)."""
        view = view or self.client.read(metrics=False)
        voting = [m for m in view.voting_members if m.healthy]
        chosen = next((m for m in voting if m.is_leader), None) or (voting[0] if voting else None)
        if chosen is None:
            raise EtcdError(
                quorum_loss(view) or "no healthy voting member answers: quorum is lost; stopping"
            )
        return self.client.client(chosen.endpoint)

    def ours(self, members: tuple[Member, ...]) -> Member | None:
        """The member added for the new node (found by its peer URL)."""
        urls = set(self.new_node.peer_urls)
        return next((m for m in members if urls & set(m.peer_urls)), None)

    def members(self) -> tuple[Member, ...]:
        return self.api().member_list()

    def old_node(self) -> NodeConfig | None:
        """The configured node of the member replaced (None when adding, or not configured)."""
        return next((n for n in self.connection.nodes if n.member_name == self.old_name), None)

    def survivor_file(
        self, path_of: Callable[[NodeConfig], str], expect: str
    ) -> tuple[str, str] | None:
        """("node:path", text) of the first surviving member's file at `path_of(node)` that
        reads over SSH and holds `expect`; None if none does."""
        for node in self.connection.nodes:
            path = path_of(node)
            if not path or not node.member or node.name == self.new_node.name:
                continue
            if node.member_name == self.old_name:
                continue
            try:
                result = self.sh(node, f"cat {shlex.quote(path)}", timeout=15)
            except EtcdtuiError:
                continue
            if result.ok and expect in result.stdout:
                return f"{node.name}:{path}", result.stdout
        return None
