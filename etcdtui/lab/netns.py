"""The network of a `lab up --netns` lab: a namespace per node on a bridge of the lab's own.

Each node gets a network namespace with `lo` and an `eth0` (one end of a veth pair whose host
end is enslaved to the lab's bridge) holding the node's address, .11, .12, ... of a private /24
nobody on the host uses yet; the bridge holds .1. etcd's client port listens on the namespace's
127.0.0.1 only, as kubeadm's does, so the host reaches it only through the node's sshd.

Names carry a random lab id, so labs side by side never collide: namespaces
``etcdtui-ID-NODE``, the bridge ``etl-ID`` and the host veth ends ``etl-ID-N`` (interface names
have at most 15 characters). Everything is recorded in lab.json before it is made, and removal
only touches names of exactly that shape.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import re
import secrets
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etcdtui.errors import LabError
from etcdtui.lab.procs import process_alive, stop_processes

# Where lab subnets are taken from: 10.213.1.0/24 ... 10.213.254.0/24.
POOL = ipaddress.IPv4Network("10.213.0.0/16")
FIRST_HOST = 11  # node addresses: .11, .12, ...
NETNS_DIR = Path("/run/netns")
# Held while a lab picks its subnet and puts the bridge's address on it, so two labs starting
# at once never pick the same /24.
LOCK_FILE = Path("/run/etcdtui-lab-netns.lock")
IP_TIMEOUT = 20.0
CLONE_NEWNET = 0x40000000
NAMESPACE = re.compile(r"etcdtui-[0-9a-f]{6}-[a-z]+[0-9]+")
LINK = re.compile(r"etl-[0-9a-f]{6}(-[0-9]{1,2})?")


@dataclass(frozen=True)
class LabNetwork:
    """A netns lab's bridge and subnet; the per-node parts live on each LabNode."""

    lab_id: str
    subnet: str  # "10.213.7.0/24"
    bridge: str  # "etl-1a2b3c", holding the subnet's .1
    gateway: str  # the bridge's address: where the host's connections to the nodes come from


def netns_prefix(netns: str | None) -> list[str]:
    """The argv prefix that runs a command inside `netns` (empty for the host's own)."""
    return ["ip", "netns", "exec", netns] if netns else []


@contextlib.contextmanager
def subnet_lock() -> Iterator[None]:
    """Serialise subnet choice between labs starting at the same time (any process)."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _ip(*args: str, stdin: str | None = None) -> str:
    try:
        proc = subprocess.run(
            ["ip", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=IP_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise LabError("the ip command is missing: apt-get install iproute2") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"ip {' '.join(args)} did not finish within {IP_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.split())[:300]
        raise LabError(f"ip {' '.join(args)} failed: {detail}")
    return proc.stdout


def _used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host has an address in or a route to (the default route aside)."""
    used: list[ipaddress.IPv4Network] = []
    for line in _ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        if "inet" in fields:
            used.append(ipaddress.IPv4Interface(fields[fields.index("inet") + 1]).network)
    route_types = {"unicast", "local", "broadcast", "multicast", "blackhole", "unreachable",
                   "prohibit", "throw", "nat", "anycast"}  # fmt: skip
    for line in _ip("-4", "route", "show").splitlines():
        fields = line.split()
        if fields and fields[0] in route_types:
            fields = fields[1:]
        if not fields or fields[0] == "default":
            continue
        with contextlib.suppress(ValueError):
            used.append(ipaddress.IPv4Network(fields[0], strict=False))
    return used


def pick_subnet() -> ipaddress.IPv4Network:
    """A /24 of POOL that overlaps no address or route of the host (call under subnet_lock)."""
    used = _used_networks()
    free = [
        net
        for net in POOL.subnets(new_prefix=24)
        if net.network_address.packed[2] not in (0, 255) and not any(net.overlaps(u) for u in used)
    ]
    if not free:
        raise LabError(f"no free /24 left in {POOL} for the lab's network: run lab down on some")
    # The first free one: the first lab's nodes are always 10.213.1.11, .12, ...
    return free[0]


def plan_network(root: Path, names: list[str]) -> dict[str, Any]:
    """The lab.json "network" section for nodes `names` (picks the subnet: hold subnet_lock)."""
    lab_id = secrets.token_hex(3)
    subnet = pick_subnet()
    hosts = [str(subnet.network_address + FIRST_HOST + i) for i in range(len(names))]
    bridge = f"etl-{lab_id}"
    return {
        # lab down removes these only for the folder they were made for, never for a copy.
        "dir": str(root),
        "lab_id": lab_id,
        "subnet": str(subnet),
        "bridge": bridge,
        "gateway": str(subnet.network_address + 1),
        "nodes": {
            name: {"netns": f"etcdtui-{lab_id}-{name}", "address": host, "veth": f"{bridge}-{i}"}
            for i, (name, host) in enumerate(zip(names, hosts, strict=True), start=1)
        },
    }


def network_of(section: dict[str, Any] | None) -> LabNetwork | None:
    """The LabNetwork a lab.json "network" section describes (None for an ordinary lab)."""
    if not section:
        return None
    return LabNetwork(
        lab_id=str(section["lab_id"]),
        subnet=str(section["subnet"]),
        bridge=str(section["bridge"]),
        gateway=str(section["gateway"]),
    )


def create_network(section: dict[str, Any]) -> None:
    """Make the bridge, a namespace per node and its veth pair, as `section` plans them."""
    prefix = ipaddress.IPv4Network(section["subnet"]).prefixlen
    bridge = section["bridge"]
    host = [
        f"link add {bridge} type bridge",
        f"addr add {section['gateway']}/{prefix} dev {bridge}",
        f"link set {bridge} up",
    ]
    for node in section["nodes"].values():
        host += [
            f"netns add {node['netns']}",
            # The far end is made inside the namespace, already called eth0.
            f"link add {node['veth']} type veth peer name eth0 netns {node['netns']}",
            f"link set {node['veth']} master {bridge} up",
        ]
    # One ip process for the host side and one per namespace: a few ms in all.
    _ip("-batch", "-", stdin="\n".join(host) + "\n")
    inside = [
        subprocess.Popen(
            ["ip", "-n", node["netns"], "-batch", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in section["nodes"].values()
    ]
    failures = []
    for (name, node), proc in zip(section["nodes"].items(), inside, strict=True):
        lines = f"link set lo up\naddr add {node['address']}/{prefix} dev eth0\nlink set eth0 up\n"
        _, err = proc.communicate(lines, timeout=IP_TIMEOUT)
        if proc.returncode != 0:
            failures.append(f"{name}: {' '.join(err.split())[:200]}")
    if failures:
        raise LabError("could not set up the network namespace of " + "; ".join(failures))


def _existing_links() -> set[str]:
    names = set()
    for line in _ip("-o", "link", "show").splitlines():
        fields = line.split(":", 2)
        if len(fields) >= 2:
            names.add(fields[1].strip().split("@", 1)[0])
    return names


def _existing_namespaces() -> set[str]:
    return {line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()}


def pids_in_netns(netns: list[str]) -> list[int]:
    """Live processes whose network namespace is one of `netns` (by nsfs inode)."""
    wanted = set()
    for name in netns:
        with contextlib.suppress(OSError):
            st = os.stat(NETNS_DIR / name)
            wanted.add((st.st_dev, st.st_ino))
    if not wanted:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(entry / "ns" / "net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in wanted:
            found.append(int(entry.name))
    return found


def remove_network(root: Path, state: dict[str, Any]) -> list[str]:
    """Remove the namespaces and links lab.json records (call once the lab's processes stopped).

    Only names of the shape lab up makes are touched, and only for the folder they were made
    for; what is already gone (a lab up that failed half-way) is skipped.
    """
    section = state.get("network")
    if not isinstance(section, dict):
        return []
    if section.get("dir") != str(root):
        return [f"left the lab's network namespaces alone: they belong to {section.get('dir')}"]
    nodes = section.get("nodes") or {}
    netns = [str(n["netns"]) for n in nodes.values() if NAMESPACE.fullmatch(str(n["netns"]))]
    veths = [str(n["veth"]) for n in nodes.values() if LINK.fullmatch(str(n["veth"]))]
    bridge = str(section.get("bridge", ""))
    netns = sorted(set(netns) & _existing_namespaces())
    # An SSH session's leftovers, or etcd started by hand inside a namespace: nothing but the
    # lab runs there, and a namespace outlives `ip netns del` while a process holds it.
    stray = [pid for pid in pids_in_netns(netns) if process_alive(pid)]
    stop_processes(stray, timeout=3.0)
    links = _existing_links()
    veths = [v for v in veths if v in links]
    commands = [f"link del {v}" for v in veths]  # takes the eth0 inside with it
    commands += [f"netns del {n}" for n in netns]
    bridges = [bridge] if LINK.fullmatch(bridge) and bridge in links else []
    commands += [f"link del {b}" for b in bridges]
    if not commands:
        return []
    _ip("-force", "-batch", "-", stdin="\n".join(commands) + "\n")
    lines = []
    if stray:
        lines.append(f"ended {len(stray)} other process(es) in the lab's namespaces")
    if netns:
        lines.append(f"removed network namespaces {', '.join(netns)}")
    removed = veths + bridges
    if removed:
        lines.append(f"removed links {', '.join(removed)} ({section.get('subnet')})")
    return lines


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def socket_in(netns: str) -> socket.socket:
    """A TCP socket that lives in `netns`: it connects to that namespace's addresses.

    Only this thread enters the namespace, only to create the socket (a socket keeps the
    namespace it was made in), and returns at once: no `ip netns exec` process per probe.
    """
    with open(NETNS_DIR / netns, "rb") as target, open("/proc/thread-self/ns/net", "rb") as home:
        _setns(target.fileno())
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _setns(home.fileno())


__all__ = [
    "LabNetwork",
    "create_network",
    "netns_prefix",
    "network_of",
    "pids_in_netns",
    "plan_network",
    "remove_network",
    "socket_in",
    "subnet_lock",
]
