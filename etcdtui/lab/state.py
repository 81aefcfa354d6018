"""What a lab is made of: LabNode/LabInfo, the state file (lab.json) and the etcdtui.toml it writes.

The state file is the lab's marker: lab down and a second lab up only act on a folder whose
lab.json says etcdtui made it. Node paths are derived from the folder lab down is given, never
read back from the file, so a copied lab folder cannot make lab down touch the original's
processes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etcdtui.config import dump_toml
from etcdtui.errors import LabError
from etcdtui.lab.binaries import etcd_binaries, image_binary
from etcdtui.lab.errors import LabUsageError
from etcdtui.lab.kubeadm import IMAGES as KUBEADM_IMAGES
from etcdtui.lab.netns import LabNetwork, network_of
from etcdtui.lab.ports import LOOPBACK
from etcdtui.lab.rke2 import DATA_DIR as RKE2_DATA_DIR
from etcdtui.lab.rke2 import profile_vars as rke2_profile_vars
from etcdtui.lab.service import ENV_FILE, LOG_FILE, PID_FILE, etcd_pid

STATE_FILE = "lab.json"
CONFIG_FILE = "etcdtui.toml"
MARKER = "etcdtui lab"
FORMAT = 1
CLUSTER = "lab"
# Inside a netns lab every node has an address of its own, so the ports are etcd's and SSH's.
NETNS_PORTS = {"ssh": 22, "client": 2379, "peer": 2380}
# Everything lab up makes inside the folder; lab down removes exactly these (or the folder).
MADE = (STATE_FILE, CONFIG_FILE, "nodes", "ssh", "pki")


@dataclass(frozen=True)
class LabNode:
    """A lab node: an sshd of its own and, for a member, an etcd member named like the node.

    In a netns lab the node is a network namespace with an address of its own; its member
    advertises `client_url` on that address but listens on `local_client_url` (the
    namespace's 127.0.0.1) only, so the host reaches it through the node's sshd alone.
    """

    name: str
    member: bool  # False for a spare: sshd runs, etcd does not (until a runbook adds it)
    ssh_port: int
    client_url: str  # a spare's planned URLs, for the member a runbook may add there
    peer_url: str
    data_dir: str
    service: str  # the node's etcd-service script (start|stop|restart|is-active|status)
    # Where the client port is reached on the node itself; equal to client_url outside netns.
    local_client_url: str = ""
    address: str = LOOPBACK  # where its sshd listens (and, in a netns lab, its peer port)
    netns: str | None = None  # its network namespace (netns labs only)

    @property
    def node_dir(self) -> Path:
        return Path(self.service).parent

    @property
    def env_file(self) -> str:
        """The member's ETCD_* flags; a runbook writes it on a spare before `start`."""
        return str(self.node_dir / ENV_FILE)

    @property
    def log_file(self) -> str:
        return str(self.node_dir / LOG_FILE)

    @property
    def pid_file(self) -> str:
        return str(self.node_dir / PID_FILE)


@dataclass(frozen=True)
class LabInfo:
    """A lab as lab up made it (or load_lab re-read it)."""

    dir: Path
    config_path: Path
    cluster: str
    etcd_version: str
    tls: bool
    nodes: tuple[LabNode, ...]
    endpoints: tuple[str, ...]
    etcdctl: str
    etcdutl: str | None
    etcd: str = ""
    token: str = ""  # the initial cluster token a member added later must use
    quota_bytes: int | None = None
    cacert: str | None = None  # the client side of TLS: what etcdctl and etcdtui present
    cert: str | None = None
    key: str | None = None
    # The bridge and subnet of a netns lab (None: every node on the host's loopback).
    network: LabNetwork | None = None
    # Nodes laid out like kubeadm's (lab up --kubeadm-layout): static pods run by a kubelet.
    kubeadm: bool = False
    # Nodes laid out like RKE2 servers (lab up --rke2-layout): static pods too, etcd's
    # settings in a config file, everything under the node's own /var/lib/rancher.
    rke2: bool = False

    @property
    def static_pods(self) -> bool:
        """True when a kubelet per node runs etcd from a static-pod manifest."""
        return self.kubeadm or self.rke2

    @property
    def netns(self) -> bool:
        """True for a lab whose nodes live in network namespaces (reached only over SSH)."""
        return self.network is not None

    def members(self) -> tuple[LabNode, ...]:
        """The nodes that were etcd members when the lab came up."""
        return tuple(node for node in self.nodes if node.member)

    def node(self, name: str) -> LabNode:
        """The node called `name` (LabError if there is none)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise LabError(f"no node named {name!r} in the lab in {self.dir}")

    def etcdctl_env(self) -> dict[str, str]:
        """ETCDCTL_* variables that point etcdctl (and etcdtui) at this lab.

        In a netns lab the endpoints are the advertised URLs, which answer only inside the
        lab's network (e.g. under ``ip netns exec``), not on the host.
        """
        env = {"ETCDCTL_API": "3", "ETCDCTL_ENDPOINTS": ",".join(self.endpoints)}
        if self.tls and self.cacert and self.cert and self.key:
            env |= {
                "ETCDCTL_CACERT": self.cacert,
                "ETCDCTL_CERT": self.cert,
                "ETCDCTL_KEY": self.key,
            }
        return env

    def pid(self, node_name: str) -> int | None:
        """The pid of that node's etcd, from its pid file; None if it does not run."""
        return etcd_pid(self.node(node_name).node_dir)

    def node_tls(self, node_name: str) -> dict[str, str] | None:
        """The node's cert, key, peer_cert, peer_key and ca files (None without TLS)."""
        if not self.tls:
            return None
        pki = self.dir / "pki"
        return {
            "cert": str(pki / f"{node_name}-server.crt"),
            "key": str(pki / f"{node_name}-server.key"),
            "peer_cert": str(pki / f"{node_name}-peer.crt"),
            "peer_key": str(pki / f"{node_name}-peer.key"),
            "ca": str(pki / "ca.crt"),
        }


def node_dir(root: Path, name: str) -> Path:
    return root / "nodes" / name


def sshd_dir(root: Path, name: str) -> Path:
    return node_dir(root, name) / "sshd"


def write_state(root: Path, state: dict[str, Any]) -> None:
    """Replace lab.json atomically, so lab down never reads half a file."""
    tmp = root / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, root / STATE_FILE)


def read_state(root: Path) -> dict[str, Any]:
    """The lab's state; LabUsageError when the folder holds no lab etcdtui made."""
    path = root / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabUsageError(
            f"no lab in {root}: start one with etcdtui lab up --dir {root}"
        ) from None
    except (OSError, ValueError):
        state = None
    if not isinstance(state, dict) or state.get("made_by") != MARKER:
        raise LabUsageError(f"{path} was not written by etcdtui lab up: not touching {root}")
    return state


def loopback_nodes(
    names: list[str], members: int, scheme: str, ports: list[int]
) -> list[dict[str, Any]]:
    """lab.json's nodes of an ordinary lab: every node on loopback, three ports each."""
    nodes = []
    for i, name in enumerate(names):
        client_url = f"{scheme}://{LOOPBACK}:{ports[3 * i + 1]}"
        nodes.append(
            {
                "name": name,
                "member": i < members,
                "spare": i >= members,  # sshd only; etcd runs there once a runbook adds it
                "ssh_port": ports[3 * i],
                "client_url": client_url,
                "peer_url": f"{scheme}://{LOOPBACK}:{ports[3 * i + 2]}",
                "local_client_url": client_url,
                "address": LOOPBACK,
                "netns": None,
                "sshd_pid": None,
                "etcd_pid": None,  # also in nodes/NAME/etcd.pid, which a later start rewrites
            }
        )
    return nodes


def netns_nodes(
    names: list[str], members: int, scheme: str, network: dict[str, Any]
) -> list[dict[str, Any]]:
    """lab.json's nodes of a netns lab: each in its namespace, at its address."""
    nodes = []
    for i, name in enumerate(names):
        planned = network["nodes"][name]
        address = planned["address"]
        nodes.append(
            {
                "name": name,
                "member": i < members,
                "spare": i >= members,
                "ssh_port": NETNS_PORTS["ssh"],
                # Advertised (what member list shows); nothing listens there for clients.
                "client_url": f"{scheme}://{address}:{NETNS_PORTS['client']}",
                "peer_url": f"{scheme}://{address}:{NETNS_PORTS['peer']}",
                # Where the member listens: the namespace's loopback, as kubeadm's etcd does.
                "local_client_url": f"{scheme}://{LOOPBACK}:{NETNS_PORTS['client']}",
                "address": address,
                "netns": planned["netns"],
                "sshd_pid": None,
                "etcd_pid": None,
            }
        )
    return nodes


def info_from_state(root: Path, state: dict[str, Any]) -> LabInfo:
    """A LabInfo for the lab in `root` as lab.json describes it."""
    rke2 = "rke2" in state
    nodes = tuple(
        LabNode(
            name=n["name"],
            member=bool(n["member"]),
            ssh_port=int(n["ssh_port"]),
            client_url=n["client_url"],
            peer_url=n["peer_url"],
            # An RKE2 node's data dir is at RKE2's path in the node's own /var/lib/rancher.
            data_dir=RKE2_DATA_DIR if rke2 else str(node_dir(root, n["name"]) / "data"),
            service=str(node_dir(root, n["name"]) / "etcd-service"),
            local_client_url=n.get("local_client_url") or n["client_url"],
            address=n.get("address") or LOOPBACK,
            netns=n.get("netns"),
        )
        for n in state["nodes"]
    )
    tls = bool(state["tls"])
    pki = root / "pki"
    return LabInfo(
        dir=root,
        config_path=root / CONFIG_FILE,
        cluster=CLUSTER,
        etcd_version=state["etcd_version"],
        tls=tls,
        nodes=nodes,
        endpoints=tuple(n.client_url for n in nodes if n.member),
        etcdctl=state["etcdctl"],
        etcdutl=state["etcdutl"],
        etcd=state["etcd"],
        token=state["token"],
        quota_bytes=state["quota_bytes"],
        cacert=str(pki / "ca.crt") if tls else None,
        cert=str(pki / "client.crt") if tls else None,
        key=str(pki / "client.key") if tls else None,
        network=network_of(state.get("network")),
        kubeadm="kubeadm" in state,
        rke2=rke2,
    )


def _ssh_table(info: LabInfo, node: LabNode, user: str) -> dict[str, Any]:
    ssh_dir = info.dir / "ssh"
    return {
        "host": node.address,
        "port": node.ssh_port,
        "user": user,
        "identity_file": str(ssh_dir / "id_ed25519"),
        "known_hosts": str(ssh_dir / "known_hosts"),
        "host_key_policy": "strict",
    }


def _static_pod_node(info: LabInfo, node: LabNode, user: str) -> dict[str, Any]:
    """A kubeadm- or RKE2-layout node: the static-pod profile with the layout's paths (its
    defaults for kubeadm), as on a real control-plane node, and etcd listening on the node's
    address (reached directly)."""
    variables = {"etcdctl": info.etcdctl, "etcd": info.etcd}
    if info.etcdutl:
        variables["etcdutl"] = info.etcdutl
    if info.rke2:
        variables |= rke2_profile_vars()
    # A 3.4 kubeadm lab names 3.5's image (its kubelet has the binary for it), so that
    # `etcdtui upgrade --to 3.5` runs on it as written.
    if info.kubeadm and info.etcd_version == "3.4":
        with contextlib.suppress(LabError):
            image_binary(KUBEADM_IMAGES["3.5"])
            variables["upgrade_image"] = KUBEADM_IMAGES["3.5"]
    return {
        "member": node.name if node.member else None,
        "profile": "static-pod",
        "data_dir": node.data_dir,
        "peer_urls": [node.peer_url],
        "client_urls": [node.client_url],
        "local_client_url": node.local_client_url,
        "sudo": False,
        "apiserver": node.member,
        "vars": variables,
        "ssh": _ssh_table(info, node, user),
    }


def config_text(info: LabInfo, timeout: float = 2.0) -> str:
    """The etcdtui.toml for the lab: cluster "lab", a node per member and spare.

    A netns lab's cluster is reached `via = "ssh"`: each node's sshd on its address, port 22,
    and `local_client_url` says where the member answers on the node itself.
    """
    user = getpass.getuser()
    nodes: dict[str, Any] = {}
    for node in info.nodes:
        if info.static_pods:
            nodes[node.name] = _static_pod_node(info, node, user)
            continue
        # etcdctl (and etcdutl, etcd): the node-side runbook steps use the lab's own binaries
        # of the right version (a restore asks them their version and restores with them).
        variables = {"service": node.service, "env_file": node.env_file, "etcdctl": info.etcdctl}
        if info.etcdutl:
            variables["etcdutl"] = info.etcdutl
        if info.etcd:
            variables["etcd"] = info.etcd
            # A 3.4 lab names the 3.5 binary: `etcdtui upgrade --to 3.5` runs on it as written.
            if info.etcd_version == "3.4":
                with contextlib.suppress(LabError):
                    variables["upgrade_etcd"] = etcd_binaries("3.5")[0]
        tls = info.node_tls(node.name)
        if tls:
            variables |= {f"{k}_file": v for k, v in tls.items()}
        nodes[node.name] = {
            # A spare has no member yet; runbooks see that from the member list and lab.json.
            "member": node.name if node.member else None,
            "profile": "lab",
            "data_dir": node.data_dir,
            "peer_urls": [node.peer_url],
            "client_urls": [node.client_url],
            # Written for netns labs only (elsewhere it equals the client URL).
            "local_client_url": node.local_client_url if info.netns else None,
            "sudo": False,
            "vars": variables,
            "ssh": _ssh_table(info, node, user),
        }
    cluster: dict[str, Any] = {"endpoints": list(info.endpoints)}
    if info.netns and not info.static_pods:
        cluster["via"] = "ssh"  # the advertised URLs answer only inside the lab's network
    if info.tls:
        cluster |= {"cacert": info.cacert, "cert": info.cert, "key": info.key}
    cluster |= {"timeout": timeout, "nodes": nodes}
    header = (
        f"# Written by `etcdtui lab up --dir {info.dir}`; removed by `etcdtui lab down`.\n"
        f"# etcd {info.etcd_version}, {len(info.members())} members"
        f"{', TLS' if info.tls else ''}"
        f"{f', a network namespace per node on {info.network.subnet}' if info.network else ''}"
        f"{', kubeadm layout (static pods)' if info.kubeadm else ''}"
        f"{', RKE2 layout (static pods)' if info.rke2 else ''}"
        f". Use: etcdtui --config {info.config_path} --cluster lab\n\n"
    )
    return header + dump_toml({"clusters": {CLUSTER: cluster}})
