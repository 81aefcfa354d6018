"""Reaching members through SSH tunnels, against real etcd and the lab's real sshds.

The loopback labs' client ports are reachable directly too, so these tests prove the tunnel is
used by giving the bastion an endpoint URL nothing listens on: only the node, through
`local_client_url`, knows where the member really is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.private_dirs import PREFIX, private_base
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import dump_toml, load_connection
from etcdtui.lab import LabInfo
from etcdtui.lab.sshd import start_sshd, stop_pid
from tests.helpers.labs import config_through_ssh, connection_of
from tests.helpers.sshd import free_port

ETCDTUI = [sys.executable, "-m", "etcdtui"]


def lab_config(info: LabInfo) -> dict[str, Any]:
    with info.config_path.open("rb") as handle:
        return tomllib.load(handle)


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(dump_toml(data))
    return path


def read(config: Path) -> Any:
    client = open_cluster(load_connection(config, "lab"))
    try:
        return client.read()
    finally:
        client.close()


def test_status_through_ssh_matches_the_direct_one(tls_lab: LabInfo, tmp_path: Path) -> None:
    config = config_through_ssh(tls_lab, tmp_path)
    direct = ClusterClient(connection_of(tls_lab))
    try:
        expected = direct.read()
    finally:
        direct.close()
    view = read(config)
    assert view.via == "ssh" and view.healthy, [m.problem for m in view.members]
    assert len(view.members) == 3
    assert {m.member_id for m in view.members} == {m.member_id for m in expected.members}
    assert view.leader is not None and expected.leader is not None
    assert view.leader.member_id == expected.leader.member_id
    # Metrics come through the tunnel too (the latency pane).
    assert all(m.metrics is not None and m.metrics.has_leader for m in view.members)


def test_status_command_says_via_ssh_and_exits_zero(plain_lab: LabInfo, tmp_path: Path) -> None:
    config = config_through_ssh(plain_lab, tmp_path)
    result = subprocess.run([*ETCDTUI, "status", "--config", str(config), "-w", "json"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["via"] == "ssh" and data["healthy"] is True
    table = subprocess.run([*ETCDTUI, "status", "--config", str(config)],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "cluster lab (via ssh): healthy" in table.stdout


def test_without_ssh_the_hidden_endpoints_are_unreachable(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    config = config_through_ssh(plain_lab, tmp_path)
    data = lab_config(plain_lab)
    hidden = tomllib.loads(config.read_text())["clusters"]["lab"]["endpoints"]
    result = subprocess.run([*ETCDTUI, "status", "--endpoints", ",".join(hidden)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "connection refused" in result.stdout
    assert data["clusters"]["lab"].get("via") is None


def test_certificate_is_checked_against_the_members_name_not_the_tunnel(
    tls_lab: LabInfo, tmp_path: Path
) -> None:
    data = lab_config(tls_lab)
    lab = data["clusters"]["lab"]
    node1 = lab["nodes"]["node1"]
    real = node1["client_urls"][0]
    port = real.rsplit(":", 1)[1]
    # The tunnel reaches the real member, but the bastion calls it by a name its certificate
    # does not carry: that must fail, although the TCP end is 127.0.0.1.
    wrong = f"https://etcd-wrong-name.invalid:{port}"
    node1["client_urls"] = [wrong]
    node1["local_client_url"] = real
    lab["endpoints"] = [wrong, *lab["endpoints"][1:]]
    lab["via"] = "ssh"
    view = read(write_config(tmp_path / "wrong.toml", data))
    by_endpoint = {m.endpoint: m for m in view.members}
    assert not by_endpoint[wrong].reachable
    problem = by_endpoint[wrong].problem
    assert "certificate verify failed" in problem and "etcd-wrong-name.invalid" in problem
    assert sum(m.reachable for m in view.members) == 2


def test_certificates_read_from_a_node_are_private_and_removed(
    tls_lab: LabInfo, tmp_path: Path
) -> None:
    config = config_through_ssh(tls_lab, tmp_path, certs_on_node="node2")
    connection = load_connection(config, "lab")
    before = set(private_base().glob(f"{PREFIX}{os.getpid()}-*"))
    client = open_cluster(connection)
    try:
        view = client.read(metrics=False)
        assert view.healthy, [m.problem for m in view.members]
        made = set(private_base().glob(f"{PREFIX}{os.getpid()}-*")) - before
        assert len(made) == 1
        folder = made.pop()
        assert folder.stat().st_mode & 0o777 == 0o700
        files = sorted(p.name for p in folder.iterdir())
        assert files == ["ca.crt", "client.crt", "client.key"]
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())
    finally:
        client.close()
    assert not folder.exists()


def test_certificate_copies_go_when_the_process_exits_or_is_terminated(
    tls_lab: LabInfo, tmp_path: Path
) -> None:
    config = config_through_ssh(tls_lab, tmp_path, certs_on_node="node1")
    before = set(private_base().glob(f"{PREFIX}*"))
    status = subprocess.run([*ETCDTUI, "status", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr
    assert set(private_base().glob(f"{PREFIX}*")) <= before
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from etcdtui.config import load_connection\n"
        "from etcdtui.clients.via_ssh import open_cluster\n"
        f"client = open_cluster(load_connection(Path({str(config)!r}), 'lab'))\n"
        "assert client.read(metrics=False).healthy\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        mine = list(private_base().glob(f"{PREFIX}{proc.pid}-*"))
        assert len(mine) == 1 and (mine[0] / "client.key").exists()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM
    assert not mine[0].exists()


def test_a_node_refusing_forwarding_is_read_with_etcdctl_on_the_node(
    tls_lab: LabInfo, tmp_path: Path
) -> None:
    config = config_through_ssh(tls_lab, tmp_path)
    data = tomllib.loads(config.read_text())
    node3 = data["clusters"]["lab"]["nodes"]["node3"]
    sshd = start_sshd(tmp_path / "sshd", free_port(), tls_lab.dir / "ssh" / "authorized_keys",
                      forwarding=False)  # fmt: skip
    try:
        known = tmp_path / "known_hosts"
        known.write_text(Path(node3["ssh"]["known_hosts"]).read_text() + sshd.known_hosts_line)
        node3["ssh"] |= {"port": sshd.port, "known_hosts": str(known)}
        view = read(write_config(tmp_path / "nofwd.toml", data))
    finally:
        stop_pid(sshd.pid)
    assert view.healthy, [m.problem for m in view.members]
    assert any("node3" in note and "etcdctl" in note for note in view.notes), view.notes
    by_name = {m.name: m for m in view.members}
    assert by_name["node3"].status is not None and by_name["node3"].status.version
    assert by_name["node3"].endpoint == node3["client_urls"][0]


def test_via_ssh_without_nodes_is_a_usage_error(plain_lab: LabInfo) -> None:
    result = subprocess.run(
        [*ETCDTUI, "status", "--endpoints", plain_lab.endpoints[0], "--via-ssh"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--via-ssh needs a config" in result.stderr


def test_endpoint_without_a_node_is_refused_in_the_config(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    data = lab_config(plain_lab)
    data["clusters"]["lab"]["via"] = "ssh"
    data["clusters"]["lab"]["endpoints"].append("http://127.0.0.1:1")
    config = write_config(tmp_path / "bad.toml", data)
    result = subprocess.run([*ETCDTUI, "status", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert "http://127.0.0.1:1 is in no node's client_urls" in result.stderr


@pytest.mark.parametrize("key", ["certs_on_node", "tunnel_via"])
def test_unknown_node_names_are_config_errors(plain_lab: LabInfo, tmp_path: Path, key: str) -> None:
    data = lab_config(plain_lab)
    if key == "certs_on_node":
        data["clusters"]["lab"] |= {"certs_on_node": "nodeX", "cacert": "/x", "cert": "/y",
                                    "key": "/z"}  # fmt: skip
    else:
        data["clusters"]["lab"]["nodes"]["node1"]["tunnel_via"] = "nodeX"
    config = write_config(tmp_path / "bad.toml", data)
    result = subprocess.run([*ETCDTUI, "status", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert "nodeX" in result.stderr and key in result.stderr


def test_one_ssh_connection_per_node_across_refreshes(plain_lab: LabInfo, tmp_path: Path) -> None:
    client = open_cluster(load_connection(config_through_ssh(plain_lab, tmp_path), "lab"))
    try:
        client.read()
        routes = client.routes
        assert routes is not None
        shells = routes.shells  # type: ignore[attr-defined]
        transports = {name: shells.shell(name).transport for name in ("node1", "node2", "node3")}
        started = time.perf_counter()
        for _ in range(3):
            assert client.read().healthy
        assert time.perf_counter() - started < 30
        assert all(shells.shell(n).transport is t for n, t in transports.items())
    finally:
        client.close()


def test_tunnel_via_opens_the_channel_on_the_named_node(plain_lab: LabInfo, tmp_path: Path) -> None:
    config = config_through_ssh(plain_lab, tmp_path)
    data = tomllib.loads(config.read_text())
    nodes = data["clusters"]["lab"]["nodes"]
    nodes["node2"]["tunnel_via"] = "node1"
    nodes["node2"]["ssh"]["port"] = free_port()  # node2's own sshd is never used
    client = open_cluster(load_connection(write_config(tmp_path / "jump.toml", data), "lab"))
    try:
        view = client.read(metrics=False)
        assert view.healthy, [m.problem for m in view.members]
        shells = client.routes.shells  # type: ignore[union-attr]
        assert sorted(shells.connected()) == ["node1", "node3"]
    finally:
        client.close()
