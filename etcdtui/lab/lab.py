"""Start and stop a real local etcd cluster whose nodes are reachable over real local sshds."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from etcdtui.errors import LabError
from etcdtui.lab.binaries import etcd_binaries
from etcdtui.lab.certs import make_pki
from etcdtui.lab.errors import LabUsageError
from etcdtui.lab.kubeadm import (
    HOST_KUBERNETES,
    apiserver_manifest,
    check_node_view,
    etcd_manifest,
    prepare_host,
    remove_host_links,
    start_kubelet,
    write_manifest,
    write_node_pki,
)
from etcdtui.lab.netns import (
    create_network,
    netns_prefix,
    plan_network,
    remove_network,
    subnet_lock,
)
from etcdtui.lab.ports import fixed_ports, free_ports
from etcdtui.lab.probe import member_healthy, ssl_context
from etcdtui.lab.service import (
    etcd_pid,
    member_env,
    write_member_env,
    write_service,
)
from etcdtui.lab.sshd import generate_keypair, start_sshd
from etcdtui.lab.state import (
    FORMAT,
    MADE,
    MARKER,
    STATE_FILE,
    LabInfo,
    LabNode,
    config_text,
    info_from_state,
    loopback_nodes,
    netns_nodes,
    node_dir,
    read_state,
    sshd_dir,
    write_state,
)
from etcdtui.lab.teardown import lab_pids, remove_lab_files, teardown

MEMBER_COUNTS = (3, 5)
MAX_SPARES = 10
HEALTH_TIMEOUT = 30.0
SAFE_PATH = re.compile(r"[A-Za-z0-9/._+,:@-]+")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def lab_up(
    dir: Path,
    members: int = 3,
    spares: int = 0,
    tls: bool = False,
    etcd_version: str = "3.5",
    quota_bytes: int | None = None,
    on_progress: Progress | None = None,
    base_port: int | None = None,
    netns: bool = False,
    kubeadm_layout: bool = False,
) -> LabInfo:
    """Start a lab in `dir`: `members` etcd members (3 or 5) and `spares` sshd-only nodes.

    Writes dir/etcdtui.toml (cluster "lab") and dir/lab.json, and returns once every member
    reports healthy. Whatever it started is stopped again if it fails or is interrupted.
    Ports are free ones chosen by the kernel, or consecutive from `base_port` (per node: SSH,
    client, peer) so that a lab can be reached at addresses known in advance.

    With `netns` (root only) every node is a network namespace of its own on a lab bridge:
    its etcd listens on the namespace's 127.0.0.1:2379 only and advertises the node's
    address, its sshd listens on the address's port 22, and the config reaches the cluster
    via SSH, like a kubeadm cluster seen from outside.

    `kubeadm_layout` (root only; implies `netns` and `tls`) lays every node out like a kubeadm
    control-plane node instead: its own /etc/kubernetes with kubeadm's pki, etcd and
    kube-apiserver as static pods run by a small kubelet per node (see lab/kubeadm.py), and
    etcd listening on the node's address as well as its loopback.
    """
    say = on_progress or _quiet
    if members not in MEMBER_COUNTS:
        raise LabUsageError(f"a lab has 3 or 5 members, not {members}")
    if not 0 <= spares <= MAX_SPARES:
        raise LabUsageError(f"a lab has 0 to {MAX_SPARES} spares, not {spares}")
    if quota_bytes is not None and quota_bytes <= 0:
        raise LabUsageError(f"the backend quota must be a positive number of bytes: {quota_bytes}")
    if kubeadm_layout and os.geteuid() != 0:
        raise LabUsageError(
            "lab up --kubeadm-layout needs root (each node gets a network namespace "
            "and its own /etc/kubernetes)"
        )
    if kubeadm_layout:
        netns = tls = True
    if netns and os.geteuid() != 0:
        raise LabUsageError("lab up --netns needs root (it creates network namespaces)")
    if netns and base_port is not None:
        raise LabUsageError(
            "--base-port does not go with --netns: every node has its own address, "
            "with SSH on 22 and etcd on 2379 and 2380"
        )
    etcd, etcdctl, etcdutl = etcd_binaries(etcd_version)
    root = dir.expanduser().resolve()
    if not SAFE_PATH.fullmatch(str(root)):
        # The path ends up unquoted in sshd_config and in the config's shell command templates.
        raise LabUsageError(f"the lab folder {str(root)!r} may not hold spaces or shell characters")
    names = [f"node{i}" for i in range(1, members + 1)] + [
        f"spare{i}" for i in range(1, spares + 1)
    ]
    ports: list[int] = []
    if not netns:
        try:
            count = 3 * len(names)  # per node: SSH, client, peer
            ports = free_ports(count) if base_port is None else fixed_ports(base_port, count)
        except ValueError as exc:
            raise LabUsageError(str(exc)) from None  # refused before anything starts
    created = _claim_dir(root, say)
    began = time.monotonic()
    state: dict[str, Any] = {
        "made_by": MARKER,
        "format": FORMAT,
        "created_dir": created,
        "made": list(MADE),
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "etcd_version": etcd_version,
        "etcd": etcd,
        "etcdctl": etcdctl,
        "etcdutl": etcdutl,
        "tls": tls,
        "quota_bytes": quota_bytes,
        # A token per lab, so members of two labs side by side can never join each other.
        "token": f"etcdtui-lab-{secrets.token_hex(4)}",
    }
    if kubeadm_layout:
        state["kubeadm"] = {}
    scheme = "https" if tls else "http"
    with contextlib.ExitStack() as lock:
        if netns:
            # Held until the bridge has its address, so that no other lab picks the same /24.
            lock.enter_context(subnet_lock())
            try:
                state["network"] = plan_network(root, names)
            except BaseException:
                if created:
                    with contextlib.suppress(OSError):
                        root.rmdir()  # nothing is in it yet
                raise
            state["nodes"] = netns_nodes(names, members, scheme, state["network"])
        else:
            state["nodes"] = loopback_nodes(names, members, scheme, ports)
        # Written before anything starts, so lab down can clean up even after a crash mid-way.
        write_state(root, state)
        try:
            if netns:
                say(f"making a network namespace per node on {state['network']['subnet']}")
                create_network(state["network"])
                lock.close()
            if kubeadm_layout:
                state["kubeadm"]["made_host_dir"] = not HOST_KUBERNETES.exists()
                write_state(root, state)
                prepare_host(state)
            info = _build(root, state, say)
        except BaseException:
            say("lab up failed: stopping what it started")
            try:
                teardown(root, state)
            except Exception as exc:  # keep the original failure: it is the one to act on
                say(f"cleaning up after the failure also failed: {exc}")
            raise
    started = info.members()
    listed = ", ".join(n.name for n in started)
    # The one "lab is up" line (the CLI prints only how to use the lab after it).
    say(
        f"lab is up in {time.monotonic() - began:.1f} s: {len(started)} members of etcd "
        f"{etcd_version} ({listed})"
    )
    return info


def _claim_dir(root: Path, say: Progress) -> bool:
    """Make sure `root` may hold a new lab; True if lab up creates the folder itself."""
    if (root / STATE_FILE).exists():
        state = read_state(root)
        if lab_pids(root, state):
            raise LabUsageError(
                f"a lab is already running in {root}: run etcdtui lab down --dir {root}"
            )
        say(f"removing the stopped lab left in {root}")
        remove_network(root, state)
        remove_host_links(state)
        remove_lab_files(root, state)
        created = bool(state.get("created_dir"))
    elif root.exists():
        if not root.is_dir():
            raise LabUsageError(f"{root} is not a directory")
        clashes = [name for name in MADE if (root / name).exists()]
        if clashes:
            raise LabUsageError(
                f"{root} already holds {', '.join(clashes)} (not from a lab): choose another --dir"
            )
        created = False
    else:
        created = True
    root.mkdir(parents=True, exist_ok=True)
    return created


def _build(root: Path, state: dict[str, Any], say: Progress) -> LabInfo:
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
        for node in info.nodes:
            check_node_view(node.node_dir, str(node.netns))
    else:
        _write_services(info, initial)
    known_hosts = []
    for raw, node in zip(state["nodes"], info.nodes, strict=True):
        say(f"starting sshd for {node.name} on {node.address}:{node.ssh_port}")
        sshd = start_sshd(
            sshd_dir(root, node.name),
            node.ssh_port,
            authorized,
            host=node.address,
            netns=node.netns,
        )
        raw["sshd_pid"] = sshd.pid
        write_state(root, state)
        known_hosts.append(sshd.known_hosts_line)
    (ssh / "known_hosts").write_text("\n".join(known_hosts) + "\n")
    info.config_path.write_text(config_text(info))
    if info.kubeadm:
        say("starting a kubelet per node: it runs the etcd and kube-apiserver static pods")
        for raw, node in zip(state["nodes"], info.nodes, strict=True):
            raw["kubelet_pid"] = start_kubelet(node.node_dir, str(node.netns), info.etcd)
            write_state(root, state)
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


def lab_down(dir: Path) -> list[str]:
    """Stop the lab in `dir` (every etcd and sshd it started, by pid) and remove its files.

    Returns one line per thing stopped or removed; LabUsageError if `dir` holds no lab.
    """
    root = dir.expanduser().resolve()
    return teardown(root, read_state(root))


def load_lab(dir: Path) -> LabInfo:
    """The lab in `dir` as lab up described it in lab.json (LabUsageError if there is none)."""
    root = dir.expanduser().resolve()
    return info_from_state(root, read_state(root))


__all__ = ["lab_down", "lab_up", "load_lab"]
