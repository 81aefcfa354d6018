"""A real OpenSSH sshd per lab node, on its own port with its own host key."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from etcdtui.errors import LabError
from etcdtui.lab.procs import stop_processes

SSHD = "/usr/sbin/sshd"


def generate_keypair(private_path: Path, comment: str = "etcdtui-lab") -> str:
    """Write an OpenSSH ed25519 private key (0600) and its .pub; return the public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} {comment}"
    private_path.with_name(private_path.name + ".pub").write_text(line + "\n")
    return line


@dataclass(frozen=True)
class Sshd:
    """A running sshd: where it listens, its pid and its host key (as a known_hosts line)."""

    host: str
    port: int
    pid: int
    host_key: str  # "ssh-ed25519 AAAA..."

    @property
    def known_hosts_line(self) -> str:
        target = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{target} {self.host_key}"


def _sshd_config(
    port: int,
    host: str,
    host_key_path: Path,
    authorized_keys: Path,
    pid_file: Path,
    forwarding: bool,
    extra_config: str,
) -> str:
    """The lab sshd's configuration: keys only, root allowed, SFTP, nothing from PAM."""
    return (
        f"Port {port}\n"
        f"ListenAddress {host}\n"
        f"HostKey {host_key_path}\n"
        f"AuthorizedKeysFile {authorized_keys.resolve()}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\n"
        "StrictModes no\n"
        "UsePAM no\n"
        f"AllowTcpForwarding {'yes' if forwarding else 'no'}\n"
        f"PidFile {pid_file}\n"
        "LogLevel VERBOSE\n"
        # Snapshot copies to and from nodes use SFTP.
        "Subsystem sftp internal-sftp\n"
        # Every lab node logs in to this machine's own account, whose ~/.bashrc belongs to
        # the bastion, not to a node: bash runs it for each SSH command unless it believes
        # it is nested (SHLVL > 1). On a machine whose ~/.bashrc starts pyenv, that cost
        # 0.15 s of CPU and ~100 processes for every command.
        "SetEnv SHLVL=1\n"
        f"{extra_config}"
    )


def start_sshd(
    workdir: Path,
    port: int,
    authorized_keys: Path,
    host: str = "127.0.0.1",
    netns: str | None = None,
    extra_config: str = "",
    forwarding: bool = True,
) -> Sshd:
    """Start sshd on host:port with its files under workdir; wait until it accepts.

    `forwarding=False` sets ``AllowTcpForwarding no``, like a locked-down node."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    host_key_path = workdir / "ssh_host_ed25519_key"
    if not host_key_path.exists():
        generate_keypair(host_key_path, comment="")
    pid_file = workdir / "sshd.pid"
    config = workdir / "sshd_config"
    config.write_text(
        _sshd_config(port, host, host_key_path, authorized_keys, pid_file, forwarding, extra_config)
    )
    if not os.path.exists(SSHD):
        raise LabError(f"{SSHD} not found: install openssh-server")
    if os.geteuid() == 0:
        # Privilege separation directory; sshd refuses to start without it as root.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    pid_file.unlink(missing_ok=True)
    cmd = [SSHD, "-f", str(config), "-E", str(workdir / "sshd.log")]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    # sshd daemonises itself and re-executes itself: absolute paths everywhere.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    if proc.returncode != 0:
        raise LabError(f"sshd on {host}:{port} did not start: {proc.stderr.strip()[:200]}")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text().strip():
            pid = int(pid_file.read_text().strip())
            host_key = " ".join((workdir / "ssh_host_ed25519_key.pub").read_text().split()[:2])
            return Sshd(host=host, port=port, pid=pid, host_key=host_key)
        time.sleep(0.02)
    raise LabError(f"sshd on {host}:{port} wrote no pid file within 5 s (see {workdir}/sshd.log)")


def stop_pid(pid: int, timeout: float = 5.0) -> None:
    """Stop a process we started (resuming it first if frozen); SIGKILL after `timeout`."""
    stop_processes([pid], timeout)
