"""Reading a node's files over one SSH command: contents for config and certificates, modes
for the security checks (following symlinks, as etcd opens its files)."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from etcdtui.clients.shell import NodeShell
from etcdtui.errors import SshError


@dataclass(frozen=True)
class RemoteFile:
    """One file as the node showed it: its text, or why it could not be read."""

    path: str
    exists: bool
    text: str = ""
    error: str = ""


@dataclass(frozen=True)
class RemoteStat:
    """A path's permission bits and owner as ``stat`` reports them on the node."""

    path: str
    exists: bool
    mode: int = 0
    owner: str = ""
    kind: str = ""  # "regular file", "directory", ...


def _sections(output: str, marker: str) -> list[tuple[list[str], list[str]]]:
    """Split `output` at lines starting with `marker`: (header fields, body lines) each."""
    sections: list[tuple[list[str], list[str]]] = []
    for line in output.splitlines():
        if line.startswith(marker + " "):
            sections.append((line[len(marker) + 1 :].split(" ", 1), []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def _read_script(paths: Sequence[str], marker: str) -> str:
    return "; ".join(
        f"if [ -e {shlex.quote(p)} ]; then "
        f"if [ -r {shlex.quote(p)} ]; then echo {marker} file {shlex.quote(p)}; "
        f"cat -- {shlex.quote(p)}; echo; "
        f"else echo {marker} unreadable {shlex.quote(p)}; fi; "
        f"else echo {marker} missing {shlex.quote(p)}; fi"
        for p in paths
    )


def _parse_read(output: str, marker: str, paths: Sequence[str]) -> dict[str, RemoteFile]:
    found = {p: RemoteFile(p, exists=False, error="no answer") for p in paths}
    for (kind, *rest), body in _sections(output, marker):
        path = rest[0] if rest else ""
        if path not in found:
            continue  # a stat line (read_and_stat), or nothing of ours
        if kind == "file":
            text = "\n".join(body[:-1] if body and body[-1] == "" else body)
            found[path] = RemoteFile(path, exists=True, text=text)
        elif kind == "unreadable":
            why = "permission denied (set sudo = true for this node?)"
            found[path] = RemoteFile(path, exists=True, error=why)
        else:
            found[path] = RemoteFile(path, exists=False, error="no such file")
    return found


def _stat_script(paths: Sequence[str], marker: str) -> str:
    quoted = " ".join(shlex.quote(p) for p in paths)
    return (
        f"for p in {quoted}; do "
        f'if [ -e "$p" ]; then printf "%s stat " {marker}; stat -L -c "%a|%U|%F|%n" -- "$p"; '
        f'else echo "{marker} stat missing|||$p"; fi; done'
    )


def _parse_stat(output: str, marker: str, paths: Sequence[str]) -> dict[str, RemoteStat]:
    found = {p: RemoteStat(p, exists=False) for p in paths}
    prefix = f"{marker} stat "
    for line in output.splitlines():
        if not line.startswith(prefix):
            continue
        mode, owner, kind, path = [*line[len(prefix) :].split("|", 3), "", "", ""][:4]
        if path in found and mode != "missing":
            try:
                bits = int(mode, 8)
            except ValueError:
                continue
            found[path] = RemoteStat(path, exists=True, mode=bits, owner=owner, kind=kind)
    return found


def read_and_stat(
    shell: NodeShell,
    read: Sequence[str],
    stat: Sequence[str],
    *,
    sudo: bool | None = None,
    timeout: float = 15.0,
) -> tuple[dict[str, RemoteFile], dict[str, RemoteStat]]:
    """The text of the `read` paths and the modes of the `stat` paths, in one SSH command
    (each command costs a round trip and a login shell on the node)."""
    if not read and not stat:
        return {}, {}
    marker = f"@@etcdtui-{secrets.token_hex(6)}"
    parts = [_read_script(read, marker)] * bool(read) + [_stat_script(stat, marker)] * bool(stat)
    result = shell.run("; ".join(parts), timeout=timeout, sudo=sudo)
    if result.exit_code != 0 and marker not in result.stdout:
        raise SshError(
            f"reading files on {shell.node} failed: {result.stderr.strip()[:200]}", node=shell.node
        )
    return _parse_read(result.stdout, marker, read), _parse_stat(result.stdout, marker, stat)


def read_files(
    shell: NodeShell, paths: Sequence[str], *, sudo: bool | None = None, timeout: float = 15.0
) -> dict[str, RemoteFile]:
    """The text of every path in `paths` that exists on the node (one SSH command)."""
    return read_and_stat(shell, paths, (), sudo=sudo, timeout=timeout)[0]


def stat_paths(
    shell: NodeShell, paths: Sequence[str], *, sudo: bool | None = None, timeout: float = 15.0
) -> dict[str, RemoteStat]:
    """Mode, owner and type of each path (missing ones: exists=False), in one SSH command."""
    return read_and_stat(shell, (), paths, sudo=sudo, timeout=timeout)[1]
