"""`discover --inspect`: local copies of a node's files, read by the parsers discovery uses.

Files given together are read together: a unit's drop-ins, the environment files it names and
etcd's config file are folded into the unit (or the manifest) that uses them, matched by path
or, failing that, by file name; what nothing uses is reported on its own.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from etcdtui.errors import EtcdtuiError
from etcdtui.services.kube.filekinds import FileKind, detect_kind
from etcdtui.services.kube.pods import (
    OPERATOR_NOTE,
    OperatorManaged,
    parse_apiserver_manifest,
    parse_etcd_manifest,
)
from etcdtui.services.kube.settings import ApiserverSettings, EtcdSettings, KubeConfigError
from etcdtui.services.kube.systemd import (
    env_file_values,
    parse_systemd_etcd,
    unit_config_file,
    unit_environment_files,
)

_SUPPORTING = (FileKind.DROP_IN, FileKind.ENV_FILE, FileKind.ETCD_CONFIG)


@dataclass(frozen=True)
class Inspected:
    """One file's reading: the settings found, an operator's note, or why it failed."""

    path: str
    kind: FileKind | None = None
    etcd: EtcdSettings | None = None
    apiserver: ApiserverSettings | None = None
    note: str = ""
    error: str = ""


@dataclass
class _Given:
    """The files given, their kinds, and which supporting ones a main file has used."""

    paths: list[str]
    texts: dict[str, str]
    kinds: dict[str, FileKind]
    used: set[str] = dataclasses.field(default_factory=set)

    def find(self, node_path: str, kinds: Sequence[FileKind] = _SUPPORTING) -> str | None:
        """The given file standing for `node_path`: the same path, else the same name."""
        candidates = [p for p in self.paths if self.kinds.get(p) in kinds]
        for same in (lambda p: p == node_path, lambda p: _name(p) == _name(node_path)):
            match = next((p for p in candidates if same(p)), None)
            if match is not None:
                self.used.add(match)
                return match
        return None

    def read(self, origin: str) -> Callable[[str], str]:
        def read_file(node_path: str) -> str:
            found = self.find(node_path, (FileKind.ETCD_CONFIG,))
            if found is None:
                raise KubeConfigError(
                    f"{origin}: etcd reads its settings from {node_path}: give it too"
                )
            return self.texts[found]

        return read_file


def _name(path: str) -> str:
    return posixpath.basename(path)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KubeConfigError(f"{path}: cannot read it: {reason}") from None


def inspect_files(paths: Sequence[str], kind: FileKind | None = None) -> list[Inspected]:
    """Read and parse every file in `paths`, in order; each failure is a result too."""
    given = _Given(list(paths), {}, {})
    failed: dict[str, Inspected] = {}
    for path in paths:
        try:
            given.texts[path] = _read_text(path)
            given.kinds[path] = kind or detect_kind(path, given.texts[path])
        except KubeConfigError as exc:
            failed[path] = Inspected(path, error=str(exc))
    results: dict[str, Inspected] = {}
    for path in paths:
        if path in given.kinds and given.kinds[path] not in _SUPPORTING:
            results[path] = _inspect_one(path, given)
    for path in paths:
        if path in given.kinds and path not in results and path not in given.used:
            results[path] = _inspect_one(path, given)
    return [failed.get(p) or results[p] for p in paths if p in failed or p in results]


def _inspect_one(path: str, given: _Given) -> Inspected:
    kind = given.kinds[path]
    text = given.texts[path]
    try:
        if kind is FileKind.APISERVER:
            return Inspected(path, kind, apiserver=parse_apiserver_manifest(text, path))
        if kind is FileKind.STATIC_POD:
            return Inspected(path, kind, etcd=parse_etcd_manifest(text, path, given.read(path)))
        if kind is FileKind.ENV_FILE:
            return Inspected(
                path, kind, etcd=parse_systemd_etcd(path, environment=env_file_values(text))
            )
        if kind is FileKind.ETCD_CONFIG:
            return Inspected(path, kind, etcd=parse_systemd_etcd(path, config_yaml=text))
        return Inspected(path, kind, etcd=_unit(path, given))
    except OperatorManaged:
        return Inspected(path, kind, note=f"OpenShift's etcd, {OPERATOR_NOTE}")
    except EtcdtuiError as exc:
        return Inspected(path, kind, error=str(exc))
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        return Inspected(path, kind, error=f"{path}: not a usable file of kind {kind} ({exc})")


def _unit(path: str, given: _Given) -> EtcdSettings:
    """A unit with its drop-ins, environment files and config file, as `systemctl cat` shows."""
    unit_name = _name(path) if path.endswith(".service") else "etcd.service"
    drop_ins = sorted(
        (p for p in given.paths if given.kinds.get(p) is FileKind.DROP_IN and p != path),
        key=_name,
    )
    given.used.update(drop_ins)
    parts = [f"# /{unit_name}\n{given.texts[path]}"]
    parts += [f"# /{unit_name}.d/{i:03}.conf\n{given.texts[p]}" for i, p in enumerate(drop_ins)]
    unit = "\n".join(parts)
    environment: dict[str, str] = {}
    notes: list[str] = []
    origins = [path, *drop_ins]
    for wanted in unit_environment_files(unit):
        found = given.find(wanted, (FileKind.ENV_FILE,))
        if found is None:
            notes.append(f"EnvironmentFile {wanted} was not given: its variables are left out")
            continue
        environment |= env_file_values(given.texts[found])
        origins.append(found)
    config_path = unit_config_file(unit, environment)
    config_yaml = None
    if config_path:
        config_yaml = given.read(path)(config_path)
        origins.append(config_path)
    settings = parse_systemd_etcd(
        " + ".join(origins), unit=unit, environment=environment, config_yaml=config_yaml
    )
    return dataclasses.replace(settings, warnings=(*notes, *settings.warnings))


def inspected_json(item: Inspected) -> dict[str, Any]:
    """The JSON object `--inspect -w json` prints for one file."""
    out: dict[str, Any] = {"kind": str(item.kind) if item.kind else None, "file": item.path}
    if item.error:
        return out | {"error": item.error}
    if item.note:
        return out | {"managed_by": "cluster-etcd-operator", "note": item.note}
    if item.apiserver is not None:
        api = item.apiserver
        return out | {
            "etcd_servers": list(api.etcd_servers),
            "etcd_cafile": api.etcd_cafile,
            "etcd_certfile": api.etcd_certfile,
            "etcd_keyfile": api.etcd_keyfile,
        }
    etcd = item.etcd
    assert etcd is not None
    return out | {
        "name": etcd.name,
        "data_dir": etcd.data_dir,
        "client_urls": list(etcd.listen_client_urls),
        "advertise_client_urls": list(etcd.advertise_client_urls),
        "peer_urls": list(etcd.initial_advertise_peer_urls),
        "listen_peer_urls": list(etcd.listen_peer_urls),
        "initial_cluster": etcd.initial_cluster,
        "initial_cluster_state": etcd.initial_cluster_state,
        "cert_file": etcd.cert_file,
        "key_file": etcd.key_file,
        "trusted_ca_file": etcd.trusted_ca_file,
        "peer_cert_file": etcd.peer_cert_file,
        "peer_key_file": etcd.peer_key_file,
        "peer_trusted_ca_file": etcd.peer_trusted_ca_file,
        "client_cert_auth": etcd.client_cert_auth,
        "warnings": list(etcd.warnings),
    }


def inspected_lines(item: Inspected) -> list[str]:
    """The table `--inspect` prints for one file: a heading, then one setting a line."""
    values = inspected_json(item)
    lines = [f"{item.path} ({values.pop('kind')})"]
    values.pop("file")
    warnings = values.pop("warnings", [])
    for key, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        shown = ", ".join(value) if isinstance(value, list) else value
        lines.append(f"  {key:<22} {'' if shown is None else shown}")
    lines += [f"  warning: {w}" for w in warnings]
    return lines
