"""The restore's copy of the snapshot to each node: staged, checked, then renamed into place.

A copy cut short is simply made again, whole: the staging file is rewritten from the start,
and only a copy whose bytes hash to the planned sha256 takes the final name.
"""

from __future__ import annotations

import hashlib
import posixpath
import time
from pathlib import Path

from etcdtui.clients.ssh.shell import ShellPool, SshShell
from etcdtui.clients.stall import StallWatch, TransferStalled
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Step
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.restore.handlers import Outcome, q, run_on, tail
from etcdtui.runbooks.restore.kinds import CopyArgs
from etcdtui.snapshots.crypto import SnapshotKey, plaintext

CHUNK = 1 << 20


class SnapshotUpload:
    """The handler of the copy steps: the snapshot file (decrypted where it is encrypted) to
    each node over SFTP."""

    def __init__(
        self,
        connection: Connection,
        shells: ShellPool,
        snapshot_path: Path,
        key: SnapshotKey | None,
    ) -> None:
        self.connection = connection
        self.shells = shells
        self.snapshot_path = snapshot_path
        self.key = key

    def copy(self, step: Step, output: Output) -> Outcome:
        args = step.params(CopyArgs)
        node, shell = self.connection.node(args.node), self.shells.shell(args.node)
        started = time.monotonic()
        try:
            # No byte for the stall timeout (a link down, a frozen node) ends the copy, with
            # the same watchdog and words as a snapshot save's.
            with plaintext(self.snapshot_path, self.key) as clear, shell.transfer() as watch:
                failure, size = self._send(node, shell, clear, args, watch)
        except TransferStalled as exc:
            failure = f"copy to {node.name}:{args.remote} failed: {exc.message}"
        except Exception as exc:  # SFTP raises OSError and paramiko's SSHException
            failure = f"copy to {node.name}:{args.remote} failed: {exc}"
        if failure:
            return False, failure + self._discard(node, shell, args.remote)
        took = time.monotonic() - started
        return True, f"copied {human_bytes(size)} to {node.name}:{args.remote} in {took:.1f} s"

    def _send(
        self, node: NodeConfig, shell: SshShell, clear: Path, args: CopyArgs, watch: StallWatch
    ) -> tuple[str, int]:
        """SFTP `clear` to `args.remote` (staged, checked, renamed); (why it failed or "",
        bytes)."""
        remote, expected = args.remote, args.sha256
        sftp = shell.open_sftp()
        try:
            staging = _staging(node, remote, sftp.normalize("."))
            made = shell.run(f"umask 077 && : > {q(staging)}", timeout=30, sudo=False)
            if not made.ok:
                return f"cannot create {staging}: {tail(made)}", 0
            watch.touch()
            digest, size = hashlib.sha256(), 0
            with open(clear, "rb") as source, sftp.open(staging, "wb") as target:
                target.set_pipelined(True)
                while block := source.read(CHUNK):
                    digest.update(block)
                    target.write(block)
                    watch.touch()
                    size += len(block)
            if digest.hexdigest() != expected:
                return (
                    f"{self.snapshot_path} changed since the plan (sha256 "
                    f"{digest.hexdigest()[:16]}..., planned {expected[:16]}...)"
                ), size
            if sftp.stat(staging).st_size != size:
                return f"{staging} is not {size} bytes long after the copy", size
            watch.touch()
            if node.sudo:
                moved = run_on(
                    self.shells, node, f"mv -f {q(staging)} {q(remote)} && chmod 600 {q(remote)}"
                )
                if not moved.ok:
                    return tail(moved), size
            else:
                sftp.posix_rename(staging, remote)
        finally:
            sftp.close()
        return "", size

    def _discard(self, node: NodeConfig, shell: SshShell, remote: str) -> str:
        """Remove a failed copy's staging file (a plaintext snapshot); "" once it is gone,
        else the words saying where it may remain (the connection is gone)."""
        if shell.connected:
            try:
                home = shell.run("pwd", timeout=30, sudo=False).stdout.strip() or "."
                staging = _staging(node, remote, home)
                if shell.run(f"rm -f -- {q(staging)}", timeout=30, sudo=False).ok:
                    return ""
            except EtcdtuiError:
                pass
        return f"; its partial copy {_staging(node, remote, '~')} may remain on {node.name}"


def _staging(node: NodeConfig, remote: str, home: str) -> str:
    """Where a copy to `remote` is written before it is checked and renamed: beside it, or in
    the login user's `home` when the node uses sudo (SFTP writes as the login user)."""
    staging = remote + ".part"
    return posixpath.join(home, posixpath.basename(staging)) if node.sudo else staging
