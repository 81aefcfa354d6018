"""What kind of file a user points `discover --inspect` at, told from its content."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import yaml

from etcdtui.services.kube.commandline import invocation
from etcdtui.services.kube.pods import containers
from etcdtui.services.kube.settings import KubeConfigError


class FileKind(StrEnum):
    """The files discovery reads, by what they are."""

    STATIC_POD = "static-pod"
    APISERVER = "apiserver-manifest"
    SYSTEMD_UNIT = "systemd-unit"
    DROP_IN = "systemd-drop-in"
    ENV_FILE = "env-file"
    ETCD_CONFIG = "etcd-config"


_SECTION = re.compile(r"^\s*\[(Unit|Service|Install)\]\s*$", re.MULTILINE)
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=", re.MULTILINE)


def _runs(container: dict[str, Any], binary: str) -> bool:
    words = [str(w) for key in ("command", "args") for w in _listed(container.get(key))]
    return container.get("name") == binary or invocation(binary, words) is not None


def _listed(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _pod_kind(doc: dict[str, Any]) -> FileKind | None:
    found = containers(doc)
    if any(_runs(c, "kube-apiserver") for c in found):
        return FileKind.APISERVER
    if any(_runs(c, "etcd") for c in found):
        return FileKind.STATIC_POD
    return None


def detect_kind(path: str, text: str) -> FileKind:
    """The file's kind, from its content (and, for a systemd drop-in, its name)."""
    if _SECTION.search(text):
        has_exec = re.search(r"^\s*ExecStart\s*=", text, re.MULTILINE)
        if path.endswith(".conf") and not path.endswith(".service"):
            return FileKind.DROP_IN
        return FileKind.SYSTEMD_UNIT if has_exec or path.endswith(".service") else FileKind.DROP_IN
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Pod":
        kind = _pod_kind(doc)
        if kind is None:
            raise KubeConfigError(f"{path}: a Pod that runs neither etcd nor kube-apiserver")
        return kind
    if isinstance(doc, dict) and "kind" not in doc and "apiVersion" not in doc:
        return FileKind.ETCD_CONFIG
    if _ASSIGNMENT.search(text):
        return FileKind.ENV_FILE
    raise KubeConfigError(
        f"{path}: not a static pod manifest, systemd unit, environment file or etcd config "
        "file (give --kind to say which)"
    )
