"""The upgrade tests' tools: a 3.4 lab's config told where the 3.5 binaries are, the upgrade
command run as a process, and what the audit log says it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from etcdtui.lab import LabInfo
from etcdtui.lab.binaries import etcd_binaries
from etcdtui.toml_io import dump_toml
from tests.helpers.etcd import etcdctl

# `etcdtui upgrade`, registered here too, so it runs whether or not cli/__init__ lists it yet.
RUN_CLI = (
    "import sys, etcdtui.cli as cli, etcdtui.cli.upgrade as upgrade\n"
    "if upgrade not in cli.COMMANDS: cli.COMMANDS = (*cli.COMMANDS, upgrade)\n"
    "raise SystemExit(cli.main(sys.argv[1:]))\n"
)


def point_at_new_etcd(info: LabInfo, snapshots: Path, binary: str | None = None) -> None:
    """Give every node of the lab's etcdtui.toml `vars.upgrade_etcd` (the 3.5 etcd, or
    `binary`) and the cluster a snapshot folder of its own."""
    new = binary or etcd_binaries("3.5")[0]
    config = tomllib.loads(info.config_path.read_text())
    cluster = config["clusters"][info.cluster]
    cluster["snapshot_dir"] = str(snapshots)
    for node in cluster["nodes"].values():
        node.setdefault("vars", {})["upgrade_etcd"] = new
    info.config_path.write_text(dump_toml(config))


def set_node_var(info: LabInfo, node: str, name: str, value: str) -> None:
    """One node's var in the lab's etcdtui.toml."""
    config = tomllib.loads(info.config_path.read_text())
    config["clusters"][info.cluster]["nodes"][node]["vars"][name] = value
    info.config_path.write_text(dump_toml(config))


def use_snapshot_dir(info: LabInfo, snapshots: Path) -> None:
    """The lab cluster's snapshot folder (the pre-upgrade snapshot goes there)."""
    config = tomllib.loads(info.config_path.read_text())
    config["clusters"][info.cluster]["snapshot_dir"] = str(snapshots)
    info.config_path.write_text(dump_toml(config))


def node_vars(info: LabInfo) -> dict[str, dict[str, Any]]:
    """Each node's vars, as the lab's etcdtui.toml has them."""
    nodes = tomllib.loads(info.config_path.read_text())["clusters"][info.cluster]["nodes"]
    return {name: dict(node.get("vars", {})) for name, node in nodes.items()}


def run_upgrade(
    info: LabInfo, audit: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`etcdtui upgrade --config LAB --cluster lab ARGS --audit-log AUDIT`, to its end."""
    return subprocess.run(
        upgrade_argv(info, audit, *args), capture_output=True, text=True, timeout=timeout,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def upgrade_argv(info: LabInfo, audit: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", RUN_CLI, "upgrade", "--config", str(info.config_path),
            "--cluster", info.cluster, *args, "--audit-log", str(audit)]  # fmt: skip


def put_keys(info: LabInfo, count: int) -> None:
    """`count` keys under /upgrade/, written with etcdctl in one go."""
    for i in range(count):
        result = etcdctl(info, "put", f"/upgrade/{i:04d}", f"value-{i}")
        assert result.returncode == 0, result.stderr


def user_keys(info: LabInfo) -> int:
    """The keys under /upgrade/, as etcdctl counts them."""
    out = etcdctl(info, "get", "/upgrade/", "--prefix", "--keys-only", "-w", "json").stdout
    return int(json.loads(out).get("count", 0))


def audit_rows(audit: Path) -> list[dict[str, Any]]:
    """The audit log's records, in order."""
    return [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]


def member_versions(info: LabInfo) -> dict[str, str]:
    """Each member's server version, as etcdctl endpoint status reports it."""
    out = etcdctl(info, "endpoint", "status", "-w", "json").stdout
    by_url = {n.client_url: n.name for n in info.members()}
    return {by_url[e["Endpoint"]]: e["Status"]["version"] for e in json.loads(out)}


def env_without_state(home: Path) -> dict[str, str]:
    """os.environ with XDG_STATE_HOME in `home` (the lock files, the default catalogue)."""
    return {**os.environ, "XDG_STATE_HOME": str(home)}
