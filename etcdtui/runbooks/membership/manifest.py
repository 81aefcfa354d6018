"""A new member's etcd.yaml for a kubeadm (static-pod) node, made from a running member's.

kubeadm's own ``kubeadm join --control-plane`` writes this file; when etcdtui replaces a
member or adds one on a node that already has kubeadm's pki, it writes the same thing: the
survivor's manifest (image, TLS flags, probes, resources) with the per-member flags replaced,
``--initial-cluster`` set to the current members plus the new one and
``--initial-cluster-state=existing``, and the data volume pointed at the node's data dir.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from etcdtui.errors import EtcdtuiError

ADVERTISE_ANNOTATION = "kubeadm.kubernetes.io/etcd.advertise-client-urls"
# The flags whose files must exist on the new node before its etcd can start.
FILE_FLAGS = ("cert-file", "key-file", "trusted-ca-file", "peer-cert-file", "peer-key-file",
              "peer-trusted-ca-file")  # fmt: skip


def _etcd_container(pod: Any, origin: str) -> dict[str, Any]:
    if not isinstance(pod, dict) or pod.get("kind") != "Pod":
        raise EtcdtuiError(f"{origin}: not a Pod manifest")
    for container in pod.get("spec", {}).get("containers") or []:
        command = container.get("command") if isinstance(container, dict) else None
        if isinstance(command, list) and command and str(command[0]).endswith("etcd"):
            found: dict[str, Any] = container
            return found
    raise EtcdtuiError(f"{origin}: no etcd container")


def manifest_flags(text: str, origin: str) -> dict[str, str]:
    """The ``--flag=value`` arguments of the manifest's etcd command."""
    try:
        container = _etcd_container(yaml.safe_load(text), origin)
    except yaml.YAMLError as exc:
        raise EtcdtuiError(f"{origin}: not YAML ({str(exc).splitlines()[0]})") from None
    flags = {}
    for item in container["command"][1:]:
        text_item = str(item)
        if text_item.startswith("--"):
            name, equals, value = text_item[2:].partition("=")
            flags[name] = value if equals else "true"
    return flags


def new_member_manifest(
    text: str, origin: str, replace: Mapping[str, str], data_host_path: str
) -> str:
    """`text` (a running member's etcd.yaml) with the flags in `replace` set (added if
    missing), the advertise annotation updated, and the data volume at `data_host_path`."""
    try:
        pod = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EtcdtuiError(f"{origin}: not YAML ({str(exc).splitlines()[0]})") from None
    container = _etcd_container(pod, origin)
    command = [str(c) for c in container["command"]]
    pending = dict(replace)
    out = [command[0]]
    for item in command[1:]:
        name = item[2:].partition("=")[0] if item.startswith("--") else ""
        if name in pending:
            out.append(f"--{name}={pending.pop(name)}")
        else:
            out.append(item)
    out += [f"--{name}={value}" for name, value in pending.items()]
    container["command"] = out
    flags = {i[2:].partition("=")[0]: i.partition("=")[2] for i in out[1:] if i.startswith("--")}
    annotations = pod.setdefault("metadata", {}).get("annotations")
    if isinstance(annotations, dict) and ADVERTISE_ANNOTATION in annotations:
        annotations[ADVERTISE_ANNOTATION] = flags.get("advertise-client-urls", "")
    data_dir = flags.get("data-dir", "/var/lib/etcd")
    mounts = {m.get("name"): m.get("mountPath") for m in container.get("volumeMounts") or []}
    # The volume whose mount holds the data dir (kubeadm: mounted at it; or at a parent).
    holder, depth = None, -1
    for volume in pod.get("spec", {}).get("volumes") or []:
        host = volume.get("hostPath") if isinstance(volume, dict) else None
        mount = str(mounts.get(volume.get("name")) or "") if isinstance(host, dict) else ""
        inside = data_dir == mount or data_dir.startswith(mount.rstrip("/") + "/")
        if mount and inside and len(mount) > depth:
            holder, depth = host, len(mount)
    if holder is None or depth != len(data_dir):
        raise EtcdtuiError(
            f"{origin}: --data-dir={data_dir} is not itself a hostPath volume's mount: "
            "write the new member's manifest by hand"
        )
    holder["path"] = data_host_path
    return yaml.safe_dump(pod, sort_keys=False, default_flow_style=False)
