"""Reading a lab the way the tests need: its connection, its etcd versions, a follower."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from etcdtui.config import Connection, dump_toml, load_connection
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


def config_through_ssh(info: LabInfo, folder: Path, **cluster: Any) -> Path:
    """The lab's config reaching its members only through SSH (`via = "ssh"`), each
    bastion-side client URL on a dead port: only the node's local_client_url is real.

    The URL keeps 127.0.0.1 (in the certificates); the tunnel connects to the real port from
    the node. Each request opens an SSH channel and a TLS handshake through it: on a loaded
    2-core machine (the suite's parallel workers) that can take longer than the lab's 2 s.
    """
    from tests.helpers.sshd import free_port

    with info.config_path.open("rb") as handle:
        data = tomllib.load(handle)
    lab = data["clusters"]["lab"]
    endpoints = []
    for node in lab["nodes"].values():
        if not node.get("member"):
            continue
        real = node["client_urls"][0]
        fake = f"{real.split('://')[0]}://127.0.0.1:{free_port()}"
        node["local_client_url"] = real
        node["client_urls"] = [fake]
        endpoints.append(fake)
    lab |= {"endpoints": endpoints, "via": "ssh", "timeout": 10.0, **cluster}
    path = folder / "through-ssh.toml"
    path.write_text(dump_toml(data))
    return path
