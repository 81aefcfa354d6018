"""The faults themselves, and what makes them land at a known moment: node-side commands that
hold (Hold), configs made for a scenario, sshd killed and restarted, a host key changed, a
netns link dropped, a tmpfs that fills at once, client certificates that etcd refuses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from etcdtui.config import dump_toml
from etcdtui.lab import LabInfo
from etcdtui.lab.sshd import generate_keypair, start_sshd
from etcdtui.lab.state import sshd_dir

from .helpers import Background, etcdctl, wait_until

# --- holds: a node-side command that stays running until the test lets it go --------------------

# A shell fragment for profile templates: mark "held", then wait while the hold file exists
# (at most 30 s, so a failed test leaves nothing running). {service} is the node's script.
HOLD_SHELL = (
    "touch {service}.held && i=0 && while [ -e {service}.hold ] && [ $i -lt 600 ]; "
    "do sleep 0.05; i=$((i+1)); done"
)


@dataclass(frozen=True)
class Hold:
    """A node-side command held at a known point: `.held` appears when it waits, and it
    waits while `.hold` exists."""

    base: str

    @property
    def hold_file(self) -> Path:
        return Path(self.base + ".hold")

    @property
    def held_file(self) -> Path:
        return Path(self.base + ".held")

    def arm(self) -> None:
        self.held_file.unlink(missing_ok=True)
        self.hold_file.touch()

    def wait_held(self, run: Background | None = None, timeout: float = 60.0) -> None:
        def check() -> bool:
            if run is not None and not run.running():
                raise AssertionError(f"etcdtui ended first: {run.stdout[-3000:]}{run.stderr}")
            return self.held_file.exists()

        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.base} was never held")
            time.sleep(0.01)

    def release(self) -> None:
        self.hold_file.unlink(missing_ok=True)


def node_hold(info: LabInfo, node: str) -> Hold:
    """The hold of HOLD_SHELL (or of a held_etcdctl) on `node`."""
    return Hold(info.node(node).service)


def held_etcdctl(info: LabInfo, node: str, folder: Path) -> str:
    """An etcdctl for `node` that runs the real one, then holds (see Hold) before it exits:
    a snapshot or a defrag that is still running when the test acts."""
    base = info.node(node).service
    script = folder / f"etcdctl-{node}"
    script.write_text(
        "#!/bin/sh\n"
        f'"{info.etcdctl}" "$@"\nrc=$?\n'
        f'touch "{base}.held"\ni=0\n'
        f'while [ -e "{base}.hold" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n'
        "exit $rc\n"
    )
    script.chmod(0o755)
    return str(script)


# --- configs made for a scenario ----------------------------------------------------------------


def write_config(
    info: LabInfo,
    path: Path,
    *,
    profile: dict[str, str] | None = None,
    node_vars: dict[str, dict[str, str]] | None = None,
    apiservers: Iterable[str] = (),
    cluster: dict[str, Any] | None = None,
) -> Path:
    """A copy of the lab's config with the lab profile's commands overridden, node vars set,
    `apiservers` marked as control-plane nodes and cluster keys replaced."""
    data = tomllib.loads(info.config_path.read_text())
    lab = data["clusters"][info.cluster]
    for name, values in (node_vars or {}).items():
        lab["nodes"][name].setdefault("vars", {}).update(values)
    for name in apiservers:
        lab["nodes"][name]["apiserver"] = True
    lab.update(cluster or {})
    if profile:
        data["profiles"] = {"lab": profile}
    path.write_text(dump_toml(data))
    path.chmod(0o600)
    return path


# Stand-ins for a kube-apiserver's commands: a marker file per node says what was asked.
APISERVER_PROFILE = {
    "apiserver_stop": "echo stopped >> {service}.apiserver",
    "apiserver_start": "echo started >> {service}.apiserver",
}


AFTER_SNAPSHOT = "faults/after-the-snapshot"  # written after the snapshot: a restore drops it


def restore_setup(info: LabInfo, tmp: Path, hold_at: str) -> tuple[Path, Path]:
    """A snapshot of the lab, AFTER_SNAPSHOT written after it, and a config for restoring
    it: node1 runs a stand-in kube-apiserver, and etcd's stop holds on node `hold_at` (see
    Hold; armed here). (snapshot, config)"""
    snapshot = tmp / "snap.db"
    etcdctl(info, "snapshot", "save", str(snapshot), node="node1")
    etcdctl(info, "put", AFTER_SNAPSHOT, "gone once restored")
    profile = {**APISERVER_PROFILE, "stop": "{service} stop && " + HOLD_SHELL}
    config = write_config(info, tmp / "restore.toml", profile=profile, apiservers=["node1"])
    node_hold(info, hold_at).arm()
    return snapshot, config


def apiserver_marks(info: LabInfo) -> list[str]:
    """What the stand-in kube-apiserver of node1 was asked, in order ("stopped", "started")."""
    marker = Path(info.node("node1").service + ".apiserver")
    return marker.read_text().split() if marker.exists() else []


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc, read now)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def comm(pid: int) -> str:
    """The process's command name ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --- faults: sshd, host keys, links, disks ------------------------------------------------------


def sshd_pid(info: LabInfo, node: str) -> int:
    """The pid of the node's listening sshd, from its pid file."""
    return int((sshd_dir(info.dir, node) / "sshd.pid").read_text().strip())


def kill_sshd(info: LabInfo, node: str) -> list[int]:
    """SIGKILL the node's sshd and every sshd serving a session (their shells get EOF)."""
    listener = sshd_pid(info, node)
    pids = [listener] + [p for p in children(listener) if comm(p).startswith("sshd")]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(Path(f"/proc/{p}").exists() and comm(p) for p in pids), 10,
               f"{node}'s sshd gone")  # fmt: skip
    return pids


def restart_sshd(info: LabInfo, node: str) -> int:
    """Start the node's sshd again (same port, same host key); its new pid."""
    lab_node = info.node(node)
    sshd = start_sshd(sshd_dir(info.dir, node), lab_node.ssh_port,
                      info.dir / "ssh" / "authorized_keys", host=lab_node.address,
                      netns=lab_node.netns)  # fmt: skip
    return sshd.pid


def host_key_of(info: LabInfo, node: str) -> str:
    """The host key the node's sshd presents now, "type base64"."""
    lab_node = info.node(node)
    transport = paramiko.Transport((lab_node.address, lab_node.ssh_port))
    try:
        transport.start_client(timeout=5)
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    finally:
        transport.close()


def change_host_key(info: LabInfo, node: str) -> str:
    """Give the node's sshd a new host key (as a reinstalled node has) and wait until it
    presents it; the new key."""
    path = sshd_dir(info.dir, node) / "ssh_host_ed25519_key"
    new = " ".join(generate_keypair(path, comment="").split()[:2])
    os.kill(sshd_pid(info, node), signal.SIGHUP)  # sshd re-executes itself and reads its keys
    wait_until(lambda: host_key_of(info, node) == new, 10, f"{node}'s new host key")
    return new


def veth_of(info: LabInfo, node: str) -> str:
    """The host end of a netns lab node's link."""
    state = json.loads((info.dir / "lab.json").read_text())
    veth: str = state["network"]["nodes"][node]["veth"]
    return veth


def set_link(info: LabInfo, node: str, up: bool) -> None:
    """Bring a netns lab node's link down (the node drops off the network) or up again."""
    subprocess.run(["ip", "link", "set", veth_of(info, node), "up" if up else "down"],
                   check=True, capture_output=True, timeout=20)  # fmt: skip


def mount_tmpfs(path: Path, size: str) -> None:
    """Mount a tmpfs of `size` (e.g. "256k") at `path`: a disk that fills at once."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                   check=True, capture_output=True, timeout=20)  # fmt: skip


def unmount(path: Path) -> None:
    """Unmount what is mounted at `path` (lazily, if a process still holds it); idempotent."""
    if subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0:
        subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True, timeout=20)


# --- certificates -------------------------------------------------------------------------------


def client_cert(
    folder: Path, name: str, ca: tuple[Path, Path] | None = None, expired: bool = False
) -> tuple[Path, Path]:
    """A client certificate and key (P-256) in `folder`: signed by `ca` (its cert and key
    files), or by a new CA of its own; valid now, or expired a day ago. (cert, key)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-other-ca")])
    else:
        ca_cert = x509.load_pem_x509_certificate(ca[0].read_bytes())
        loaded = serialization.load_pem_private_key(ca[1].read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        ca_key, ca_name = loaded, ca_cert.subject
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = (
        (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        if (expired)
        else (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)
    return cert_path, key_path
