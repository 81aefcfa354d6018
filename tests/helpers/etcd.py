"""Acting on a lab's etcd directly, beside etcdtui: etcdctl, fragmenting, reading sizes."""

from __future__ import annotations

import os
import subprocess

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import LabInfo
from tests.helpers.labs import connection_of


def etcdctl(
    info: LabInfo, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **info.etcdctl_env()}
    return subprocess.run([info.etcdctl, *args], input=stdin, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip


def fragment(info: LabInfo, keys: int = 300, keep: int = 40) -> None:
    """Write, delete most, compact: the database file keeps the freed pages."""
    client = GatewayClient(info.endpoints[0])
    try:
        for i in range(keys):
            client.put(f"/frag/{i:04d}".encode(), b"v" * 8192)
        for i in range(keep, keys):
            client.delete(f"/frag/{i:04d}".encode())
        client.compact(client.status().revision, timeout=30)
    finally:
        client.close()


def sizes(info: LabInfo) -> dict[str, int]:
    client = ClusterClient(connection_of(info))
    try:
        view = client.read(metrics=False)
    finally:
        client.close()
    return {m.name: m.status.db_size for m in view.members if m.status}
