"""One cluster session: the cluster's client and the SSH connections it shares, closed together.

Every front door (a CLI command, a TUI screen) that reads or changes a cluster needs the same
pair: a `ShellPool` (one SSH connection per node, when the nodes are reached at all) and the
`ClusterClient` built on it (`via_ssh.open_cluster`), so a runbook's node-side steps and its
reads share each node's connection. `cluster_session()` makes both and closes both, in the
right order, however the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import Connection

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import OnConnect, ShellPool


@dataclass
class ClusterSession:
    """A cluster's client and, when its nodes are reached over SSH, their shared shells."""

    connection: Connection
    client: ClusterClient
    shells: ShellPool | None

    def close(self) -> None:
        """Close the client, then the SSH connections its routes ran over."""
        try:
            self.client.close()
        finally:
            if self.shells is not None:
                self.shells.close_all()


def open_session(
    connection: Connection, *, nodes: bool = False, on_connect: OnConnect | None = None
) -> ClusterSession:
    """A session on `connection`. `nodes=True` opens a ShellPool even for a cluster read
    directly (runbooks with node-side steps need one); a cluster reached through SSH always
    gets one. Nothing connects here: SSH opens on first use, in the worker that uses it."""
    shells = None
    if nodes or connection.via_ssh or connection.certs_on_node:
        from etcdtui.clients.ssh.shell import ShellPool  # paramiko: only when a node is reached

        shells = ShellPool(connection.nodes, on_connect=on_connect)
    return ClusterSession(connection, open_cluster(connection, shells), shells)


@contextmanager
def cluster_session(
    connection: Connection, *, nodes: bool = False, on_connect: OnConnect | None = None
) -> Iterator[ClusterSession]:
    """`open_session` for the length of a `with` block."""
    session = open_session(connection, nodes=nodes, on_connect=on_connect)
    try:
        yield session
    finally:
        session.close()
