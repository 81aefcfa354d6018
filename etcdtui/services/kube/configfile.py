"""etcd's YAML config file (``--config-file``/``ETCD_CONFIG_FILE``): its settings as flags.

The keys are the flag names; TLS settings sit in ``client-transport-security`` and
``peer-transport-security`` tables (the peer ones become ``peer-cert-file`` and so on).
"""

from __future__ import annotations

from typing import Any

import yaml

from etcdtui.services.kube.settings import KubeConfigError


def yaml_error(origin: str, exc: yaml.YAMLError) -> KubeConfigError:
    """A YAML error as one line naming the file and, when known, the line."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return KubeConfigError(f"{origin}: not valid YAML{where}")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def config_mapping(text: str, where: str) -> dict[str, Any]:
    """The file's top-level mapping ({} for an empty file); KubeConfigError otherwise."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise yaml_error(where, exc) from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeConfigError(f"{where}: not an etcd config file (expected key: value settings)")
    return doc


def config_file_flags(text: str, where: str) -> dict[str, str]:
    """The settings of an etcd config file, keyed by flag name."""
    flags: dict[str, str] = {}
    for key, value in config_mapping(text, where).items():
        if key in ("client-transport-security", "peer-transport-security"):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise KubeConfigError(f"{where}: {key} must hold cert-file, key-file, ...")
            prefix = "peer-" if key.startswith("peer-") else ""
            flags.update({prefix + str(k): _scalar(v) for k, v in value.items() if v is not None})
        elif value is not None and not isinstance(value, dict):
            flags[str(key)] = _scalar(value)
    return flags
