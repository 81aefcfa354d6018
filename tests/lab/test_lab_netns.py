"""`lab up --netns` against real namespaces, veths, etcd and sshd processes: no mocks.

One 3-member TLS lab (etcd 3.5, with a spare) lives for the module; the tests that break a
lab or take it down start their own. Every test leaves no namespace or link behind.
"""

from __future__ import annotations

import getpass
import http.client
import ipaddress
import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography import x509

from etcdtui.config import load_connection
from etcdtui.errors import LabError
from etcdtui.lab import LabInfo, LabNode, LabUsageError, lab_down, lab_up, netns, process_alive
from etcdtui.lab.probe import member_healthy, ssl_context
from etcdtui.lab.state import config_text

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = [pytest.mark.xdist_group("test_lab_netns"), pytest.mark.slow]

# Needs root, like `lab up --netns` itself: without it these tests fail loudly, not skip.


# --- helpers ----------------------------------------------------------------------------------


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return {line.split(":", 2)[1].strip().split("@")[0] for line in out.stdout.splitlines()}


def _leftovers(lab_id: str) -> list[str]:
    """Namespaces and links of the lab with id `lab_id` that still exist."""
    return sorted(n for n in _namespaces() | _links() if lab_id in n)


def _lab_id(info: LabInfo) -> str:
    assert info.network is not None
    return info.network.lab_id


def _all_pids(info: LabInfo) -> list[int]:
    pids = [pid for node in info.nodes if (pid := info.pid(node.name)) is not None]
    state = json.loads((info.dir / "lab.json").read_text())
    return pids + [n["sshd_pid"] for n in state["nodes"]]


def _in_netns(info: LabInfo, node: LabNode, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the lab's etcdctl (TLS) inside `node`'s namespace against its loopback client URL."""
    assert node.netns and info.cacert and info.cert and info.key
    argv = ["ip", "netns", "exec", node.netns, info.etcdctl, "--endpoints", node.local_client_url,
            "--cacert", info.cacert, "--cert", info.cert, "--key", info.key,
            "--command-timeout=5s", *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _ssh_client(info: LabInfo, node: LabNode) -> paramiko.SSHClient:
    """A paramiko login on the node's own sshd, with the lab's key and known_hosts (strict)."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(info.dir / "ssh" / "known_hosts"))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(node.address, port=22, username=getpass.getuser(), timeout=5,
                   key_filename=str(info.dir / "ssh" / "id_ed25519"),
                   look_for_keys=False, allow_agent=False)  # fmt: skip
    return client


def _ssh_run(info: LabInfo, node: LabNode, command: str) -> tuple[int, str, str]:
    client = _ssh_client(info, node)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=30)
        code = stdout.channel.recv_exit_status()
        return code, stdout.read().decode(), stderr.read().decode()
    finally:
        client.close()


def _pump(recv: Callable[[int], bytes], send: Callable[[bytes], Any]) -> None:
    try:
        while data := recv(65536):
            send(data)
    except OSError:
        pass


def _https_over_ssh_forward(
    info: LabInfo, node: LabNode, path: str, server_hostname: str
) -> tuple[int, bytes]:
    """GET `path` from the node's 127.0.0.1:2379 through an SSH local forward, over TLS
    verified with the lab CA against `server_hostname`."""
    client = _ssh_client(info, node)
    ours, theirs = socket.socketpair()
    try:
        transport = client.get_transport()
        assert transport is not None
        channel = transport.open_channel(
            "direct-tcpip", ("127.0.0.1", 2379), ("127.0.0.1", 0), timeout=5
        )
        # The channel is not a socket ssl can wrap: a socket pair carries the bytes across.
        for recv, send in ((theirs.recv, channel.sendall), (channel.recv, theirs.sendall)):
            threading.Thread(target=_pump, args=(recv, send), daemon=True).start()
        context = ssl.create_default_context(cafile=info.cacert)
        assert info.cert and info.key
        context.load_cert_chain(info.cert, info.key)
        ours.settimeout(5)
        with context.wrap_socket(ours, server_hostname=server_hostname) as tls:
            conn = http.client.HTTPConnection(server_hostname, 2379, timeout=5)
            conn.sock = tls
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
    finally:
        ours.close()
        theirs.close()
        client.close()


def _wait_until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _healthy_inside(info: LabInfo, node: LabNode) -> bool:
    context = ssl_context(info.cacert, info.cert, info.key)
    return member_healthy(node.local_client_url, context, netns=node.netns)


@pytest.fixture(scope="module")
def netns_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    folder = tmp_path_factory.mktemp("netns") / "lab"
    info = lab_up(folder, tls=True, etcd_version="3.5", spares=1, netns=True)
    yield info
    if (info.dir / "lab.json").exists():
        lab_down(info.dir)
    assert not _leftovers(_lab_id(info))


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("euid", "kwargs", "message"),
    [
        (1000, {}, r"^lab up --netns needs root \(it creates network namespaces\)$"),
        (0, {"base_port": 24000}, "^--base-port does not go with --netns"),
    ],
)
def test_netns_refuses_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, euid: int, kwargs: Any, message: str
) -> None:
    # Other tests' labs come and go meanwhile: look only for what this lab would be named.
    monkeypatch.setattr(netns.secrets, "token_hex", lambda n: "refused0"[: 2 * n])
    monkeypatch.setattr(os, "geteuid", lambda: euid)  # not root: the one thing we cannot be
    with pytest.raises(LabUsageError, match=message):
        lab_up(tmp_path / "lab", netns=True, **kwargs)
    assert not (tmp_path / "lab").exists()
    assert not _leftovers("refuse")


def test_an_ordinary_lab_config_stays_direct() -> None:
    node = LabNode("node1", True, 2222, "http://127.0.0.1:2379", "http://127.0.0.1:2380",
                   "/lab/nodes/node1/data", "/lab/nodes/node1/etcd-service")  # fmt: skip
    info = LabInfo(Path("/lab"), Path("/lab/etcdtui.toml"), "lab", "3.5", False, (node,),
                   (node.client_url,), "/bin/etcdctl", None)  # fmt: skip
    text = config_text(info)
    assert "via" not in text and "local_client_url" not in text
    ssh = tomllib.loads(text)["clusters"]["lab"]["nodes"]["node1"]["ssh"]
    assert (ssh["host"], ssh["port"]) == ("127.0.0.1", 2222)


# --- the module's lab -------------------------------------------------------------------------


def test_every_node_has_its_namespace_and_address_on_a_free_subnet(netns_lab: LabInfo) -> None:
    assert netns_lab.network is not None
    subnet = ipaddress.ip_network(netns_lab.network.subnet)
    assert subnet.prefixlen == 24 and subnet.subnet_of(ipaddress.ip_network("10.213.0.0/16"))
    lab_id = _lab_id(netns_lab)
    addresses = [str(subnet.network_address + 11 + i) for i in range(4)]
    assert [n.address for n in netns_lab.nodes] == addresses
    assert {n.netns for n in netns_lab.nodes} <= _namespaces()
    links = {n for n in _links() if lab_id in n}
    assert len(links) == 1 + len(netns_lab.nodes)  # the bridge and a veth per node
    assert all(len(name) <= 15 for name in links)
    for node in netns_lab.nodes:
        assert node.netns and lab_id in node.netns
        inside = subprocess.run(["ip", "-n", node.netns, "-o", "-4", "addr", "show"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert f"inet {node.address}/24" in inside and "inet 127.0.0.1/8" in inside
    state = json.loads((netns_lab.dir / "lab.json").read_text())
    assert state["network"]["subnet"] == str(subnet)
    recorded = {n["netns"] for n in state["network"]["nodes"].values()}
    assert recorded == {n.netns for n in netns_lab.nodes}


def test_members_are_healthy_inside_their_namespaces(netns_lab: LabInfo) -> None:
    for node in netns_lab.members():
        assert node.local_client_url == "https://127.0.0.1:2379"
        assert node.client_url == f"https://{node.address}:2379"
        health = _in_netns(netns_lab, node, "endpoint", "health")
        assert health.returncode == 0 and "is healthy" in health.stdout + health.stderr, health
    status = _in_netns(netns_lab, netns_lab.members()[0], "endpoint", "status", "-w", "json")
    assert json.loads(status.stdout)[0]["Status"]["version"] == "3.5.1"


def test_client_port_cannot_be_reached_from_the_host_or_a_neighbour(netns_lab: LabInfo) -> None:
    for node in netns_lab.members():
        with pytest.raises(OSError):
            socket.create_connection((node.address, 2379), timeout=1).close()
    # Nothing on the node's address either, seen from the next node over the bridge.
    node1, node2 = netns_lab.members()[:2]
    reach = f"import socket; socket.create_connection(({node1.address!r}, 2379), timeout=1)"
    assert node2.netns
    proc = subprocess.run(["ip", "netns", "exec", node2.netns, "python3", "-c", reach],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode != 0 and "ConnectionRefusedError" in proc.stderr
    # The peer port does listen on the address: the members reach each other there.
    socket.create_connection((node1.address, 2380), timeout=1).close()


def test_an_ssh_forward_reaches_health_with_tls_verified_for_the_node_address(
    netns_lab: LabInfo,
) -> None:
    node = netns_lab.node("node2")
    status, body = _https_over_ssh_forward(netns_lab, node, "/health", node.address)
    assert status == 200 and json.loads(body)["health"] == "true"
    # The check is real: a name the cert does not carry is refused.
    with pytest.raises(ssl.SSLCertVerificationError):
        _https_over_ssh_forward(netns_lab, node, "/health", "10.213.255.254")


def test_server_and_peer_certs_name_loopback_the_node_and_its_address(netns_lab: LabInfo) -> None:
    for node in netns_lab.nodes:
        tls = netns_lab.node_tls(node.name)
        assert tls
        for kind in ("cert", "peer_cert"):
            cert = x509.load_pem_x509_certificate(Path(tls[kind]).read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
            assert ips == {"127.0.0.1", node.address}
            assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", node.name}


def test_member_list_over_ssh_shows_advertised_node_addresses(netns_lab: LabInfo) -> None:
    node = netns_lab.node("node1")
    command = " ".join(shlex.quote(a) for a in [
        netns_lab.etcdctl, "--endpoints", node.local_client_url, "--cacert", netns_lab.cacert,
        "--cert", netns_lab.cert, "--key", netns_lab.key, "member", "list", "-w", "json",
    ])  # fmt: skip
    code, out, err = _ssh_run(netns_lab, node, command)
    assert code == 0, err
    members = {m["name"]: m for m in json.loads(out)["members"]}
    assert set(members) == {"node1", "node2", "node3"}
    for member in netns_lab.members():
        assert members[member.name]["clientURLs"] == [member.client_url]
        assert members[member.name]["peerURLs"] == [member.peer_url]


def test_config_reaches_the_cluster_via_ssh_on_each_node_address(netns_lab: LabInfo) -> None:
    cluster = tomllib.loads(netns_lab.config_path.read_text())["clusters"]["lab"]
    assert cluster["via"] == "ssh"
    assert cluster["endpoints"] == [n.client_url for n in netns_lab.members()]
    assert cluster["cacert"] == netns_lab.cacert
    known = (netns_lab.dir / "ssh" / "known_hosts").read_text().splitlines()
    assert sorted(line.split()[0] for line in known) == sorted(n.address for n in netns_lab.nodes)
    for node in netns_lab.nodes:
        table = cluster["nodes"][node.name]
        assert table["ssh"]["host"] == node.address and table["ssh"]["port"] == 22
        assert table["local_client_url"] == "https://127.0.0.1:2379"
        assert table["client_urls"] == [node.client_url]
        assert table["peer_urls"] == [node.peer_url]
        assert table["profile"] == "lab" and table["data_dir"] == node.data_dir
        assert table.get("member", "") == (node.name if node.member else "")
    # And etcdtui reads it as a cluster reached through each node's SSH.
    connection = load_connection(netns_lab.config_path, "lab")
    assert connection.via_ssh
    for node in connection.nodes:
        assert node.client_url_on_node == "https://127.0.0.1:2379"
        assert node.ssh.host == netns_lab.node(node.name).address


def test_the_service_script_starts_etcd_only_inside_its_namespace(netns_lab: LabInfo) -> None:
    node = netns_lab.node("node3")
    code, _, err = _ssh_run(netns_lab, node, f"{node.service} stop")
    assert code == 0, err
    assert netns_lab.pid("node3") is None
    # From the host it would bind the host's loopback: refused, with the way to do it.
    host = subprocess.run([node.service, "start"], capture_output=True, text=True, timeout=30)
    assert host.returncode != 0 and f"network namespace {node.netns}" in host.stderr
    assert netns_lab.pid("node3") is None
    code, _, err = _ssh_run(netns_lab, node, f"{node.service} start")  # as a runbook does
    assert code == 0, err
    assert _wait_until(lambda: _healthy_inside(netns_lab, node))
    spare = netns_lab.node("spare1")
    code, out, _ = _ssh_run(netns_lab, spare, f"{spare.service} is-active")
    assert (code, out.strip()) == (3, "inactive")


def test_lab_down_removes_processes_namespaces_and_links(netns_lab: LabInfo) -> None:
    pids = _all_pids(netns_lab)
    assert len(pids) == 3 + 4 and all(process_alive(pid) for pid in pids)
    lab_id = _lab_id(netns_lab)
    assert len(_leftovers(lab_id)) == 4 + 5
    # lab down in a copy of the folder touches none of the original's namespaces or processes.
    copy = netns_lab.dir.parent / "copy"
    copy.mkdir()
    (copy / "lab.json").write_bytes((netns_lab.dir / "lab.json").read_bytes())
    assert any("left the lab's network namespaces alone" in line for line in lab_down(copy))
    assert len(_leftovers(lab_id)) == 4 + 5 and all(process_alive(pid) for pid in pids)
    began = time.monotonic()
    lines = lab_down(netns_lab.dir)
    took = time.monotonic() - began
    assert took < 20, f"lab down took {took:.1f} s"
    assert any(line.startswith("removed network namespaces") for line in lines)
    assert not [pid for pid in pids if process_alive(pid)]
    assert not _leftovers(lab_id)
    assert not netns_lab.dir.exists()
    with pytest.raises(LabError, match="no lab"):
        lab_down(netns_lab.dir)


# --- labs of their own ------------------------------------------------------------------------


def test_labs_started_at_once_get_their_own_subnets(tmp_path: Path) -> None:
    jobs = [("a", 5, "3.5"), ("b", 3, "3.4")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(lab_up, tmp_path / name, members=members, etcd_version=version,
                               netns=True) for name, members, version in jobs]  # fmt: skip
    infos = []
    try:
        infos = [f.result() for f in futures]
        subnets = {info.network.subnet for info in infos if info.network}
        assert len(subnets) == 2
        for info in infos:
            assert all(_healthy_inside(info, node) for node in info.members())
            assert all(url.startswith("http://") for url in info.endpoints)
        assert len(infos[0].members()) == 5
    finally:
        for future in futures:
            if future.exception() is None:
                lab_down(future.result().dir)
    assert not any(_leftovers(_lab_id(info)) for info in infos)


def test_a_failed_lab_up_removes_the_namespaces_it_made(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    seen: dict[str, Any] = {}

    def fail_at_etcd(line: str) -> None:
        if line.startswith("starting etcd"):
            seen.update(json.loads((folder / "lab.json").read_text())["network"])
            seen["sshds"] = [int(p.read_text()) for p in folder.glob("nodes/*/sshd/sshd.pid")]
            raise RuntimeError("interrupted on purpose")

    with pytest.raises(RuntimeError, match="on purpose"):
        lab_up(folder, spares=1, netns=True, on_progress=fail_at_etcd)
    assert len(seen["sshds"]) == 4 and len(seen["nodes"]) == 4
    assert not [pid for pid in seen["sshds"] if process_alive(pid)]
    assert not _leftovers(seen["lab_id"])
    assert not folder.exists()


def test_a_crashed_lab_is_replaced_with_its_network_removed(tmp_path: Path) -> None:
    first = lab_up(tmp_path / "lab", netns=True)
    for pid in _all_pids(first):
        os.kill(pid, signal.SIGKILL)
    assert _wait_until(lambda: not [p for p in _all_pids(first) if process_alive(p)])
    second = lab_up(tmp_path / "lab", netns=True)
    try:
        assert not _leftovers(_lab_id(first))
        assert all(_healthy_inside(second, node) for node in second.members())
    finally:
        lab_down(second.dir)
    assert not _leftovers(_lab_id(second))
