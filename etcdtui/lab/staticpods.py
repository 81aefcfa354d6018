"""What the lab's static-pod layouts (kubeadm's and RKE2's) share: a node's own view of the
host's folders, pod manifests, and the lab kubelet that runs them.

Each node of such a netns lab gets its own ``/etc/kubernetes``: the lab writes it under
``nodes/NODE/kubernetes`` and links it from ``/etc/netns/NAMESPACE/kubernetes``, which
``ip netns exec`` bind-mounts over ``/etc/kubernetes`` for everything started in the node's
namespace (its sshd, so every SSH session, and its kubelet). A folder outside ``/etc`` (RKE2's
``/var/lib/rancher``) is bind-mounted inside the mount namespace of the node's sshd instead
(see lab/rke2.py); its kubelet then runs in that same mount namespace.

The host needs the folders for the bind mounts to land on; the lab creates empty ones if there
are none, and removes them again when the last such lab goes (only if empty).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from etcdtui.errors import LabError
from etcdtui.lab.kubelet import KUBELET_PID, PODS_DIR
from etcdtui.lab.netns import NAMESPACE
from etcdtui.lab.procs import process_alive, read_pid

ETC_NETNS = Path("/etc/netns")
HOST_KUBERNETES = Path("/etc/kubernetes")
# Where RKE2 (and k3s) keep their state; the RKE2 layout mounts each node's own over it.
HOST_RANCHER = Path("/var/lib/rancher")
# The lab.json sections of the static-pod layouts, and the host folders each may have made.
LAYOUTS = ("kubeadm", "rke2")
HOST_DIRS = {"made_host_dir": HOST_KUBERNETES, "made_rancher_dir": HOST_RANCHER}
KUBELET_START_TIMEOUT = 10.0
VIEW_MARKER = ".etcdtui-lab-node"

Volume = tuple[str, str, str]
"""(volume name, mountPath in the container, hostPath on the node)."""


def layout_of(state: dict[str, Any]) -> str | None:
    """The static-pod layout lab.json records ("kubeadm", "rke2"), or None."""
    return next((name for name in LAYOUTS if isinstance(state.get(name), dict)), None)


def kubernetes_dir(node_dir: Path) -> Path:
    """The folder the node sees as /etc/kubernetes."""
    return node_dir / "kubernetes"


def prepare_host(state: dict[str, Any]) -> None:
    """Create /etc/kubernetes (if missing) and the /etc/netns links of every node.

    The caller records beforehand (in lab.json) whether /etc/kubernetes existed, so that lab
    down removes only what the lab made.
    """
    HOST_KUBERNETES.mkdir(mode=0o755, exist_ok=True)
    ETC_NETNS.mkdir(mode=0o755, exist_ok=True)
    network = state["network"]
    for name, planned in network["nodes"].items():
        folder = ETC_NETNS / planned["netns"]
        folder.mkdir(mode=0o755, exist_ok=True)
        link = folder / "kubernetes"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(kubernetes_dir(Path(network["dir"]) / "nodes" / name))


def remove_host_links(state: dict[str, Any]) -> list[str]:
    """Undo prepare_host: this lab's /etc/netns folders, and the host folders it made if no
    other static-pod lab still uses them."""
    network = state.get("network")
    layout = layout_of(state)
    if layout is None or not isinstance(network, dict):
        return []
    removed: list[str] = []
    for node, planned in network.get("nodes", {}).items():
        name = str(planned.get("netns", ""))
        if not NAMESPACE.fullmatch(name):
            continue  # never remove anything not named like a lab namespace
        folder = ETC_NETNS / name
        link = folder / "kubernetes"
        # Only this lab's own link: a copied lab folder must not undo the original's.
        ours = kubernetes_dir(Path(str(network.get("dir"))) / "nodes" / node)
        if link.is_symlink() and Path(os.readlink(link)) == ours:
            link.unlink()
        with contextlib.suppress(FileNotFoundError, OSError):
            folder.rmdir()
            removed.append(name)
    others = ETC_NETNS.exists() and any(
        NAMESPACE.fullmatch(entry.name) for entry in ETC_NETNS.iterdir()
    )
    lines = [f"removed the /etc/kubernetes links of {len(removed)} node(s)"] if removed else []
    for key, folder in HOST_DIRS.items():
        if state[layout].get(key) and not others:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: the host's own files are never touched
                lines.append(f"removed the empty {folder} it had made")
    with contextlib.suppress(OSError):
        ETC_NETNS.rmdir()
    return lines


def copy_file(source: Path, target: Path, mode: int) -> None:
    """Copy `source` to a new file created with `mode` (a key is never readable by others,
    not even for a moment)."""
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(source.read_bytes())


def check_view(prefix: list[str], who: str, node_dir: Path, real: Path, seen_as: Path) -> None:
    """LabError unless a process started with `prefix` (in the node's namespace `who`) sees
    the folder `real` as `seen_as`, so that nothing the lab runs there reaches the host's own."""
    marker = real / VIEW_MARKER
    marker.write_text(f"{node_dir}\n")
    seen = subprocess.run(
        [*prefix, "cat", f"{seen_as}/{VIEW_MARKER}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if seen.stdout.strip() != str(node_dir):
        raise LabError(
            f"{who} does not see {real} as {seen_as}: "
            f"{seen.stderr.strip()[:200] or 'the bind mount failed'}"
        )


def pod_manifest(
    name: str,
    image: str,
    command: list[str],
    volumes: list[Volume],
    args: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """A static-pod manifest of one container (the parts this lab uses)."""
    container: dict[str, Any] = {"command": command}
    if args is not None:
        container["args"] = args
    container |= {
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "name": name,
        "volumeMounts": [{"mountPath": mount, "name": v} for v, mount, _ in volumes],
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "labels": labels or {"component": name, "tier": "control-plane"},
            "name": name,
            "namespace": "kube-system",
        },
        "spec": {
            "containers": [container],
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "volumes": [
                {"hostPath": {"path": host, "type": "DirectoryOrCreate"}, "name": v}
                for v, _, host in volumes
            ],
        },
    }
    return yaml.safe_dump(pod, sort_keys=False, default_flow_style=False)


def write_manifest(folder: Path, file: str, text: str) -> None:
    """Write a manifest atomically: the kubelet must never read half of one."""
    tmp = folder / f".{file}.tmp"  # hidden: the kubelet skips it
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, folder / file)


def start_kubelet(node_dir: Path, prefix: list[str], manifests: Path) -> int:
    """Start the node's kubelet under `prefix` (its namespaces); its pid once it watches.

    `manifests` is the node's folder by its real path: the kubelet never depends on a bind
    mount to find it (and so can never run a host's real manifests). The kubelet runs the
    etcd its pods' images name (lab/binaries.py).
    """
    (node_dir / KUBELET_PID).unlink(missing_ok=True)
    with (node_dir / "kubelet.out").open("ab") as out:
        subprocess.Popen(
            [
                *prefix,
                sys.executable,
                "-m",
                "etcdtui.lab.kubelet",
                "--node-dir",
                str(node_dir),
                "--manifests",
                str(manifests),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + KUBELET_START_TIMEOUT
    while time.monotonic() < deadline:
        pid = read_pid(node_dir / KUBELET_PID)
        if pid is not None and process_alive(pid):
            return pid
        time.sleep(0.05)
    tail = (node_dir / "kubelet.out").read_text(errors="replace").strip()[-300:]
    raise LabError(f"the lab kubelet in {node_dir} did not start: {tail or 'no output'}")


def is_kubelet(pid: int, node_dir: Path) -> bool:
    """True if `pid` is the lab kubelet of `node_dir` (alive, not a reused pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"etcdtui.lab.kubelet" in argv and str(node_dir).encode() in argv


def pod_pid_files(node_dir: Path) -> list[Path]:
    """The pid files of the node's pods other than etcd (whose pid is in etcd.pid)."""
    folder = node_dir / PODS_DIR
    return sorted(folder.glob("*.pid")) if folder.is_dir() else []


__all__ = [
    "HOST_KUBERNETES",
    "HOST_RANCHER",
    "check_view",
    "copy_file",
    "is_kubelet",
    "kubernetes_dir",
    "layout_of",
    "pod_manifest",
    "pod_pid_files",
    "prepare_host",
    "remove_host_links",
    "start_kubelet",
    "write_manifest",
]
