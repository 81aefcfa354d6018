"""Static pod manifests: etcd's and kube-apiserver's settings from the Pod a kubelet runs.

The program is found by what runs it, not by the container's name (GCE names its container
``etcd-container``); its arguments come from ``command`` and ``args`` together, through an
``sh -c`` script in either. ``ETCD_*`` variables of the container's ``env`` count as etcd's
environment, a ``--config-file`` is read from the node (through the caller's `read_file`),
and every path etcd is given is translated to the node's through the pod's hostPath volumes.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

import yaml

from etcdtui.services.kube.commandline import invocation
from etcdtui.services.kube.configfile import config_file_flags, yaml_error
from etcdtui.services.kube.settings import (
    ApiserverSettings,
    EtcdSettings,
    KubeConfigError,
    Sources,
    env_settings,
    parse_flags,
    resolve,
    urls,
)

ReadFile = Callable[[str], str]
"""A node's path -> the file's text; raises KubeConfigError naming the file if it cannot."""

OPERATOR_NOTE = "managed by the cluster-etcd-operator: use its tooling"


class OperatorManaged(KubeConfigError):
    """An etcd that an operator runs (OpenShift's): not to be changed behind its back."""


def load_pod(text: str, origin: str) -> dict[str, Any]:
    """The manifest as a mapping; KubeConfigError unless it is a Pod."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise yaml_error(origin, exc) from exc
    if not isinstance(doc, dict) or doc.get("kind") != "Pod":
        kind = doc.get("kind") if isinstance(doc, dict) else None
        what = f"kind {kind}" if kind else "no kind"
        raise KubeConfigError(f"{origin}: not a Kubernetes Pod manifest ({what})")
    return doc


def is_openshift_etcd(pod: dict[str, Any]) -> bool:
    """OpenShift's etcd-pod.yaml: its namespace is the cluster-etcd-operator's."""
    meta = pod.get("metadata")
    return isinstance(meta, dict) and meta.get("namespace") == "openshift-etcd"


def _words(items: object) -> list[str]:
    return [str(w) for w in items] if isinstance(items, list) else []


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod's containers that are mappings."""
    spec = pod.get("spec")
    found = spec.get("containers") if isinstance(spec, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def container_env(container: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The container's `env` values, and a warning for each one not known from the manifest."""
    env: dict[str, str] = {}
    notes: list[str] = []
    for item in container.get("env") or []:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        name = str(item["name"])
        if "valueFrom" in item:
            if name.startswith("ETCD_"):
                notes.append(f"{name} is set at run time (valueFrom): its value is not known here")
            continue
        value = "" if item.get("value") is None else str(item["value"])
        env[name] = _k8s_expand(value, env)
    if container.get("envFrom"):
        notes.append("envFrom: variables from a ConfigMap or Secret are not known here")
    return env, notes


def _k8s_expand(word: str, env: dict[str, str]) -> str:
    # Kubernetes expands $(VAR) in command, args and env values; $$ escapes a $; a variable
    # it does not know stays as written.
    return re.sub(r"\$\$|\$\((\w+)\)", lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), word)


def find_container(
    pod: dict[str, Any], binary: str, origin: str
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """The container that runs `binary`: (container, the arguments it gets, its env)."""
    named = None
    for c in containers(pod):
        env, _ = container_env(c)
        command = [_k8s_expand(w, env) for w in _words(c.get("command"))]
        args = [_k8s_expand(w, env) for w in _words(c.get("args"))]
        found = invocation(binary, command + args, env) if command else None
        if found is None and not command and c.get("name") == binary:
            found = args  # no command: the image's entrypoint is the program
        if found is not None:
            return c, found, env
        if named is None and c.get("name") == binary:
            named = (c, command[1:] + args, env)
    if named is not None:
        return named
    raise KubeConfigError(f"{origin}: no {binary} container in this Pod")


def host_path(path: str, container: dict[str, Any], pod: dict[str, Any]) -> str:
    """Translate a path inside the container to the node's, through a hostPath volume."""
    if not path.startswith("/"):
        return path
    path = posixpath.normpath(path)
    best: tuple[str, dict[str, Any]] | None = None
    for mount in container.get("volumeMounts") or []:
        if not isinstance(mount, dict) or not mount.get("mountPath"):
            continue
        mount_path = posixpath.normpath(str(mount["mountPath"]))
        inside = path == mount_path or path.startswith(mount_path.rstrip("/") + "/")
        if inside and (best is None or len(mount_path) > len(best[0])):
            best = (mount_path, mount)
    if best is None:
        return path
    mount_path, mount = best
    spec = pod.get("spec") or {}
    volume = next(
        (
            v
            for v in spec.get("volumes") or []
            if isinstance(v, dict) and v.get("name") == mount.get("name")
        ),
        None,
    )
    volume_host = volume.get("hostPath") if volume else None
    host = volume_host.get("path") if isinstance(volume_host, dict) else None
    if not host:
        # An emptyDir or a PersistentVolume has no fixed place on the node: keep what etcd sees.
        return path
    rest = path[len(mount_path) :].lstrip("/")
    return posixpath.normpath(posixpath.join(str(host), str(mount.get("subPath") or ""), rest))


def config_file_path(text: str, origin: str) -> str:
    """The node's path of the config file the manifest's etcd reads, or ""."""
    pod = load_pod(text, origin)
    container, args, env = find_container(pod, "etcd", origin)
    given = parse_flags(args).get("config-file") or env.get("ETCD_CONFIG_FILE", "")
    return host_path(given, container, pod) if given else ""


def parse_etcd_manifest(text: str, origin: str, read_file: ReadFile | None = None) -> EtcdSettings:
    """An etcd static pod manifest → its settings, paths on the node.

    A manifest whose etcd reads a config file needs `read_file` to read it from the node.
    """
    pod = load_pod(text, origin)
    if is_openshift_etcd(pod):
        raise OperatorManaged(f"{origin}: OpenShift's etcd, {OPERATOR_NOTE}")
    container, args, env = find_container(pod, "etcd", origin)
    flags = parse_flags(args)
    env_values, notes = container_env(container)
    config_path = flags.get("config-file") or env.get("ETCD_CONFIG_FILE", "")
    config = None
    if config_path:
        on_node = host_path(config_path, container, pod)
        if read_file is None:
            raise KubeConfigError(f"{origin}: etcd reads its settings from {on_node}: give it too")
        config = config_file_flags(read_file(on_node), on_node)
        origin = f"{origin} + {on_node}"
    sources = Sources(flags, env_settings(env_values), config, config_path)
    return resolve(
        "static-pod",
        origin,
        sources,
        node_path=lambda p: host_path(p, container, pod),
        image=str(container.get("image") or ""),
        warnings=notes,
    )


def parse_apiserver_manifest(text: str, origin: str) -> ApiserverSettings:
    """A kube-apiserver static pod manifest → the etcd servers and client certificate it uses
    (paths on the node; `--etcd_servers` read as `--etcd-servers`, as kube-apiserver does)."""
    pod = load_pod(text, origin)
    container, args, _ = find_container(pod, "kube-apiserver", origin)
    flags = parse_flags(args, underscores=True)

    def on_node(key: str) -> str:
        value = flags.get(key, "")
        return host_path(value, container, pod) if value else ""

    return ApiserverSettings(
        origin=origin,
        etcd_servers=urls(flags.get("etcd-servers", "")),
        etcd_cafile=on_node("etcd-cafile"),
        etcd_certfile=on_node("etcd-certfile"),
        etcd_keyfile=on_node("etcd-keyfile"),
        image=str(container.get("image") or ""),
    )
