"""Snapshot save: from a healthy follower, by the fastest route available, checked on arrival.

Routes, in order of preference (the gateway base64-encodes every chunk into JSON, which halves
the throughput, whatever the client does):

- ``etcdctl`` on the bastion when it is installed and the members are reached directly: it
  reads etcd's gRPC stream; etcdtui follows the file as etcdctl writes it, hashing as it goes;
- the gRPC-JSON gateway otherwise (also through SSH tunnels), straight into the sink;
- ``--on-node NODE``: etcdctl on that node over SSH, then SFTP back, sha256 compared on both
  ends (snapshots/on_node.py).

Every route is bounded by the stall timeout (clients/stall): no byte for N seconds ends the
save with one line saying so, however long a healthy save may take.

The CLI and the Backups screen both save through `runbooks.snapshot_save.save_recorded`, which
journals the save as the runbook engine journals a step.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.stall import stall_message, stall_seconds
from etcdtui.config import Connection
from etcdtui.errors import EtcdError, EtcdTimeout, UsageError
from etcdtui.models import ClusterView, MemberView
from etcdtui.snapshots.etcdctl_stream import EtcdctlStream
from etcdtui.snapshots.leftovers import LeftoverRecord, Note
from etcdtui.snapshots.sink import Progress, check_target, stream_to_file

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.snapshots.crypto import SnapshotKey

# (member name, route): the save is about to read its first byte
OnStart = Callable[[str, str], None]
# A view of the cluster read this recently (the plan's, a moment before) picks the member.
VIEW_REUSE = 5.0


@dataclass(frozen=True)
class SaveResult:
    """What a save produced, for the CLI, the TUI and the audit log."""

    path: Path
    size: int  # bytes stored (ciphertext when encrypted)
    snapshot_size: int  # bytes of the snapshot itself
    sha256: str
    seconds: float
    member: str
    endpoint: str
    route: str
    encrypted: bool

    @property
    def rate(self) -> float:
        """Bytes per second of snapshot data."""
        return self.snapshot_size / self.seconds if self.seconds > 0 else 0.0


def choose_member(view: ClusterView, wanted: str | None) -> MemberView:
    """The member to take the snapshot from: `wanted`, else a healthy follower, else the
    healthy leader (a snapshot costs the member disk reads and bandwidth, not its quorum)."""
    members = [m for m in view.members if m.endpoint]
    if wanted:
        for member in members:
            if wanted in (member.name, member.endpoint):
                if not member.reachable:
                    raise UsageError(f"member {wanted} is not reachable: {member.problem}")
                return member
        names = ", ".join(m.name for m in members) or "none"
        raise UsageError(f"no member named {wanted!r} (members: {names})")
    healthy = [m for m in members if m.healthy and not m.is_learner]
    followers = [m for m in healthy if not m.is_leader]
    if followers:
        return followers[0]
    if healthy:
        return healthy[0]
    # Say why: every member's own problem (an expired client certificate, say), or the
    # cluster's, rather than only that none was healthy.
    problems = sorted({m.problem for m in members if m.problem}) or [view.error or "unknown"]
    raise EtcdError(
        f"no healthy member to take a snapshot from: {'; '.join(problems)}",
        hint="see etcdtui status",
    )


def find_etcdctl() -> str | None:
    """etcdctl on the bastion's PATH, or None (then the gateway is used)."""
    return shutil.which("etcdctl")


def direct_etcdctl(connection: Connection) -> str | None:
    """The bastion's etcdctl when a save will use it (direct connections only), else None."""
    direct = not connection.via_ssh and not connection.certs_on_node
    return find_etcdctl() if direct else None


def reader_for(connection: Connection, shells: ShellPool | None = None) -> ClusterClient:
    """The cluster client a save picks its member with.

    Where etcdctl will stream the snapshot, it also reads the members (etcdctl on the bastion
    through a LocalShell): a one-shot save then never imports etcd3-py, which is most of what
    it costs before the first byte. Otherwise the usual client (direct or through SSH).
    """
    etcdctl = direct_etcdctl(connection)
    if etcdctl is None:
        from etcdtui.clients.via_ssh import open_cluster

        return open_cluster(connection, shells)
    from etcdtui.clients.etcdctl import EtcdctlClient
    from etcdtui.clients.local_shell import LocalShell

    here = LocalShell()
    return ClusterClient(
        connection,
        client_factory=lambda url: EtcdctlClient(url, here, node_endpoint=url, etcdctl=etcdctl,
                                                 tls=connection.tls,
                                                 timeout=connection.timeout),
    )  # fmt: skip


class SnapshotSaver:
    """Saves one snapshot of `connection`'s cluster to a file on the bastion."""

    def __init__(
        self,
        connection: Connection,
        cluster: ClusterClient,
        *,
        shells: ShellPool | None = None,
        etcdctl: str | None = None,
        stall: float | None = None,
        leftovers: LeftoverRecord | None = None,
    ) -> None:
        self.connection = connection
        self.cluster = cluster
        self.shells = shells
        self.etcdctl = etcdctl if etcdctl is not None else find_etcdctl()
        # No byte for this long and a save gives up (default: stall_seconds()).
        self.stall = stall if stall is not None else stall_seconds()
        self.leftovers = leftovers or LeftoverRecord()
        self._view: tuple[float, ClusterView] | None = None

    def read_view(self) -> ClusterView:
        """The cluster as a save needs it: reachable members, their leader and alarms (no
        linearizable read per member, no metrics).

        A view read in the last VIEW_REUSE seconds is reused: the plan's choice of member is
        then the member the save reads, without a second round of calls before the stream.
        """
        now = time.monotonic()
        if self._view is not None and now - self._view[0] < VIEW_REUSE:
            return self._view[1]
        view = self.cluster.read(metrics=False, health=False)
        self._view = (time.monotonic(), view)
        return view

    def route_for(self, key: SnapshotKey | None, size: int | None = None) -> str:
        """How the stream will be read, in words (shown before it starts)."""
        direct = not self.connection.via_ssh and not self.connection.certs_on_node
        if self.etcdctl and direct and (key is None or _ram_folder(size) is not None):
            return f"etcdctl on the bastion ({self.etcdctl})"
        return "etcd's gRPC-JSON gateway" + (" through SSH" if self.connection.via_ssh else "")

    def save(
        self,
        path: Path,
        member: str | None = None,
        key: SnapshotKey | None = None,
        on_progress: Progress | None = None,
        on_start: OnStart | None = None,
    ) -> SaveResult:
        """Save a snapshot of `member` (default: a healthy follower) to `path`.

        With a key the plaintext never reaches a disk: etcdctl writes into RAM (/dev/shm)
        when it has room for the database, else the gateway stream is encrypted as it comes.
        `on_start(member, route)` runs once the member is chosen, before any file is made or
        any byte of the snapshot is read; if it raises, nothing is saved.
        """
        path = path.expanduser().absolute()
        check_target(path)
        source = choose_member(self.read_view(), member)
        expected = source.status.db_size if source.status else None
        progress = on_progress or (lambda done, total, seconds: None)
        route = self.route_for(key, expected)
        if on_start is not None:
            on_start(source.name, route)
        started = time.monotonic()
        if route.startswith("etcdctl"):
            assert self.etcdctl is not None
            stream = EtcdctlStream(self.etcdctl, source.endpoint, self.connection,
                                   source.name, self.stall)  # fmt: skip
            if key is None:
                size, digest = stream.save_plain(path, progress, started, expected)
                total = size
            else:
                ram = _ram_folder(expected)
                assert ram is not None
                chunks = stream.chunks(ram)
                total, size, digest = stream_to_file(chunks, path, key, progress, started,
                                                     expected, source.endpoint)  # fmt: skip
        else:
            client = self.cluster.client(source.endpoint)
            chunks = _stall_named(
                client.snapshot_chunks(self.stall),  # type: ignore[attr-defined]
                source.name,
                self.stall,
            )
            total, size, digest = stream_to_file(chunks, path, key, progress, started, expected,
                                                 source.endpoint)  # fmt: skip
        return SaveResult(
            path=path,
            size=size,
            snapshot_size=total,
            sha256=digest,
            seconds=time.monotonic() - started,
            member=source.name,
            endpoint=source.endpoint,
            route=route,
            encrypted=key is not None,
        )

    def save_on_node(
        self,
        path: Path,
        node_name: str,
        key: SnapshotKey | None = None,
        on_progress: Progress | None = None,
        on_start: OnStart | None = None,
        on_note: Note | None = None,
    ) -> SaveResult:
        """etcdctl snapshot save on the node, then SFTP back; sha256 compared on both ends.

        The node's copy (every secret of the cluster) is removed once it has arrived; where
        it cannot be, `on_note` gets one line saying where it remains (and the next save that
        reaches the node removes it; it also gets a line for each such removal).
        `on_start(member, route)` runs before anything is made on the node (see `save`).
        """
        # Here, not at the top: on_node imports paramiko, which a save from the
        # bastion never needs.
        from etcdtui.snapshots.on_node import NodeSave

        path = path.expanduser().absolute()
        check_target(path)
        if self.shells is None:
            raise UsageError("--on-node needs the config's nodes")
        node = self.connection.node(node_name)
        shell = self.shells.shell(node.name)
        endpoint = node.client_url_on_node
        if not endpoint:
            raise UsageError(f"node {node.name} has no client URL in the config")
        progress = on_progress or (lambda done, total, seconds: None)
        route = f"etcdctl on {node.name}, then SFTP"
        if on_start is not None:
            on_start(node.member_name, route)
        started = time.monotonic()
        job = NodeSave(self.connection, shell, node, self.leftovers,
                       on_note or (lambda line: None), self.stall)  # fmt: skip
        total, size, digest = job.run(path, key, progress, started)
        return SaveResult(path=path, size=size, snapshot_size=total, sha256=digest,
                          seconds=time.monotonic() - started, member=node.member_name,
                          endpoint=endpoint, route=route,
                          encrypted=key is not None)  # fmt: skip


def _stall_named(chunks: Iterator[bytes], member: str, seconds: float) -> Iterator[bytes]:
    """The gateway stream, whose read timeout is the stall timeout, saying so once it has
    started (before its first chunk, a failure is the member's or the tunnel's to explain).

    requests reports a read timeout in mid-stream as a connection error, so the clock
    decides: a failure after `seconds` without a chunk is the stall.
    """
    last: float | None = None
    try:
        for chunk in chunks:
            last = time.monotonic()
            yield chunk
    except EtcdError as exc:
        if last is None or time.monotonic() - last < seconds:
            raise
        raise EtcdTimeout(stall_message(member, seconds), endpoint=exc.endpoint) from None


def _ram_folder(size: int | None) -> Path | None:
    """/dev/shm if it can hold a database of `size` bytes with room to spare, else None."""
    shm = Path("/dev/shm")
    if size is None or not shm.is_dir() or not os.access(shm, os.W_OK | os.X_OK):
        return None
    return shm if shutil.disk_usage(shm).free > size * 1.5 + (64 << 20) else None
