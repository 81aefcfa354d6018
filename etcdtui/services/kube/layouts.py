"""Where distributions other than kubeadm and plain systemd keep etcd's settings on a node.

Tried in order, after kubeadm's manifests and the ``etcd`` systemd unit (kubespray's, with
``/etc/etcd.env``, and distribution packages'): OpenShift's operator-managed etcd (named, not
used), RKE2's pod manifests (whose etcd reads a ``--config-file``), k3s's embedded etcd (its
config file; k3s itself is the service), then every ``*.yaml``/``*.manifest`` under the
kubelet's ``staticPodPath`` (from kubeadm's or kubespray's kubelet config file). A static-pod
layout also gives the profile its manifest paths, with the stash for a stopped pod's manifest
beside the kubelet's folder (never in it: the kubelet would run it).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from etcdtui.clients.shell import NodeShell
from etcdtui.config.profiles import PRE_UPGRADE
from etcdtui.services.kube.filekinds import FileKind, detect_kind
from etcdtui.services.kube.pods import (
    OPERATOR_NOTE,
    OperatorManaged,
    parse_apiserver_manifest,
    parse_etcd_manifest,
)
from etcdtui.services.kube.remote import RemoteFile, read_files
from etcdtui.services.kube.settings import ApiserverSettings, EtcdSettings, KubeConfigError
from etcdtui.services.kube.systemd import parse_systemd_etcd

OPENSHIFT_POD = "/etc/kubernetes/manifests/etcd-pod.yaml"
RKE2_MANIFESTS = "/var/lib/rancher/rke2/agent/pod-manifests"
K3S_CONFIG = "/var/lib/rancher/k3s/server/db/etcd/config"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
# Where kubelets are given their config file: kubeadm's, then kubespray's.
KUBELET_CONFIGS = (KUBELET_CONFIG, "/etc/kubernetes/kubelet-config.yaml")
KUBEADM_MANIFESTS = "/etc/kubernetes/manifests"


@dataclass(frozen=True)
class Layout:
    """What one layout gave: its name, etcd's settings, kube-apiserver's, and notes."""

    name: str
    etcd: EtcdSettings
    apiserver: ApiserverSettings | None = None
    notes: tuple[str, ...] = ()
    vars: tuple[tuple[str, str], ...] = ()  # the node profile's variables it needs


def node_reader(
    shell: NodeShell, sudo: bool | None, timeout: float, root: str = ""
) -> Callable[[str], str]:
    """A ReadFile over SSH: a node path's text, or a KubeConfigError naming it."""

    def read_file(path: str) -> str:
        found = read_files(shell, [root + path], sudo=sudo, timeout=timeout)[root + path]
        if not found.exists or found.error:
            raise KubeConfigError(f"{path}: {found.error}")
        return found.text

    return read_file


def _pod_files(
    shell: NodeShell, folder: str, sudo: bool | None, timeout: float
) -> dict[str, RemoteFile]:
    listing = shell.run(
        f"ls -1 -- {shlex.quote(folder)} 2>/dev/null", timeout=timeout, sudo=sudo
    ).stdout
    names = [n for n in listing.splitlines() if n.endswith((".yaml", ".yml", ".manifest"))]
    paths = [posixpath.join(folder, n) for n in sorted(names)]
    return read_files(shell, paths, sudo=sudo, timeout=timeout) if paths else {}


def _static_pods(
    shell: NodeShell, folder: str, sudo: bool | None, timeout: float, root: str
) -> tuple[EtcdSettings | None, ApiserverSettings | None]:
    """The etcd and kube-apiserver pods among a folder's manifests, whatever their names."""
    etcd, apiserver = None, None
    read = node_reader(shell, sudo, timeout, root)
    for path, found in _pod_files(shell, root + folder, sudo, timeout).items():
        if not found.text:
            continue
        try:
            kind = detect_kind(path, found.text)
        except KubeConfigError:
            continue  # another pod: not ours to judge
        shown = path[len(root) :]
        if kind is FileKind.STATIC_POD and etcd is None:
            etcd = parse_etcd_manifest(found.text, shown, read)
        elif kind is FileKind.APISERVER and apiserver is None:
            apiserver = parse_apiserver_manifest(found.text, shown)
    return etcd, apiserver


def _static_pod_path(text: str) -> str:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return ""
    value = doc.get("staticPodPath") if isinstance(doc, dict) else None
    return str(value) if isinstance(value, str) else ""


def find_layout(
    shell: NodeShell, *, sudo: bool | None = None, timeout: float = 15.0, root: str = ""
) -> Layout | None:
    """The first layout found on the node, or None; OperatorManaged for OpenShift's etcd.

    `root` prefixes every path read (a test's folder standing for the node's /).
    """
    wanted = [OPENSHIFT_POD, K3S_CONFIG, *KUBELET_CONFIGS]
    files = read_files(shell, [root + p for p in wanted], sudo=sudo, timeout=timeout)
    if files[root + OPENSHIFT_POD].exists:
        raise OperatorManaged(f"{OPENSHIFT_POD}: OpenShift's etcd, {OPERATOR_NOTE}")
    etcd, apiserver = _static_pods(shell, RKE2_MANIFESTS, sudo, timeout, root)
    if etcd is not None:
        return Layout("rke2", etcd, apiserver, vars=_pod_vars(etcd, apiserver))
    k3s = files[root + K3S_CONFIG]
    if k3s.exists and not k3s.error:
        settings = parse_systemd_etcd(K3S_CONFIG, config_yaml=k3s.text)
        note = "etcd runs inside k3s: stopping it stops the k3s service"
        return Layout("k3s", settings, notes=(note,), vars=(("unit", "k3s"),))
    for config in KUBELET_CONFIGS:
        folder = _static_pod_path(files[root + config].text)
        if folder and folder.rstrip("/") not in (KUBEADM_MANIFESTS, RKE2_MANIFESTS):
            etcd, apiserver = _static_pods(shell, folder, sudo, timeout, root)
            if etcd is not None:
                layout = f"kubelet staticPodPath {folder}"
                return Layout(layout, etcd, apiserver, vars=_pod_vars(etcd, apiserver))
    return None


def _pod_vars(
    etcd: EtcdSettings, apiserver: ApiserverSettings | None
) -> tuple[tuple[str, str], ...]:
    """The static-pod profile's paths for manifests found outside /etc/kubernetes/manifests."""
    manifest = etcd.origin.split(" + ", 1)[0]
    stash = posixpath.dirname(posixpath.dirname(manifest))
    base = f"{stash}/{posixpath.basename(manifest)}"
    found = [
        ("manifest", manifest),
        ("manifest_stash", f"{base}.etcdtui-stopped"),
        ("upgrade_backup", base + PRE_UPGRADE),
    ]
    if apiserver is not None:
        name = posixpath.basename(apiserver.origin)
        found += [
            ("apiserver_manifest", apiserver.origin),
            ("apiserver_manifest_stash", f"{stash}/{name}.etcdtui-stopped"),
            ("apiserver_backup_dir", stash),
        ]
    return tuple(found)
