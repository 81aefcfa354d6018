"""`lab up --kubeadm-layout`: lab nodes laid out like kubeadm control-plane nodes.

Each node of a netns lab gets its own ``/etc/kubernetes``: the lab writes it under
``nodes/NODE/kubernetes`` and links it from ``/etc/netns/NAMESPACE/kubernetes``, which
``ip netns exec`` bind-mounts over ``/etc/kubernetes`` for everything started in the node's
namespace (its sshd, so every SSH session, and its kubelet). In it: kubeadm's pki layout
(``pki/etcd/{ca,server,peer,healthcheck-client}``, ``pki/apiserver-etcd-client``) and, on
member nodes, static-pod manifests for etcd and kube-apiserver in ``manifests/``. The lab's
kubelet (etcdtui.lab.kubelet) runs what is in that folder, so the static-pod profile's
"move the manifest out and back" really stops and starts etcd and the apiserver.

The host needs an ``/etc/kubernetes`` for the bind mount to land on; the lab creates an empty
one if there is none, and removes it again when the last kubeadm lab goes (only if empty).
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
from etcdtui.lab.netns import NAMESPACE, netns_prefix
from etcdtui.lab.procs import process_alive, read_pid

ETC_NETNS = Path("/etc/netns")
HOST_KUBERNETES = Path("/etc/kubernetes")
PKI = "/etc/kubernetes/pki"
# The image kubeadm would run for the lab's etcd version (only shown; the binary is the lab's).
IMAGES = {"3.5": "registry.k8s.io/etcd:3.5.1-0", "3.4": "registry.k8s.io/etcd:3.4.23-0"}
# etcd's data dir as the pod sees it; the hostPath volume maps it to the node's folder.
POD_DATA_DIR = "/var/lib/etcd"
KUBELET_START_TIMEOUT = 10.0


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
    """Undo prepare_host: this lab's /etc/netns folders, and /etc/kubernetes if it made it
    and no other kubeadm lab still uses it."""
    network = state.get("network")
    if "kubeadm" not in state or not isinstance(network, dict):
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
    if state["kubeadm"].get("made_host_dir") and not others:
        with contextlib.suppress(OSError):
            HOST_KUBERNETES.rmdir()  # only when empty: the host's own files are never touched
            lines.append(f"removed the empty {HOST_KUBERNETES} it had made")
    with contextlib.suppress(OSError):
        ETC_NETNS.rmdir()
    return lines


def _copy(source: Path, target: Path, mode: int) -> None:
    """Copy `source` to a new file created with `mode` (a key is never readable by others,
    not even for a moment)."""
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(source.read_bytes())


def check_node_view(node_dir: Path, netns: str) -> None:
    """LabError unless the node's namespace sees the node's folder as /etc/kubernetes, so
    that nothing the lab runs there (sshd, runbooks) can reach the host's own."""
    marker = kubernetes_dir(node_dir) / ".etcdtui-lab-node"
    marker.write_text(f"{node_dir}\n")
    seen = subprocess.run(
        [*netns_prefix(netns), "cat", f"{HOST_KUBERNETES}/{marker.name}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if seen.stdout.strip() != str(node_dir):
        raise LabError(
            f"{netns} does not see {kubernetes_dir(node_dir)} as {HOST_KUBERNETES}: "
            f"{seen.stderr.strip()[:200] or 'the bind mount of ip netns exec failed'}"
        )


def write_node_pki(lab_pki: Path, node_dir: Path, node: str) -> None:
    """kubeadm's etcd pki on the node, copied from the lab's CA and certificates."""
    pki = kubernetes_dir(node_dir) / "pki"
    etcd = pki / "etcd"
    _copy(lab_pki / "ca.crt", etcd / "ca.crt", 0o644)
    _copy(lab_pki / "ca.key", etcd / "ca.key", 0o600)
    for kind in ("server", "peer"):
        _copy(lab_pki / f"{node}-{kind}.crt", etcd / f"{kind}.crt", 0o644)
        _copy(lab_pki / f"{node}-{kind}.key", etcd / f"{kind}.key", 0o600)
    # One client certificate serves kubeadm's two client roles here.
    _copy(lab_pki / "client.crt", etcd / "healthcheck-client.crt", 0o644)
    _copy(lab_pki / "client.key", etcd / "healthcheck-client.key", 0o600)
    _copy(lab_pki / "client.crt", pki / "apiserver-etcd-client.crt", 0o644)
    _copy(lab_pki / "client.key", pki / "apiserver-etcd-client.key", 0o600)
    # kube-apiserver's serving certificate: the node's server certificate serves here.
    _copy(lab_pki / f"{node}-server.crt", pki / "apiserver.crt", 0o644)
    _copy(lab_pki / f"{node}-server.key", pki / "apiserver.key", 0o600)
    (kubernetes_dir(node_dir) / "manifests").mkdir(mode=0o755, exist_ok=True)


def _pod(name: str, image: str, command: list[str], volumes: list[tuple[str, str, str]]) -> str:
    """A static-pod manifest as kubeadm writes one (the parts this lab uses)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "labels": {"component": name, "tier": "control-plane"},
            "name": name,
            "namespace": "kube-system",
        },
        "spec": {
            "containers": [
                {
                    "command": command,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "name": name,
                    "volumeMounts": [{"mountPath": mount, "name": v} for v, mount, _ in volumes],
                }
            ],
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "volumes": [
                {"hostPath": {"path": host, "type": "DirectoryOrCreate"}, "name": v}
                for v, _, host in volumes
            ],
        },
    }
    return yaml.safe_dump(pod, sort_keys=False, default_flow_style=False)


def etcd_manifest(
    name: str,
    address: str,
    data_dir: str,
    initial_cluster: str,
    token: str,
    etcd_version: str,
    quota_bytes: int | None = None,
) -> str:
    """kubeadm's etcd.yaml for a founding member at `address` (data in `data_dir`)."""
    command = [
        "etcd",
        f"--advertise-client-urls=https://{address}:2379",
        f"--cert-file={PKI}/etcd/server.crt",
        "--client-cert-auth=true",
        f"--data-dir={POD_DATA_DIR}",
        f"--initial-advertise-peer-urls=https://{address}:2380",
        f"--initial-cluster={initial_cluster}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token={token}",
        f"--key-file={PKI}/etcd/server.key",
        f"--listen-client-urls=https://127.0.0.1:2379,https://{address}:2379",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        f"--listen-peer-urls=https://{address}:2380",
        "--logger=zap",
        f"--name={name}",
        f"--peer-cert-file={PKI}/etcd/peer.crt",
        "--peer-client-cert-auth=true",
        f"--peer-key-file={PKI}/etcd/peer.key",
        f"--peer-trusted-ca-file={PKI}/etcd/ca.crt",
        "--snapshot-count=10000",
        f"--trusted-ca-file={PKI}/etcd/ca.crt",
    ]
    if quota_bytes is not None:
        command.append(f"--quota-backend-bytes={quota_bytes}")
    volumes = [("etcd-certs", f"{PKI}/etcd", f"{PKI}/etcd"), ("etcd-data", POD_DATA_DIR, data_dir)]
    return _pod("etcd", IMAGES.get(etcd_version, IMAGES["3.5"]), command, volumes)


def apiserver_manifest(address: str, etcd_servers: list[str]) -> str:
    """kubeadm's kube-apiserver.yaml, reduced to the flags that concern etcd."""
    command = [
        "kube-apiserver",
        f"--advertise-address={address}",
        "--allow-privileged=true",
        f"--client-ca-file={PKI}/ca.crt",
        f"--etcd-cafile={PKI}/etcd/ca.crt",
        f"--etcd-certfile={PKI}/apiserver-etcd-client.crt",
        f"--etcd-keyfile={PKI}/apiserver-etcd-client.key",
        f"--etcd-servers={','.join(etcd_servers)}",
        "--secure-port=6443",
        f"--tls-cert-file={PKI}/apiserver.crt",
        f"--tls-private-key-file={PKI}/apiserver.key",
    ]
    volumes = [("k8s-certs", PKI, PKI)]
    return _pod("kube-apiserver", "registry.k8s.io/kube-apiserver:v1.28.4", command, volumes)


def write_manifest(node_dir: Path, file: str, text: str) -> None:
    """Write a manifest atomically: the kubelet must never read half of one."""
    folder = kubernetes_dir(node_dir) / "manifests"
    tmp = folder / f".{file}.tmp"  # hidden: the kubelet skips it
    tmp.write_text(text)
    tmp.chmod(0o600)
    os.replace(tmp, folder / file)


def start_kubelet(node_dir: Path, netns: str, etcd_bin: str) -> int:
    """Start the node's kubelet in its namespace; return its pid once it watches."""
    (node_dir / KUBELET_PID).unlink(missing_ok=True)
    with (node_dir / "kubelet.out").open("ab") as out:
        subprocess.Popen(
            [
                *netns_prefix(netns),
                sys.executable,
                "-m",
                "etcdtui.lab.kubelet",
                "--node-dir",
                str(node_dir),
                "--etcd",
                etcd_bin,
                # The node's own folder, by its real path: the kubelet never depends on the
                # bind mount to find it (and so can never run a host's real manifests).
                "--manifests",
                str(kubernetes_dir(node_dir) / "manifests"),
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
    "apiserver_manifest",
    "check_node_view",
    "etcd_manifest",
    "is_kubelet",
    "kubernetes_dir",
    "pod_pid_files",
    "prepare_host",
    "remove_host_links",
    "start_kubelet",
    "write_manifest",
    "write_node_pki",
]
