"""What a node says about how it runs etcd and kube-apiserver, read over SSH.

kubeadm: the static-pod manifests ``etcd.yaml`` and ``kube-apiserver.yaml``. systemd: the
``etcd`` unit (``systemctl cat``), the environment files it names, ``/etc/default/etcd`` and
etcd's YAML config file. A package that is merely installed (Debian's all-commented
``/etc/default/etcd``, no unit) is not an etcd member.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from etcdtui.clients.shell import NodeShell
from etcdtui.errors import EtcdtuiError
from etcdtui.services.kube.layouts import find_layout, node_reader
from etcdtui.services.kube.pods import parse_apiserver_manifest, parse_etcd_manifest
from etcdtui.services.kube.remote import RemoteFile, read_files
from etcdtui.services.kube.settings import ApiserverSettings, EtcdSettings, KubeConfigError
from etcdtui.services.kube.systemd import (
    env_file_values,
    parse_systemd_etcd,
    unit_config_file,
    unit_environment_files,
)

T = TypeVar("T")
MANIFESTS = "/etc/kubernetes/manifests"
DEFAULT_ENV = "/etc/default/etcd"
DEFAULT_CONF = "/etc/etcd/etcd.conf.yml"


@dataclass(frozen=True)
class NodeFacts:
    """One node's etcd and kube-apiserver settings, or why they could not be read."""

    node: str
    etcd: EtcdSettings | None = None
    apiserver: ApiserverSettings | None = None
    error: str = ""
    notes: tuple[str, ...] = ()
    layout: str = ""  # kubeadm, systemd, rke2, k3s, ...: where the settings were found
    vars: tuple[tuple[str, str], ...] = ()  # profile variables the layout needs


def _parsed(parse: Callable[[str, str], T], text: str, origin: str) -> T:
    """`parse(text, origin)`, with a manifest of an unexpected shape (a list where a mapping
    belongs, say) as a KubeConfigError naming the file, like any other bad manifest."""
    try:
        return parse(text, origin)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise KubeConfigError(f"{origin}: not a usable Pod manifest ({exc})") from None


def _unit_text(shell: NodeShell, sudo: bool | None, timeout: float) -> str | None:
    result = shell.run(
        "command -v systemctl >/dev/null 2>&1 && systemctl cat etcd.service",
        timeout=timeout,
        sudo=sudo,
    )
    return result.stdout if result.ok and result.stdout.strip() else None


def inspect_node(
    shell: NodeShell,
    *,
    sudo: bool | None = None,
    manifests: str = MANIFESTS,
    timeout: float = 15.0,
) -> NodeFacts:
    """Read and parse the node's etcd (and kube-apiserver) settings; never raises for what
    the node holds (a parse error becomes `error`), only for SSH failures."""
    etcd_path = posixpath.join(manifests, "etcd.yaml")
    apiserver_path = posixpath.join(manifests, "kube-apiserver.yaml")
    files = read_files(
        shell, [etcd_path, apiserver_path, DEFAULT_ENV, DEFAULT_CONF], sudo=sudo, timeout=timeout
    )
    notes: list[str] = []
    apiserver = None
    if files[apiserver_path].exists:
        try:
            if files[apiserver_path].error:
                notes.append(f"{apiserver_path}: {files[apiserver_path].error}")
            else:
                text = files[apiserver_path].text
                apiserver = _parsed(parse_apiserver_manifest, text, apiserver_path)
        except KubeConfigError as exc:  # etcd's own settings still count
            notes.append(str(exc))
    try:
        manifest = files[etcd_path]
        if manifest.exists:
            if manifest.error:
                return NodeFacts(shell.node, error=f"{etcd_path}: {manifest.error}")
            read = node_reader(shell, sudo, timeout)
            etcd = _parsed(lambda t, o: parse_etcd_manifest(t, o, read), manifest.text, etcd_path)
            return NodeFacts(shell.node, etcd, apiserver, notes=tuple(notes), layout="kubeadm")
        etcd_systemd = _systemd(shell, files, sudo, timeout)
        if etcd_systemd is None:
            other = find_layout(shell, sudo=sudo, timeout=timeout)
            if other is not None:
                notes += [f"etcd found as laid out by {other.name}", *other.notes]
                found = other.apiserver or apiserver
                facts = NodeFacts(shell.node, other.etcd, found, notes=tuple(notes))
                return replace(facts, layout=other.name, vars=other.vars)
    except KubeConfigError as exc:
        return NodeFacts(shell.node, apiserver=apiserver, error=str(exc))
    if etcd_systemd is None:
        notes.append(
            f"no etcd here: no {etcd_path}, no etcd.service, nothing set in {DEFAULT_ENV}, "
            "no RKE2, k3s or kubelet staticPodPath manifest"
        )
    return NodeFacts(shell.node, etcd_systemd, apiserver, notes=tuple(notes), layout="systemd")


def _systemd(
    shell: NodeShell, files: dict[str, RemoteFile], sudo: bool | None, timeout: float
) -> EtcdSettings | None:
    unit = _unit_text(shell, sudo, timeout)
    wanted = list(dict.fromkeys([DEFAULT_ENV, *(unit_environment_files(unit) if unit else [])]))
    found = files | read_files(shell, [p for p in wanted if p not in files], sudo=sudo)
    environment: dict[str, str] = {}
    origins = []
    for path in wanted:
        if found[path].text:
            environment |= env_file_values(found[path].text)
            origins.append(path)
    config_path = unit_config_file(unit or "", environment)
    if not config_path and unit is None and found[DEFAULT_CONF].text.strip():
        config_path = DEFAULT_CONF  # no unit to say how etcd starts: the usual place
    config_yaml = None
    if config_path:
        if config_path not in found:
            found |= read_files(shell, [config_path], sudo=sudo, timeout=timeout)
        if not found[config_path].exists or found[config_path].error:
            raise KubeConfigError(f"{config_path}: {found[config_path].error}")
        config_yaml = found[config_path].text
        origins.append(config_path)
    if unit is None and not any(k.startswith("ETCD_") for k in environment) and not config_yaml:
        return None
    origin = " + ".join(["etcd.service"] * (unit is not None) + origins)
    hostname = ""
    if unit is not None and "%H" in unit:  # Debian's unit: ETCD_NAME=%H
        hostname = shell.run("hostname", timeout=timeout).stdout.strip()
    try:
        return parse_systemd_etcd(
            origin,
            unit=unit,
            environment=environment,
            config_yaml=config_yaml,
            hostname=hostname,
        )
    except KubeConfigError:
        raise
    except EtcdtuiError as exc:
        raise KubeConfigError(str(exc)) from None
