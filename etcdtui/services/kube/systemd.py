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

from etcdtui.services.kube.commandline import invocation, systemd_expand
from etcdtui.services.kube.configfile import config_file_flags
from etcdtui.services.kube.settings import (
    EtcdSettings,
    KubeConfigError,
    Sources,
    env_settings,
    parse_flags,
    resolve,
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
    warnings: list[str] = field(default_factory=list)


def _unescape(text: str) -> str:
    # systemd-escape undone: "-" is "/", "\xNN" a byte.
    text = text.replace("-", "/")
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), text)


def _specifier_table(unit_name: str, node: Mapping[str, str]) -> dict[str, str]:
    stem = unit_name.rsplit(".", 1)[0]
    prefix, _, instance = stem.partition("@")
    table = {
        "n": unit_name,
        "N": stem,
        "p": prefix,
        "P": _unescape(prefix),
        "i": instance,
        "I": _unescape(instance),
        "f": "/" + _unescape(instance or prefix),
        "j": prefix.rsplit("-", 1)[-1],
        "J": _unescape(prefix.rsplit("-", 1)[-1]),
        "t": "/run",  # a system unit's runtime directory
        "%": "%",
    }
    # Known only from the node: %H hostname, %l its short form, %m machine id, %b boot id.
    table |= {k: v for k, v in node.items() if v}
    if node.get("H"):
        table.setdefault("l", node["H"].split(".", 1)[0])
    return table


def _specifiers(value: str, unit_name: str, node: Mapping[str, str], notes: list[str]) -> str:
    # systemd's specifiers (Debian's unit says EnvironmentFile=-/etc/default/%p and
    # Environment=ETCD_NAME=%H); one that cannot be known here stays as written, with a note.
    table = _specifier_table(unit_name, node)

    def fill(match: re.Match[str]) -> str:
        if match[1] in table:
            return table[match[1]]
        note = f"specifier {match[0]} in {unit_name} is not known here: left as written"
        if note not in notes:
            notes.append(note)
        return match[0]

    return re.sub(r"%(.)", fill, value)


def _parse_unit(unit: str, origin: str, node: Mapping[str, str] | None = None) -> _Unit:
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
        key, value = key.strip(), _specifiers(value.strip(), unit_name, node or {}, parsed.warnings)
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
    words = systemd_expand(words, env)
    found = invocation("etcd", words, env)
    return words[1:] if found is None else found


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


def parse_systemd_etcd(
    origin: str,
    unit: str | None = None,
    environment: Mapping[str, str] | None = None,
    config_yaml: str | None = None,
    *,
    hostname: str = "",
    node: Mapping[str, str] | None = None,
) -> EtcdSettings:
    """An etcd run by systemd → its settings, resolved the way etcd resolves them.

    `origin` names what was read (kept as given); `environment` is the merged content of the
    unit's environment files; `config_yaml` the text of the file `unit_config_file` names.
    Flags beat ETCD_* variables; a config file, when given, is all etcd reads (whether or not
    the unit names it; see settings.given_settings). `hostname` fills the unit's %H (Debian
    sets ETCD_NAME=%H); `node` the other specifiers known from the node (%m, %b).
    """
    known = {**(node or {}), **({"H": hostname} if hostname else {})}
    parsed = _parse_unit(unit, origin, known) if unit is not None else None
    if parsed is not None and not parsed.exec_start:
        raise KubeConfigError(f"{origin}: the unit has no ExecStart=, so etcd does not run from it")
    env = _unit_env(parsed, environment)
    cmdline = parse_flags(_exec_argv(parsed, env, origin)) if parsed is not None else {}
    config_path = cmdline.get("config-file") or env.get("ETCD_CONFIG_FILE", "")
    config = None
    if config_yaml is not None:
        config = config_file_flags(config_yaml, config_path or origin)
    elif config_path:
        raise KubeConfigError(f"{origin}: etcd reads {config_path}, whose content was not given")
    sources = Sources(cmdline, env_settings(env), config, config_path)
    notes = parsed.warnings if parsed is not None else []
    return resolve("systemd", origin, sources, warnings=notes)
