"""`lab up --kubeadm-layout`: lab nodes laid out like kubeadm control-plane nodes.

Each node of a netns lab gets its own ``/etc/kubernetes`` (see lab/staticpods.py for how the
node sees it). In it: kubeadm's pki layout (``pki/etcd/{ca,server,peer,healthcheck-client}``,
``pki/apiserver-etcd-client``) and, on member nodes, static-pod manifests for etcd and
kube-apiserver in ``manifests/``. The lab's kubelet (etcdtui.lab.kubelet) runs what is in that
folder, so the static-pod profile's "move the manifest out and back" really stops and starts
etcd and the apiserver.
"""

from __future__ import annotations

from pathlib import Path

from etcdtui.lab import staticpods
from etcdtui.lab.netns import netns_prefix
from etcdtui.lab.staticpods import (
    HOST_KUBERNETES,
    copy_file,
    is_kubelet,
    kubernetes_dir,
    pod_manifest,
    pod_pid_files,
    prepare_host,
    remove_host_links,
)

PKI = "/etc/kubernetes/pki"
# The image kubeadm would run for the lab's etcd version (only shown; the binary is the lab's).
IMAGES = {"3.5": "registry.k8s.io/etcd:3.5.1-0", "3.4": "registry.k8s.io/etcd:3.4.23-0"}
# etcd's data dir as the pod sees it; the hostPath volume maps it to the node's folder.
POD_DATA_DIR = "/var/lib/etcd"


def check_node_view(node_dir: Path, netns: str) -> None:
    """LabError unless the node's namespace sees the node's folder as /etc/kubernetes, so
    that nothing the lab runs there (sshd, runbooks) can reach the host's own."""
    staticpods.check_view(
        netns_prefix(netns), netns, node_dir, kubernetes_dir(node_dir), HOST_KUBERNETES
    )


def write_node_pki(lab_pki: Path, node_dir: Path, node: str) -> None:
    """kubeadm's etcd pki on the node, copied from the lab's CA and certificates."""
    pki = kubernetes_dir(node_dir) / "pki"
    etcd = pki / "etcd"
    copy_file(lab_pki / "ca.crt", etcd / "ca.crt", 0o644)
    copy_file(lab_pki / "ca.key", etcd / "ca.key", 0o600)
    for kind in ("server", "peer"):
        copy_file(lab_pki / f"{node}-{kind}.crt", etcd / f"{kind}.crt", 0o644)
        copy_file(lab_pki / f"{node}-{kind}.key", etcd / f"{kind}.key", 0o600)
    # One client certificate serves kubeadm's two client roles here.
    copy_file(lab_pki / "client.crt", etcd / "healthcheck-client.crt", 0o644)
    copy_file(lab_pki / "client.key", etcd / "healthcheck-client.key", 0o600)
    copy_file(lab_pki / "client.crt", pki / "apiserver-etcd-client.crt", 0o644)
    copy_file(lab_pki / "client.key", pki / "apiserver-etcd-client.key", 0o600)
    # kube-apiserver's serving certificate: the node's server certificate serves here.
    copy_file(lab_pki / f"{node}-server.crt", pki / "apiserver.crt", 0o644)
    copy_file(lab_pki / f"{node}-server.key", pki / "apiserver.key", 0o600)
    (kubernetes_dir(node_dir) / "manifests").mkdir(mode=0o755, exist_ok=True)


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
    return pod_manifest("etcd", IMAGES.get(etcd_version, IMAGES["3.5"]), command, volumes)


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
    image = "registry.k8s.io/kube-apiserver:v1.28.4"
    return pod_manifest("kube-apiserver", image, command, volumes)


def write_manifest(node_dir: Path, file: str, text: str) -> None:
    """Write a manifest into the node's /etc/kubernetes/manifests, atomically."""
    staticpods.write_manifest(kubernetes_dir(node_dir) / "manifests", file, text)


def start_kubelet(node_dir: Path, netns: str) -> int:
    """Start the node's kubelet in its namespace; return its pid once it watches."""
    manifests = kubernetes_dir(node_dir) / "manifests"
    return staticpods.start_kubelet(node_dir, netns_prefix(netns), manifests)


__all__ = [
    "HOST_KUBERNETES",
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
