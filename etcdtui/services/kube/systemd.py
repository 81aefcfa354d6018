"""How etcd runs under systemd, read from its unit, environment files and YAML config file.

The unit is what `systemctl cat etcd` prints (every fragment and drop-in); specifiers,
Environment=/EnvironmentFile= and $VAR expansion in ExecStart= follow systemd's rules, and the
settings are resolved as etcd resolves them (flags, then ETCD_* variables, or a config file
alone). As in `settings`, nothing here does I/O: the caller passes the text it has read.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import yaml

from etcdtui.services.kube.settings import (
    EtcdSettings,
    KubeConfigError,
    _argv_after,
    _etcd_settings,
    _expand,
    _yaml_error,
    parse_flags,
)

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _logical_lines(text: str) -> Iterator[str]:
    """Lines with backslash continuations joined, as systemd (and the shell) read them."""
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if pending and line.lstrip().startswith(("#", ";")):
            continue  # systemd ignores comment lines inside a continued line
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _strip_comment(value: str) -> str:
    # As the shell: '#' starts a comment only at the start of a word and outside quotes, so
    # ETCD_INITIAL_CLUSTER_TOKEN=a#b keeps its '#'.
    quote = ""
    for i, ch in enumerate(value):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or value[i - 1].isspace()):
            return value[:i]
    return value


def env_file_values(text: str) -> dict[str, str]:
    """KEY=value lines of an EnvironmentFile or /etc/default file; quotes undone as a shell does.

    Comments, blank lines, `export ` and anything that is not an assignment are ignored.
    """
    values: dict[str, str] = {}
    for raw in _logical_lines(text):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.fullmatch(key):
            continue
        try:
            words = shlex.split(_strip_comment(value))
        except ValueError:
            # An unbalanced quote: keep what is there rather than lose the whole file.
            words = [value.strip().strip("\"'")]
        values[key] = " ".join(words)
    return values


@dataclass
class _Unit:
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[str] = field(default_factory=list)
    exec_start: str = ""


def _specifiers(value: str, unit_name: str, hostname: str) -> str:
    # systemd's %n, %N, %p and %H (Debian's unit says EnvironmentFile=-/etc/default/%p);
    # any other specifier, or %H without a hostname, stays as written.
    stem = unit_name.rsplit(".", 1)[0]
    table = {"n": unit_name, "N": stem, "p": stem.split("@", 1)[0], "H": hostname, "%": "%"}
    return re.sub(r"%(.)", lambda m: table.get(m[1]) or m[0], value)


def _parse_unit(unit: str, origin: str, hostname: str = "") -> _Unit:
    """The [Service] settings that matter, across every fragment `systemctl cat` prints."""
    parsed = _Unit()
    unit_name = "etcd.service"
    section = ""
    for raw in _logical_lines(unit):
        line = raw.strip()
        # `systemctl cat` starts each fragment with "# /path"; a drop-in names its unit by
        # its directory (etcd.service.d), which %p and %N need.
        header = re.fullmatch(r"#\s*(/\S+\.(?:service|conf))", line)
        if header:
            section = ""
            path = header[1]
            unit_name = posixpath.basename(
                posixpath.dirname(path) if path.endswith(".conf") else path
            )
            unit_name = unit_name.removesuffix(".d")
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if section != "Service" or not sep:
            continue
        key, value = key.strip(), _specifiers(value.strip(), unit_name, hostname)
        if key == "Environment":
            if not value:
                parsed.environment.clear()  # an empty assignment resets the list
                continue
            try:
                assignments = shlex.split(value)
            except ValueError:
                raise KubeConfigError(
                    f"{origin}: unbalanced quotes in Environment={value}"
                ) from None
            for item in assignments:
                name, eq, val = item.partition("=")
                if eq and _ENV_KEY.fullmatch(name):
                    parsed.environment[name] = val
        elif key == "EnvironmentFile":
            if not value:
                parsed.environment_files.clear()
            else:
                parsed.environment_files.append(value.lstrip("-"))
        elif key == "ExecStart":
            # Empty resets (how drop-ins replace the command); etcd is not Type=oneshot, so
            # the last command is the one that runs.
            parsed.exec_start = value
    return parsed


def _exec_argv(parsed: _Unit, env: Mapping[str, str], origin: str) -> list[str]:
    command = parsed.exec_start
    prefix = re.match(r"[-@+!:]*", command)
    flags = prefix[0] if prefix else ""
    try:
        words = shlex.split(command[len(flags) :])
    except ValueError:
        raise KubeConfigError(f"{origin}: unbalanced quotes in ExecStart=") from None
    if "@" in flags and len(words) > 1:
        del words[1]  # `@/usr/bin/etcd name ...`: the second word is only argv[0]
    return _argv_after("etcd", _expand(words, env), env)


def _unit_env(parsed: _Unit | None, environment: Mapping[str, str] | None) -> dict[str, str]:
    # systemd: variables from EnvironmentFile= override those set with Environment=.
    return {**(parsed.environment if parsed else {}), **(environment or {})}


def unit_environment_files(unit: str) -> list[str]:
    """The EnvironmentFile= paths of a unit (`systemctl cat` output), optional '-' removed."""
    return list(_parse_unit(unit, "systemd unit").environment_files)


def unit_config_file(unit: str | None, environment: Mapping[str, str] | None = None) -> str:
    """The etcd config file the unit runs with (--config-file or ETCD_CONFIG_FILE), or ""."""
    parsed = _parse_unit(unit, "systemd unit") if unit is not None else None
    env = _unit_env(parsed, environment)
    if parsed is not None and parsed.exec_start:
        flag = parse_flags(_exec_argv(parsed, env, "systemd unit")).get("config-file")
        if flag:
            return flag
    return env.get("ETCD_CONFIG_FILE", "")


def _config_file_flags(text: str, where: str) -> dict[str, str]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(where, exc) from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeConfigError(f"{where}: not an etcd config file (expected key: value settings)")

    def scalar(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)

    flags: dict[str, str] = {}
    for key, value in doc.items():
        if key in ("client-transport-security", "peer-transport-security"):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise KubeConfigError(f"{where}: {key} must hold cert-file, key-file, ...")
            prefix = "peer-" if key.startswith("peer-") else ""
            flags.update({prefix + str(k): scalar(v) for k, v in value.items() if v is not None})
        elif value is not None and not isinstance(value, dict):
            flags[str(key)] = scalar(value)
    return flags


def parse_systemd_etcd(
    origin: str,
    unit: str | None = None,
    environment: Mapping[str, str] | None = None,
    config_yaml: str | None = None,
    *,
    hostname: str = "",
) -> EtcdSettings:
    """An etcd run by systemd → its settings, resolved the way etcd resolves them.

    `origin` names what was read (kept as given); `environment` is the merged content of the
    unit's environment files; `config_yaml` the text of the file `unit_config_file` names.
    Flags beat ETCD_* variables; a config file, when given, is all etcd reads (whether or not
    the unit names it). `hostname` fills the unit's %H (Debian sets ETCD_NAME=%H).
    """
    parsed = _parse_unit(unit, origin, hostname) if unit is not None else None
    if parsed is not None and not parsed.exec_start:
        raise KubeConfigError(f"{origin}: the unit has no ExecStart=, so etcd does not run from it")
    env = _unit_env(parsed, environment)
    cmdline = parse_flags(_exec_argv(parsed, env, origin)) if parsed is not None else {}
    config_path = cmdline.get("config-file") or env.get("ETCD_CONFIG_FILE", "")
    if config_yaml is not None:
        # etcd ignores every other flag and ETCD_* variable once it has a config file.
        flags = _config_file_flags(config_yaml, config_path or origin)
        return _etcd_settings("systemd", origin, flags)
    if config_path:
        raise KubeConfigError(f"{origin}: etcd reads {config_path}, whose content was not given")
    # ETCD_NAME → name: etcd maps every flag to ETCD_ + upper-case with '_'; empty values are unset.
    from_env = {
        k[len("ETCD_") :].lower().replace("_", "-"): v
        for k, v in env.items()
        if k.startswith("ETCD_") and v != ""
    }
    return _etcd_settings("systemd", origin, {**from_env, **cmdline})
