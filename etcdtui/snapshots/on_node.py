"""`snapshot save --on-node`: etcdctl on the node writes the snapshot, SFTP brings it back.

Both halves are bounded by the stall timeout (see clients/stall): on the node, a small loop
prints the snapshot file's size whenever it grows (and a tick while sha256sum runs), so a
silent channel means a stalled link or a frozen etcd, never a long save; the SFTP copy back
touches its watchdog with every chunk.

The node's copy holds every secret of the cluster in plaintext. Its folder is recorded on the
bastion before it is made (leftovers.py) and forgotten once removed; a save that cannot
remove it says where it remains, and the next save that reaches the node removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import re
import secrets
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from etcdtui.clients.ssh.shell import SshShell
from etcdtui.clients.stall import TransferStalled
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdError, EtcdtuiError, SnapshotError, SshError, SshTimeout
from etcdtui.snapshots.crypto import SnapshotKey
from etcdtui.snapshots.leftovers import (
    FOLDER_PREFIX,
    LeftoverRecord,
    Note,
    left_note,
    removal_command,
    sweep,
)
from etcdtui.snapshots.sink import Progress, stream_to_file

CHUNK = 1024 * 1024
SAVE_TIMEOUT = 3600.0  # etcdctl on the node, whole; the stall timeout catches a dead link
COMMAND_TIMEOUT = 30.0
PROGRESS = "etcdtui-progress"
_SHA256 = re.compile(r"([0-9a-f]{64})\s")


def node_save_script(argv: list[str], remote: str) -> str:
    """The shell line that saves the snapshot to `remote` and prints its sha256.

    etcdctl runs in the background while the loop prints the size of its file (``.part``
    while written) each time it grew; sha256sum then runs with a tick a second. The exit
    code is etcdctl's if it failed. All one process group: killing it stops everything.
    """
    r = shlex.quote(remote)
    part = shlex.quote(remote + ".part")
    save = f"ETCDCTL_API=3 {shlex.join([*argv, 'snapshot', 'save', remote])} >/dev/null"
    # Fractions of a second where sleep takes them (GNU, busybox): the loop's last turn is
    # what a fast save waits for.
    return (
        f"nap='sleep 0.2'; $nap 2>/dev/null || nap='sleep 1'; "
        f"{save} & p=$!; l=; while kill -0 $p 2>/dev/null; do "
        f"s=$(stat -c %s {part} {r} 2>/dev/null | head -n 1); "
        f'if [ "$s" != "$l" ]; then echo "{PROGRESS} $s"; l=$s; fi; $nap; done; '
        f"wait $p || exit $?; "
        f"sha256sum {r} & p=$!; while kill -0 $p 2>/dev/null; do echo {PROGRESS}; $nap; "
        f"done; wait $p"
    )


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(PROGRESS)]
    for line in reversed(lines):
        if line.startswith("Error:"):
            return line.removeprefix("Error:").strip()
    return lines[-1][:300] if lines else "no output"


@dataclass
class NodeSave:
    """One save on one node; `run` returns (snapshot bytes, stored bytes, FILE's sha256)."""

    connection: Connection
    shell: SshShell
    node: NodeConfig
    record: LeftoverRecord
    note: Note
    stall: float

    def run(
        self, path: Path, key: SnapshotKey | None, progress: Progress, started: float
    ) -> tuple[int, int, str]:
        """Save on the node, copy back, compare sha256 on both ends, remove the node's copy."""
        cluster, name = self.connection.cluster, self.node.name
        # Connect first: a ShellPool's on_connect sweep must not see the folder recorded
        # below before it exists (it would forget it as already gone).
        self.shell.connect()
        sweep(self.shell, self.record, cluster, name, self.note)
        parent = posixpath.dirname(self.node.data_dir.rstrip("/")) or "/tmp"
        folder = posixpath.join(parent, FOLDER_PREFIX + secrets.token_hex(6))
        remote = posixpath.join(folder, "snapshot.db")
        self.record.add(cluster, name, folder)
        made = False
        try:
            made = self._make(folder, parent)
            node_digest = self._save(remote)
            total, size, digest, local = self._fetch(remote, path, key, progress, started)
            if local != node_digest:
                path.unlink(missing_ok=True)
                path.with_name(path.name + ".sha256").unlink(missing_ok=True)
                raise SnapshotError(
                    f"{path}: the copy's sha256 {local[:12]}… differs from the node's "
                    f"{node_digest[:12]}…: the copy was removed"
                )
            return total, size, digest
        finally:
            # A folder whose mkdir was cut short stays recorded: the next sweep finds out.
            try:
                if made:
                    self._clean(folder)
            finally:
                with contextlib.suppress(EtcdtuiError):  # the save's outcome comes first
                    self.record.release(cluster, name, folder)

    def _make(self, folder: str, parent: str) -> bool:
        quoted = shlex.quote(folder)
        made = self.shell.run(f"mkdir -m 700 -- {quoted}", timeout=COMMAND_TIMEOUT)
        if made.exit_code != 0:
            # Not made (or there already, then not ours): nothing of ours to remove.
            self.record.forget(self.connection.cluster, self.node.name, folder)
            reason = _last_error(made.stderr or made.stdout)
            raise EtcdError(f"{self.node.name}: cannot make a folder in {parent}: {reason}")
        return True

    def _save(self, remote: str) -> str:
        """etcdctl snapshot save on the node; the node's sha256 of the file."""
        node = self.node
        tls = self.connection.node_tls(node)
        endpoint = node.client_url_on_node
        argv = [node.vars.get("etcdctl", "etcdctl"), f"--endpoints={endpoint}"]
        for flag, value in (("--cacert", tls.cacert), ("--cert", tls.cert), ("--key", tls.key)):
            if value:
                argv.append(f"{flag}={value}")
        try:
            saved = self.shell.run(
                node_save_script(argv, remote), timeout=SAVE_TIMEOUT, stall=self.stall
            )
        except (TransferStalled, SshTimeout):
            raise
        except SshError:
            if self.shell.connected:
                raise
            raise SshError(
                f"{node.name}: the SSH connection dropped while etcdctl saved the snapshot "
                "on the node",
                node=node.name,
            ) from None
        if saved.exit_code != 0:
            raise EtcdError(
                f"{node.name}: etcdctl snapshot save failed: "
                f"{_last_error(saved.stderr or saved.stdout)}"
            )
        found = _SHA256.search(saved.stdout)
        if found is None:
            raise EtcdError(
                f"{node.name}: sha256sum printed no digest: {_last_error(saved.stdout)}"
            )
        return found.group(1)

    def _fetch(
        self,
        remote: str,
        path: Path,
        key: SnapshotKey | None,
        progress: Progress,
        started: float,
    ) -> tuple[int, int, str, str]:
        """SFTP the node's file into the sink: (bytes, stored, FILE's sha256, plain sha256)."""
        plain = hashlib.sha256()
        with self.shell.transfer(self.stall) as watch:
            sftp = self.shell.open_sftp()
            try:
                try:
                    expected = sftp.stat(remote).st_size
                except OSError as exc:
                    if exc.errno is None:
                        raise  # the connection, not the file: transfer() says which
                    raise SshError(
                        f"{self.node.name}: cannot read {remote}: {exc.strerror or exc}",
                        node=self.node.name,
                    ) from None
                watch.touch()

                def chunks() -> Iterator[bytes]:
                    got = 0
                    with sftp.open(remote, "rb") as handle:
                        handle.prefetch(expected)
                        while data := handle.read(CHUNK):
                            watch.touch()
                            plain.update(data)
                            got += len(data)
                            yield data
                    if expected is not None and got < expected:
                        # The node's copy is whole (it was checked before): SFTP ran dry
                        # because the connection went, which transfer() then says.
                        raise EOFError(f"SFTP read ended at {got} of {expected} bytes")

                total, size, digest = stream_to_file(
                    chunks(), path, key, progress, started, expected, remote
                )
            finally:
                sftp.close()
        return total, size, digest, plain.hexdigest()

    def _clean(self, folder: str) -> None:
        """Remove the node's copy now if the connection allows; else say where it remains.

        Never raises: the save's own outcome (or failure) is what the person must see.
        """
        cluster, name = self.connection.cluster, self.node.name
        if not self.shell.connected:
            # Dropped or stalled: reconnecting now would only add a wait (or fail with
            # "cannot connect", hiding why the save failed). The next save removes it.
            self.note(left_note(name, folder))
            return
        try:
            with self.shell.transfer(self.stall):
                result = self.shell.run(removal_command(folder), timeout=COMMAND_TIMEOUT)
            if result.exit_code == 0:
                self.record.forget(cluster, name, folder)
                return
        except EtcdtuiError:
            pass
        self.note(left_note(name, folder))
