"""Real sshd processes, keys and ssh-agents on loopback for the SSH client tests."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from etcdtui.config import NodeConfig, SshTarget
from etcdtui.lab.ports import free_ports
from etcdtui.lab.sshd import Sshd, generate_keypair, start_sshd, stop_pid


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now, below the kernel's ephemeral range."""
    return free_ports(1, host)[0]


@dataclass(frozen=True)
class Keys:
    """A client key that the test sshds accept, and one they don't."""

    good: Path
    wrong: Path
    authorized_keys: Path


def make_keys(workdir: Path) -> Keys:
    workdir.mkdir(parents=True, exist_ok=True)
    authorized = workdir / "authorized_keys"
    authorized.write_text(generate_keypair(workdir / "id_good") + "\n")
    generate_keypair(workdir / "id_wrong")
    return Keys(workdir / "id_good", workdir / "id_wrong", authorized)


@contextmanager
def running_sshd(
    workdir: Path, keys: Keys, host: str = "127.0.0.1", extra_config: str = ""
) -> Iterator[Sshd]:
    """An sshd on a free port of `host`, stopped on exit."""
    sshd = start_sshd(
        workdir, free_port(host), keys.authorized_keys, host, extra_config=extra_config
    )
    try:
        yield sshd
    finally:
        stop_pid(sshd.pid)


def known_hosts_file(path: Path, *servers: Sshd) -> Path:
    path.write_text("".join(s.known_hosts_line + "\n" for s in servers))
    return path


def node_for(
    sshd: Sshd,
    keys: Keys,
    known_hosts: Path | None,
    name: str = "node1",
    sudo: bool = False,
    **ssh: object,
) -> NodeConfig:
    """A node reaching `sshd` as root with the good key; `ssh` overrides SshTarget fields."""
    fields: dict[str, object] = {
        "host": sshd.host,
        "port": sshd.port,
        "user": "root",
        "identity_file": str(keys.good),
        "known_hosts": str(known_hosts) if known_hosts else None,
        "connect_timeout": 3.0,
    }
    fields.update(ssh)
    return NodeConfig(name=name, ssh=SshTarget(**fields), sudo=sudo)  # type: ignore[arg-type]


@contextmanager
def ssh_agent(workdir: Path, *keys: Path) -> Iterator[str]:
    """A private ssh-agent holding `keys`; yields its socket path."""
    sock = workdir / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        for key in keys:
            subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True)
        yield str(sock)
    finally:
        agent.terminate()
        agent.wait(5)


def processes_with(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry))
    return found
