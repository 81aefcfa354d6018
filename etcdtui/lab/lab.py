"""Start and stop a real local etcd cluster whose nodes are reachable over real local sshds."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etcdtui.lab.binaries import etcd_binaries
from etcdtui.lab.build import build
from etcdtui.lab.errors import LabUsageError
from etcdtui.lab.kubeadm import (
    HOST_KUBERNETES,
    prepare_host,
    remove_host_links,
)
from etcdtui.lab.netns import (
    create_network,
    plan_network,
    remove_network,
    subnet_lock,
)
from etcdtui.lab.ports import fixed_ports, free_ports
from etcdtui.lab.state import (
    FORMAT,
    MADE,
    MARKER,
    STATE_FILE,
    LabInfo,
    info_from_state,
    loopback_nodes,
    netns_nodes,
    read_state,
    write_state,
)
from etcdtui.lab.staticpods import HOST_RANCHER, layout_of
from etcdtui.lab.teardown import lab_pids, remove_lab_files, teardown

MEMBER_COUNTS = (3, 5)
MAX_SPARES = 10
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
    rke2_layout: bool = False,
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
    etcd listening on the node's address as well as its loopback. `rke2_layout` does the same
    as RKE2 does it: etcd's settings in RKE2's config file read through `--config-file`, at
    RKE2's paths in the node's own /var/lib/rancher (see lab/rke2.py).
    """
    say = on_progress or _quiet
    _check_shape(members, spares, quota_bytes)
    layout = _layout(kubeadm_layout, rke2_layout)
    if layout:
        netns = tls = True
    _check_layout(netns, layout, base_port)
    root = dir.expanduser().resolve()
    if not SAFE_PATH.fullmatch(str(root)):
        # The path ends up unquoted in sshd_config and in the config's shell command templates.
        raise LabUsageError(f"the lab folder {str(root)!r} may not hold spaces or shell characters")
    names = [f"node{i}" for i in range(1, members + 1)]
    names += [f"spare{i}" for i in range(1, spares + 1)]
    ports = [] if netns else _ports(3 * len(names), base_port)  # per node: SSH, client, peer
    state = _new_state(_claim_dir(root, say), etcd_version, tls, quota_bytes)
    if layout:
        state[layout] = {}
    began = time.monotonic()
    info = _start(root, state, names, members, ports, say)
    started = info.members()
    listed = ", ".join(n.name for n in started)
    # The one "lab is up" line (the CLI prints only how to use the lab after it).
    say(
        f"lab is up in {time.monotonic() - began:.1f} s: {len(started)} members of etcd "
        f"{etcd_version} ({listed})"
    )
    return info


def _check_shape(members: int, spares: int, quota_bytes: int | None) -> None:
    if members not in MEMBER_COUNTS:
        raise LabUsageError(f"a lab has 3 or 5 members, not {members}")
    if not 0 <= spares <= MAX_SPARES:
        raise LabUsageError(f"a lab has 0 to {MAX_SPARES} spares, not {spares}")
    if quota_bytes is not None and quota_bytes <= 0:
        raise LabUsageError(f"the backend quota must be a positive number of bytes: {quota_bytes}")


def _layout(kubeadm_layout: bool, rke2_layout: bool) -> str | None:
    """The static-pod layout asked for (its lab.json section), or None."""
    if kubeadm_layout and rke2_layout:
        raise LabUsageError("--kubeadm-layout and --rke2-layout do not go together")
    return "kubeadm" if kubeadm_layout else "rke2" if rke2_layout else None


def _check_layout(netns: bool, layout: str | None, base_port: int | None) -> None:
    if layout and os.geteuid() != 0:
        own = "/etc/kubernetes" if layout == "kubeadm" else "/var/lib/rancher"
        raise LabUsageError(
            f"lab up --{layout}-layout needs root (each node gets a network namespace "
            f"and its own {own})"
        )
    if netns and os.geteuid() != 0:
        raise LabUsageError("lab up --netns needs root (it creates network namespaces)")
    if netns and base_port is not None:
        raise LabUsageError(
            "--base-port does not go with --netns: every node has its own address, "
            "with SSH on 22 and etcd on 2379 and 2380"
        )


def _ports(count: int, base_port: int | None) -> list[int]:
    try:
        return free_ports(count) if base_port is None else fixed_ports(base_port, count)
    except ValueError as exc:
        raise LabUsageError(str(exc)) from None  # refused before anything starts


def _new_state(
    created: bool, etcd_version: str, tls: bool, quota_bytes: int | None
) -> dict[str, Any]:
    """lab.json's first content: what lab down needs to find and stop everything."""
    etcd, etcdctl, etcdutl = etcd_binaries(etcd_version)
    return {
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


def _start(
    root: Path,
    state: dict[str, Any],
    names: list[str],
    members: int,
    ports: list[int],
    say: Progress,
) -> LabInfo:
    """Plan the nodes, record them, then start everything; on any failure stop it all again."""
    scheme = "https" if state["tls"] else "http"
    netns = not ports
    with contextlib.ExitStack() as lock:
        if netns:
            # Held until the bridge has its address, so that no other lab picks the same /24.
            lock.enter_context(subnet_lock())
            try:
                state["network"] = plan_network(root, names)
            except BaseException:
                if state["created_dir"]:
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
            layout = layout_of(state)
            if layout is not None:
                state[layout]["made_host_dir"] = not HOST_KUBERNETES.exists()
                if layout == "rke2":
                    state[layout]["made_rancher_dir"] = not HOST_RANCHER.exists()
                write_state(root, state)
                prepare_host(state)
                if layout == "rke2":  # where each node's own is mounted
                    HOST_RANCHER.mkdir(mode=0o755, exist_ok=True)
            return build(root, state, say)
        except BaseException:
            say("lab up failed: stopping what it started")
            try:
                teardown(root, state)
            except Exception as exc:  # keep the original failure: it is the one to act on
                say(f"cleaning up after the failure also failed: {exc}")
            raise


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
