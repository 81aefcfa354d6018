"""Reading a lab the way the tests need: its connection, its etcd versions, a follower."""

from __future__ import annotations

from etcdtui.config import Connection, load_connection
from etcdtui.lab import LabInfo

VERSIONS = ("3.4", "3.5")


def connection_of(info: LabInfo) -> Connection:
    return load_connection(info.config_path, info.cluster)


def follower(info: LabInfo) -> str:
    """The name of a member that is not the leader (killing it keeps the leader in place)."""
    from etcdtui.clients.cluster import ClusterClient

    client = ClusterClient(connection_of(info))
    try:
        view = client.read(metrics=False)
    finally:
        client.close()
    return next(m.name for m in view.members if m.reachable and not m.is_leader)
