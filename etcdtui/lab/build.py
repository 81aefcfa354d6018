"""Building a lab's nodes once lab.json names them: pki, sshd, services or static pods, etcd.

`lab up` (lab.py) decides the shape and records it; `build` lays every node out, starts its
sshd, then etcd (a service script per member, or a kubelet per kubeadm or RKE2 node), and
waits until every member reports healthy. A failure raises; lab up then stops whatever was
started.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from etcdtui.errors import LabError
from etcdtui.lab import rke2
from etcdtui.lab.certs import make_pki
from etcdtui.lab.kubeadm import (
    apiserver_manifest,
    check_node_view,
    etcd_manifest,
    start_kubelet,
    write_manifest,
    write_node_pki,
)
from etcdtui.lab.netns import netns_prefix
from etcdtui.lab.probe import member_healthy, ssl_context
from etcdtui.lab.service import etcd_pid, member_env, write_member_env, write_service
from etcdtui.lab.sshd import generate_keypair, start_sshd
from etcdtui.lab.state import (
    LabInfo,
    LabNode,
    config_text,
    info_from_state,
    node_dir,
    sshd_dir,
    write_state,
)

HEALTH_TIMEOUT = 30.0

Progress = Callable[[str], None]


def build(root: Path, state: dict[str, Any], say: Progress) -> LabInfo:
    """Lay out and start every node of the lab lab.json describes; its LabInfo once healthy."""
    info = info_from_state(root, state)
    names = [node.name for node in info.nodes]
    for node in info.nodes:
        node.node_dir.mkdir(mode=0o700, parents=True)
    if info.tls:
        say("making a CA, server, peer and client certificates")
        addresses = {n.name: n.address for n in info.nodes} if info.netns else None
        make_pki(root / "pki", names, addresses=addresses)
    ssh = root / "ssh"
    ssh.mkdir(mode=0o700)
    authorized = ssh / "authorized_keys"
    authorized.write_text(generate_keypair(ssh / "id_ed25519", f"etcdtui-lab@{root}") + "\n")
    initial = ",".join(f"{n.name}={n.peer_url}" for n in info.members())
    if info.kubeadm:
        _write_kubeadm_nodes(info, initial)
    elif info.rke2:
        _write_rke2_nodes(info, initial)
    else:
        _write_services(info, initial)
    if info.static_pods:  # each node sees its own /etc/kubernetes, never the host's
        for node in info.nodes:
            check_node_view(node.node_dir, str(node.netns))
    _start_sshds(info, state, authorized, say)
    info.config_path.write_text(config_text(info))
    if info.static_pods:
        _start_kubelets(info, state, say)
    else:
        names_text = ", ".join(n.name for n in info.members())
        say(f"starting etcd {info.etcd_version} on {names_text}")
        _start_members(info)
    say(f"waiting for {len(info.members())} members to report healthy")
    _wait_healthy(info)
    for raw in state["nodes"]:
        raw["etcd_pid"] = etcd_pid(node_dir(root, raw["name"]))
    write_state(root, state)
    return info


def _start_sshds(info: LabInfo, state: dict[str, Any], authorized: Path, say: Progress) -> None:
    """An sshd per node, each recorded in lab.json as it starts; their keys in known_hosts."""
    known_hosts = []
    for raw, node in zip(state["nodes"], info.nodes, strict=True):
        say(f"starting sshd for {node.name} on {node.address}:{node.ssh_port}")
        sshd = start_sshd(
            sshd_dir(info.dir, node.name),
            node.ssh_port,
            authorized,
            host=node.address,
            netns=node.netns,
        )
        raw["sshd_pid"] = sshd.pid
        write_state(info.dir, state)
        known_hosts.append(sshd.known_hosts_line)
    (info.dir / "ssh" / "known_hosts").write_text("\n".join(known_hosts) + "\n")


def _write_services(info: LabInfo, initial: str) -> None:
    """The service script on every node and the founding members' etcd.env."""
    for node in info.nodes:
        write_service(node.node_dir, node.name, info.etcd, netns=node.netns)
        if node.member:
            env = member_env(
                node.name,
                node.data_dir,
                node.client_url,
                node.peer_url,
                initial_cluster=initial,
                cluster_state="new",
                token=info.token,
                tls=info.node_tls(node.name),
                quota_bytes=info.quota_bytes,
                local_client_url=node.local_client_url if info.netns else None,
            )
            write_member_env(node.node_dir, env)


def _write_kubeadm_nodes(info: LabInfo, initial_cluster: str) -> None:
    """kubeadm's pki on every node, and etcd and kube-apiserver manifests on the members."""
    servers = list(info.endpoints)  # the seed's --etcd-servers=IP1:2379,IP2:2379,...
    for node in info.nodes:
        write_node_pki(info.dir / "pki", node.node_dir, node.name)
        if not node.member:
            continue  # a spare: a kubeadm node that has joined but runs no etcd yet
        etcd = etcd_manifest(
            node.name,
            node.address,
            node.data_dir,
            initial_cluster,
            info.token,
            info.etcd_version,
            info.quota_bytes,
        )
        write_manifest(node.node_dir, "etcd.yaml", etcd)
        apiserver = apiserver_manifest(node.address, servers)
        write_manifest(node.node_dir, "kube-apiserver.yaml", apiserver)


def _write_rke2_nodes(info: LabInfo, initial_cluster: str) -> None:
    """RKE2's certificates on every node; its etcd config file and the etcd and
    kube-apiserver manifests on the members."""
    for node in info.nodes:
        rke2.write_node_pki(info.dir / "pki", node.node_dir, node.name)
        if node.member:
            config = rke2.etcd_config(
                node.name, node.address, initial_cluster, info.token, info.quota_bytes
            )
            rke2.write_member(node.node_dir, config, info.etcd_version, node.address)


def _start_kubelets(info: LabInfo, state: dict[str, Any], say: Progress) -> None:
    """A kubelet per node, each recorded in lab.json as it starts. An RKE2 node's runs in
    its sshd's mount namespace, where the node's tree is mounted over /var/lib/rancher."""
    if info.rke2:
        say("mounting each node's own /var/lib/rancher where its sshd runs")
    say("starting a kubelet per node: it runs the etcd and kube-apiserver static pods")
    for raw, node in zip(state["nodes"], info.nodes, strict=True):
        if info.rke2:
            rke2.mount_node_view(raw["sshd_pid"], node.node_dir, str(node.netns))
            raw["kubelet_pid"] = rke2.start_kubelet(node.node_dir, raw["sshd_pid"])
        else:
            raw["kubelet_pid"] = start_kubelet(node.node_dir, str(node.netns))
        write_state(info.dir, state)


def _start_members(info: LabInfo) -> None:
    """Run every member's service script at once, as a person would run systemctl start."""
    members = info.members()
    procs = [
        subprocess.Popen(
            # The script never enters a namespace itself: over SSH it already runs inside.
            [*netns_prefix(node.netns), node.service, "start"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in members
    ]
    failures = []
    for node, proc in zip(members, procs, strict=True):
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures.append(f"{node.name}: its service script did not finish within 20 s")
            continue
        if proc.returncode != 0:
            # The script's first line says what went wrong; the log says why etcd exited.
            first = next((line.strip() for line in err.splitlines() if line.strip()), "")
            why = _log_tail(node.log_file) if "exited" in first else first
            failures.append(f"{node.name}: {why}")
    if failures:
        raise LabError("etcd did not start on " + "; ".join(failures))


def _wait_healthy(info: LabInfo) -> None:
    context = ssl_context(info.cacert, info.cert, info.key)
    waiting = list(info.members())
    deadline = time.monotonic() + HEALTH_TIMEOUT

    def healthy(node: LabNode) -> bool:
        return member_healthy(node.local_client_url, context, netns=node.netns)

    # Asked in parallel: until a leader is elected /health hangs for its whole timeout, and one
    # member after another that cost up to a second each (5 s for 5 members) per round.
    with ThreadPoolExecutor(max_workers=len(waiting)) as pool:
        while waiting:
            for node in waiting:
                if etcd_pid(node.node_dir) is None:
                    raise LabError(f"etcd on {node.name} exited: {_log_tail(node.log_file)}")
            answers = list(pool.map(healthy, waiting))
            waiting = [node for node, ok in zip(waiting, answers, strict=True) if not ok]
            if not waiting:
                return
            if time.monotonic() > deadline:
                node = waiting[0]
                raise LabError(
                    f"etcd on {node.name} was not healthy within {HEALTH_TIMEOUT:.0f} s: "
                    f"{_log_tail(node.log_file)}"
                )
            time.sleep(0.1)


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _log_tail(path: str) -> str:
    """The last error in an etcd log (zap writes JSON lines), else its last line."""
    try:
        lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line]
    except OSError:
        return f"no log at {path}"
    if not lines:
        return f"{path} is empty"
    for line in reversed(lines[-30:]):
        try:
            entry = json.loads(line)
        except ValueError:
            # etcd 3.4's capnslog lines: "DATE TIME E | pkg: text" (E error, C critical).
            if " E | " in line or " C | " in line:
                return _shorten(f"{line.split(' | ', 1)[1]} (see {path})")
            continue
        if not isinstance(entry, dict):
            continue
        if entry.get("level") in ("error", "fatal", "panic") or entry.get("error"):
            detail = ": ".join(str(entry[k]) for k in ("msg", "error") if entry.get(k))
            return _shorten(f"{detail} (see {path})")
    return _shorten(f"{lines[-1]} (see {path})")
