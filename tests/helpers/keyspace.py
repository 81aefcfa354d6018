"""The keyspace tests' lab layout: Kubernetes-shaped keys whose bytes the test itself knows,
snapshots saved with etcdctl, and a lab's config that reaches it only through SSH."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

from etcdtui.clients.etcd import GatewayClient
from etcdtui.config import load_connection
from etcdtui.lab import LabInfo

# The layout: group prefix -> number of keys.
LAYOUT = {
    "/registry/pods/ns-a/": 300,
    "/registry/events/ns-b/": 200,
    "/registry/configmaps/ns-a/": 50,
    "/registry/namespaces/": 10,
}
PODS = "/registry/pods/ns-a/"


def layout_keys() -> dict[str, list[bytes]]:
    """The keys of each group of LAYOUT."""
    return {
        group: [f"{group}name-{i:04d}".encode() for i in range(count)]
        for group, count in LAYOUT.items()
    }


def value_for(key: bytes, round_: int) -> bytes:
    """A value whose length varies by key and by round, so sizes are not all alike."""
    return b"v" * (20 + (sum(key) + 37 * round_) % 200)


class Writer:
    """Writes keys through one member and remembers each key's current value length."""

    def __init__(self, info: LabInfo) -> None:
        tls = load_connection(info.config_path, info.cluster).tls  # none on a plain lab
        self.client = GatewayClient(info.endpoints[0], tls, timeout=10)
        self.values: dict[bytes, int] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.client.put(key, value)
        self.values[key] = len(value)

    def bytes_by_group(self) -> Counter[str]:
        """The sum of len(key) + len(value) of each group's keys, as written."""
        found: Counter[str] = Counter()
        for group, keys in layout_keys().items():
            found[group] = sum(len(k) + self.values[k] for k in keys)
        return found

    def close(self) -> None:
        self.client.close()


def wait_until_applied(info: LabInfo, revision: int, timeout: float = 10.0) -> None:
    """Wait until every member of the lab has applied `revision`.

    A live scan reads a member's own copy (serializably), and a follower applies a write a
    moment after the leader acknowledged it; a scan started before would miss the last keys.
    """
    tls = load_connection(info.config_path, info.cluster).tls
    deadline = time.monotonic() + timeout
    for endpoint in info.endpoints:
        client = GatewayClient(endpoint, tls, timeout=5)
        try:
            while client.status().revision < revision:
                assert time.monotonic() < deadline, f"{endpoint} did not apply revision {revision}"
                time.sleep(0.02)
        finally:
            client.close()


def save_snapshot(info: LabInfo, path: Path) -> Path:
    """`etcdctl snapshot save` from the lab's first member."""
    env = {**os.environ, **info.etcdctl_env(), "ETCDCTL_ENDPOINTS": info.endpoints[0]}
    subprocess.run([info.etcdctl, "snapshot", "save", str(path)], env=env, capture_output=True,
                   text=True, timeout=60, check=True)  # fmt: skip
    return path
