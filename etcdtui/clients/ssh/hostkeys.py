"""known_hosts verification for SSH connections: refuse unknown or changed host keys.

OpenSSH's rules, kept deliberately strict: a host is named ``host`` on port 22 and
``[host]:port`` otherwise; entries may be hashed (``|1|salt|hash``), comma-separated patterns
with ``*``/``?`` wildcards and ``!`` negation, or ``@revoked``. Host certificates
(``@cert-authority``) are not supported, so such hosts count as unknown.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from etcdtui.errors import HostKeyError

log = logging.getLogger(__name__)

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
_RSA_SIGNATURES = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
# Check-then-append must not interleave between threads connecting to new hosts at once.
_FILE_LOCK = threading.Lock()


@dataclass(frozen=True)
class KnownKey:
    """One key line from a known_hosts file that applies to the host being checked."""

    path: Path
    lineno: int
    key: paramiko.PKey
    revoked: bool = False

    @property
    def where(self) -> str:
        return f"{self.path}:{self.lineno}"


def host_key_name(hostname: str, port: int) -> str:
    """The name known_hosts uses for a host: ``host`` on port 22, else ``[host]:port``."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def describe(key: paramiko.PKey) -> str:
    """``ssh-ed25519 SHA256:...``, as OpenSSH prints a key."""
    return f"{key.get_name()} {key.fingerprint}"


def user_known_hosts(configured: str | None) -> Path:
    """The file that is read first and where accepted keys are appended."""
    if configured:
        return Path(os.path.expanduser(configured))
    return Path.home() / ".ssh" / "known_hosts"


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        return paramiko.HostKeys.hash_host(name, pattern) == pattern
    # Only * and ? are wildcards: fnmatch would misread "[host]:port" as a character class.
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()
    )
    return re.fullmatch(regex, name.lower()) is not None


def _names_match(patterns: Sequence[str], name: str) -> bool:
    matched = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if _pattern_matches(pattern[1:], name):
                return False  # a negated match excludes the host whatever else matches
        elif _pattern_matches(pattern, name):
            matched = True
    return matched


def read_known_keys(files: Sequence[Path], name: str) -> list[KnownKey]:
    """Every key (and revocation) in `files` that applies to the host `name`."""
    found: list[KnownKey] = []
    for path in files:
        if not path.is_file():
            continue  # missing, or a FIFO or device that would block the read: no keys
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue  # a missing or unreadable file holds no keys, as for ssh
        for lineno, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            revoked = False
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                if marker != "@revoked":
                    continue
                revoked = True
            try:
                entry = HostKeyEntry.from_line(line.strip(), lineno)
            except InvalidHostKey:
                entry = None
            if entry is None or entry.key is None:
                continue  # malformed or an unsupported key type: ssh skips these too
            if revoked or _names_match(entry.hostnames, name):
                found.append(KnownKey(path, lineno, entry.key, revoked))
    return found


def preferred_key_types(known: Sequence[KnownKey], supported: Sequence[str]) -> list[str]:
    """Ask for a key type we already know first, so a host with several keys matches ours."""
    wanted: list[str] = []
    for item in known:
        if item.revoked:
            continue
        kind = item.key.get_name()
        for algorithm in _RSA_SIGNATURES if kind == "ssh-rsa" else (kind,):
            if algorithm in supported and algorithm not in wanted:
                wanted.append(algorithm)
    return wanted + [t for t in supported if t not in wanted]


def check_host_key(
    node: str,
    name: str,
    key: paramiko.PKey,
    known_hosts: str | None,
    policy: str,
    accept_hint: str = 'host_key_policy = "accept-new"',
) -> None:
    """Accept `key` for host `name` or raise HostKeyError; with "accept-new", record new keys.
    `accept_hint` is the config setting that would accept it (a jump host has its own)."""
    user_file = user_known_hosts(known_hosts)
    files = [user_file]
    if SYSTEM_KNOWN_HOSTS.is_file():
        files.append(SYSTEM_KNOWN_HOSTS)
    with _FILE_LOCK:
        known = read_known_keys(files, name)
        for item in known:
            if item.revoked and item.key == key:
                raise HostKeyError(
                    f"{node}: the SSH host key of {name} ({describe(key)}) is REVOKED "
                    f"in {item.where}",
                    node=node,
                )
        current = [item for item in known if not item.revoked]
        if any(item.key == key for item in current):
            return
        if current:
            same_type = [i for i in current if i.key.get_name() == key.get_name()]
            old = (same_type or current)[0]
            raise HostKeyError(
                f"{node}: host key for {name} has CHANGED: it is now {describe(key)}, but "
                f"{old.where} has {describe(old.key)}; possible man-in-the-middle",
                hint=f"if the node was reinstalled, remove the old key with "
                f"ssh-keygen -R '{name}' -f {old.path}",
                node=node,
            )
        if policy != "accept-new":
            raise HostKeyError(
                f"{node}: unknown SSH host key for {name} ({describe(key)}); accept it with "
                f"{accept_hint} or add it to known_hosts",
                node=node,
            )
        _append(node, user_file, name, key)


def _append(node: str, path: Path, name: str, key: paramiko.PKey) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        existing = path.read_bytes() if path.is_file() else b""
        # A file edited by hand may lack its final newline; don't glue our line onto it.
        separator = "\n" if existing and not existing.endswith(b"\n") else ""
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"{separator}{name} {key.get_name()} {key.get_base64()}\n")
    except OSError as exc:
        raise HostKeyError(
            f"{node}: cannot record the host key of {name} in {path}: {exc.strerror or exc}",
            node=node,
        ) from None
    log.warning("%s: added SSH host key %s for %s to %s", node, describe(key), name, path)
