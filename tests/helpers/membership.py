"""A member-change lab as the tests see it: keys written, members listed or killed, and the
file a stand-in kube-apiserver profile writes its --etcd-servers to."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import tomllib
from pathlib import Path

from etcdtui.config import dump_toml
from etcdtui.lab import LabInfo

KEYS = 40
# Stands in for a kube-apiserver manifest: each node's --etcd-servers list goes to a file.
SERVERS_PROFILE = {"apiserver_etcd_servers": "echo {servers} > {service}.etcd-servers"}


def apiserver_config(info: LabInfo, tmp_path: Path) -> Path:
    """The lab's config with every node a control-plane node whose profile sets the list."""
    data = tomllib.loads(info.config_path.read_text())
    for node in data["clusters"]["lab"]["nodes"].values():
        node["apiserver"] = True
    data["profiles"] = {"lab": SERVERS_PROFILE}
    path = tmp_path / "members.toml"
    path.write_text(dump_toml(data))
    path.chmod(0o640)
    return path


def etcd_servers(info: LabInfo, node: str) -> list[str]:
    return Path(info.node(node).service + ".etcd-servers").read_text().strip().split(",")


def etcdctl(info: LabInfo, *args: str, endpoint: str | None = None) -> str:
    env = os.environ | info.etcdctl_env()
    if endpoint:
        env["ETCDCTL_ENDPOINTS"] = endpoint
    done = subprocess.run(
        [info.etcdctl, *args], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


def put_keys(info: LabInfo) -> None:
    for i in range(KEYS):
        etcdctl(info, "put", f"membership/{i:03}", f"value {i}")


def kill(info: LabInfo, name: str) -> None:
    pid = info.pid(name)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while info.pid(name) is not None and time.monotonic() < deadline:
        time.sleep(0.05)


def member_names(info: LabInfo) -> list[str]:
    out = etcdctl(info, "member", "list", "-w", "simple")
    return sorted(line.split(", ")[2] for line in out.splitlines() if line)
