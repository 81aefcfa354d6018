"""`lab up --rke2-layout`: lab nodes laid out like RKE2 server nodes.

RKE2 keeps everything under ``/var/lib/rancher/rke2``: the kubelet's static pods in
``agent/pod-manifests/`` (``etcd.yaml``, ``kube-apiserver.yaml``); etcd's settings in a YAML
file, ``server/db/etcd/config``, that the etcd pod reads with ``--config-file`` (its data dir
is that same folder); and the certificates in ``server/tls/etcd/`` (``server-ca``,
``server-client``, ``peer-ca``, ``peer-server-client``, and kube-apiserver's ``client``).

The lab writes each node's tree under ``nodes/NODE/rancher`` and bind-mounts it over
``/var/lib/rancher`` inside the mount namespace of the node's sshd, so every SSH session sees
it there. The node's kubelet is started in that same mount namespace, so its etcd opens its
config file, data dir and certificates at RKE2's own paths. The node also gets its own empty
``/etc/kubernetes`` (lab/staticpods.py), so nothing of the host's shows through.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from etcdtui.config.profiles import PRE_UPGRADE
from etcdtui.errors import LabError
from etcdtui.lab import staticpods
from etcdtui.lab.staticpods import HOST_RANCHER, copy_file, kubernetes_dir, pod_manifest

RANCHER = str(HOST_RANCHER)
RKE2 = f"{RANCHER}/rke2"
MANIFESTS = f"{RKE2}/agent/pod-manifests"
DATA_DIR = f"{RKE2}/server/db/etcd"
CONFIG_FILE = f"{DATA_DIR}/config"
TLS = f"{RKE2}/server/tls"
ETCD_TLS = f"{TLS}/etcd"
# Where the static-pod profile parks a stopped pod's manifest: beside the manifests folder,
# never in it (the kubelet would run the copy).
STASH = f"{RKE2}/agent"
# The images RKE2 would run (only shown; the binaries are the lab's).
IMAGES = {
    "3.5": "index.docker.io/rancher/hardened-etcd:v3.5.1-k3s1-build20220112",
    "3.4": "index.docker.io/rancher/hardened-etcd:v3.4.23-k3s1-build20230101",
}
APISERVER_IMAGE = "index.docker.io/rancher/hardened-kubernetes:v1.28.4-rke2r1-build20231115"
# etcd's timing as RKE2 sets it (a slower network than etcd's defaults assume).
TIMING = {"election-timeout": 5000, "heartbeat-interval": 500}
MOUNT_TIMEOUT = 10.0


def rancher_dir(node_dir: Path) -> Path:
    """The folder the node sees as /var/lib/rancher."""
    return node_dir / "rancher"


def on_host(node_dir: Path, path: str) -> Path:
    """Where the node's `path` (under /var/lib/rancher) is on the host."""
    return rancher_dir(node_dir) / Path(path).relative_to(RANCHER)


def node_prefix(sshd_pid: int) -> list[str]:
    """The argv prefix that runs a command in the node's network and mount namespaces (those
    of its sshd, where /var/lib/rancher is the node's own)."""
    return ["nsenter", f"--target={sshd_pid}", "--mount", "--net", "--"]


def profile_vars() -> dict[str, str]:
    """The static-pod profile's paths on an RKE2 node (its defaults are kubeadm's)."""
    return {
        "manifest": f"{MANIFESTS}/etcd.yaml",
        "manifest_stash": f"{STASH}/etcd.yaml.etcdtui-stopped",
        "upgrade_backup": f"{STASH}/etcd.yaml{PRE_UPGRADE}",
        "apiserver_manifest": f"{MANIFESTS}/kube-apiserver.yaml",
        "apiserver_manifest_stash": f"{STASH}/kube-apiserver.yaml.etcdtui-stopped",
        "apiserver_backup_dir": STASH,
    }


def write_node_pki(lab_pki: Path, node_dir: Path, node: str) -> None:
    """RKE2's etcd certificates on the node (one lab CA stands for RKE2's server and peer
    CAs), its empty manifests folder, and an empty /etc/kubernetes of its own."""
    tls = on_host(node_dir, ETCD_TLS)
    for ca in ("server-ca", "peer-ca"):
        copy_file(lab_pki / "ca.crt", tls / f"{ca}.crt", 0o644)
        copy_file(lab_pki / "ca.key", tls / f"{ca}.key", 0o600)
    for kind, name in (("server", "server-client"), ("peer", "peer-server-client")):
        copy_file(lab_pki / f"{node}-{kind}.crt", tls / f"{name}.crt", 0o644)
        copy_file(lab_pki / f"{node}-{kind}.key", tls / f"{name}.key", 0o600)
    # kube-apiserver's etcd client certificate, and its serving one (the node's server's).
    copy_file(lab_pki / "client.crt", tls / "client.crt", 0o644)
    copy_file(lab_pki / "client.key", tls / "client.key", 0o600)
    serving = on_host(node_dir, TLS)
    copy_file(lab_pki / f"{node}-server.crt", serving / "serving-kube-apiserver.crt", 0o644)
    copy_file(lab_pki / f"{node}-server.key", serving / "serving-kube-apiserver.key", 0o600)
    on_host(node_dir, MANIFESTS).mkdir(mode=0o755, parents=True, exist_ok=True)
    kubernetes_dir(node_dir).mkdir(mode=0o755, exist_ok=True)


def etcd_config(
    name: str, address: str, initial_cluster: str, token: str, quota_bytes: int | None = None
) -> str:
    """The etcd config file RKE2 writes for a founding member at `address`."""
    config: dict[str, Any] = {
        "advertise-client-urls": f"https://{address}:2379",
        "client-transport-security": _transport("server-client", "server-ca"),
        "data-dir": DATA_DIR,
        **TIMING,
        # etcd 3.4 reads a config file into settings whose gRPC gateway is off (only the
        # flag defaults to on); etcdtui's client speaks to the gateway.
        "enable-grpc-gateway": True,
        "initial-advertise-peer-urls": f"https://{address}:2380",
        "initial-cluster": initial_cluster,
        "initial-cluster-state": "new",
        "initial-cluster-token": token,
        "listen-client-urls": f"https://127.0.0.1:2379,https://{address}:2379",
        "listen-metrics-urls": "http://127.0.0.1:2381",
        "listen-peer-urls": f"https://127.0.0.1:2380,https://{address}:2380",
        "log-outputs": ["stderr"],
        "logger": "zap",
        "name": name,
        "peer-transport-security": _transport("peer-server-client", "peer-ca"),
        "snapshot-count": 10000,
    }
    if quota_bytes is not None:
        config["quota-backend-bytes"] = quota_bytes
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def _transport(pair: str, ca: str) -> dict[str, Any]:
    return {
        "cert-file": f"{ETCD_TLS}/{pair}.crt",
        "client-cert-auth": True,
        "key-file": f"{ETCD_TLS}/{pair}.key",
        "trusted-ca-file": f"{ETCD_TLS}/{ca}.crt",
    }


def etcd_manifest(etcd_version: str) -> str:
    """RKE2's etcd.yaml: every setting is in the config file its only argument names."""
    files = ["server-client", "server-ca", "peer-server-client", "peer-ca"]
    paths = [f"{ETCD_TLS}/{name}.{ext}" for name in files for ext in ("crt", "key")]
    paths = [p for p in paths if not p.endswith("-ca.key")]
    volumes = [("dir", DATA_DIR, DATA_DIR)] + [(f"file{i}", p, p) for i, p in enumerate(paths)]
    image = IMAGES.get(etcd_version, IMAGES["3.5"])
    args = [f"--config-file={CONFIG_FILE}"]
    return pod_manifest("etcd", image, ["etcd"], volumes, args=args)


def apiserver_manifest(address: str) -> str:
    """RKE2's kube-apiserver.yaml, reduced to the flags that concern etcd: it reads the etcd
    member on its own node only."""
    args = [
        f"--advertise-address={address}",
        "--allow-privileged=true",
        f"--etcd-cafile={ETCD_TLS}/server-ca.crt",
        f"--etcd-certfile={ETCD_TLS}/client.crt",
        f"--etcd-keyfile={ETCD_TLS}/client.key",
        "--etcd-servers=https://127.0.0.1:2379",
        "--secure-port=6443",
        f"--tls-cert-file={TLS}/serving-kube-apiserver.crt",
        f"--tls-private-key-file={TLS}/serving-kube-apiserver.key",
    ]
    volumes = [("dir0", TLS, TLS)]
    return pod_manifest("kube-apiserver", APISERVER_IMAGE, ["kube-apiserver"], volumes, args)


def write_member(node_dir: Path, config: str, etcd_version: str, address: str) -> None:
    """A founding member's config file (in its data dir, as RKE2 keeps it) and manifests."""
    data = on_host(node_dir, DATA_DIR)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    (data / "config").write_text(config)
    (data / "config").chmod(0o600)
    manifests = on_host(node_dir, MANIFESTS)
    staticpods.write_manifest(manifests, "etcd.yaml", etcd_manifest(etcd_version))
    staticpods.write_manifest(manifests, "kube-apiserver.yaml", apiserver_manifest(address))


def mount_node_view(sshd_pid: int, node_dir: Path, netns: str) -> None:
    """Bind-mount the node's tree over /var/lib/rancher in its sshd's mount namespace (which
    ``ip netns exec`` made a slave of the host's: nothing propagates back), then check that
    the namespace sees it there."""
    done = subprocess.run(
        [*node_prefix(sshd_pid), "mount", "--bind", str(rancher_dir(node_dir)), RANCHER],
        capture_output=True,
        text=True,
        timeout=MOUNT_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise LabError(f"mounting {rancher_dir(node_dir)} in {netns}: {done.stderr.strip()[:200]}")
    staticpods.check_view(
        node_prefix(sshd_pid), netns, node_dir, rancher_dir(node_dir), HOST_RANCHER
    )


def start_kubelet(node_dir: Path, sshd_pid: int) -> int:
    """Start the node's kubelet in its sshd's namespaces; its pid once it watches."""
    manifests = on_host(node_dir, MANIFESTS)
    return staticpods.start_kubelet(node_dir, node_prefix(sshd_pid), manifests)


__all__ = [
    "CONFIG_FILE",
    "DATA_DIR",
    "MANIFESTS",
    "etcd_config",
    "etcd_manifest",
    "mount_node_view",
    "profile_vars",
    "rancher_dir",
    "start_kubelet",
    "write_member",
    "write_node_pki",
]
