"""One runbook at a time per cluster: an etcd lease lock, and a lock file on this bastion.

Two engineers on two bastions must not defragment two members at once. Wherever the cluster
takes writes, a run creates ``/etcdtui/lock`` in etcd in one transaction (only if absent),
attached to a lease it keeps alive; the key says who holds it, and it vanishes with the lease
when the holder dies. A cluster that takes no writes (a NOSPACE alarm, lost quorum, a restore
that stops etcd) cannot hold that key, so every run also takes an flock on a file on this
bastion, keyed by the cluster's identity (config file and name): the kernel drops it when the
process dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import threading
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from etcdtui.clients.etcd import RESERVED_PREFIX, EtcdClient
from etcdtui.config import Connection
from etcdtui.config.identity import connection_key
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Plan, Verdict

LOCK_KEY = RESERVED_PREFIX + b"lock"
_HELD_HERE: dict[Path, int] = {}  # lock file -> id() of the RunLock of this process holding it
LEASE_TTL = 20  # seconds the key outlives a holder that stopped renewing it
KEEPALIVE_EVERY = 5.0


class Endpoints(Protocol):
    """What the lock needs of a cluster client: its endpoints and a client for each."""

    @property
    def endpoints(self) -> tuple[str, ...]: ...

    def client(self, endpoint: str) -> EtcdClient: ...


class LockHeld(EtcdtuiError):
    """Another run holds the cluster's lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as the key and the lock file record it."""

    user: str
    host: str
    pid: int
    runbook: str
    started: str
    cluster: str = ""
    machine: str = ""  # /etc/machine-id: two bastions may share a host name

    @classmethod
    def me(cls, runbook: str, cluster: str) -> Holder:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = f"uid {os.getuid()}"
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return cls(user, socket.gethostname(), os.getpid(), runbook, started, cluster,
                   _machine_id())  # fmt: skip

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Holder | None:
        try:
            data = json.loads(raw)
            fields = ("user", "host", "runbook", "started")
            user, host, runbook, started = (str(data[f]) for f in fields)
            return cls(user, host, int(data["pid"]), runbook, started,
                       str(data.get("cluster", "")), str(data.get("machine", "")))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return (
            f"{self.user}@{self.host} (pid {self.pid}) running {self.runbook} since {self.started}"
        )


def _machine_id() -> str:
    try:
        return Path("/etc/machine-id").read_text().strip()[:64]
    except OSError:
        return ""


def _stale(raw: bytes | None, path: Path, lock: object) -> bool:
    """A lock this bastion's own process took and died holding (its lease not yet expired):
    safe to take over, since the lock file proves no live run here holds it."""
    holder = Holder.decode(raw) if raw else None
    if holder is None or (holder.host, holder.machine) != (socket.gethostname(), _machine_id()):
        return False
    if holder.pid == os.getpid():
        # Ours, left by a run whose lease could not be revoked (quorum was lost as it ended),
        # unless another run of this process holds this cluster's lock file right now.
        return _HELD_HERE.get(path, id(lock)) == id(lock)
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _said(raw: bytes | None) -> str:
    if raw is None:
        return ""
    holder = Holder.decode(raw)
    return holder.describe() if holder else "another etcdtui (its record is unreadable)"


def lock_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "etcdtui" / "locks"


def local_lock_path(connection: Connection, root: Path | None = None) -> Path:
    """The lock file of `connection`'s cluster: its name, and a digest of where it is defined
    (two clusters named `lab` from two config files never share one)."""
    return (root or lock_root()) / f"{connection_key(connection)}.lock"


class RunLock:
    """The lock a run holds from its first step to the end of its verification.

    `use_etcd` False (a restore, a NOSPACE recovery) takes the local lock file only, and
    `local_reason` says why in the plan.
    """

    def __init__(
        self,
        connection: Connection,
        cluster: Endpoints | None,
        runbook: str,
        *,
        root: Path | None = None,
        use_etcd: bool = True,
        local_reason: str = "",
    ) -> None:
        self.connection = connection
        self.cluster = cluster
        self.runbook = runbook
        self.path = local_lock_path(connection, root)
        self.use_etcd = use_etcd and cluster is not None
        self.local_reason = local_reason
        self.lost = ""  # why the etcd lock was lost mid-run ("" while it holds)
        self._fd: int | None = None
        self._lease: tuple[EtcdClient, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- read-only: what the plan says ----------------------------------------------------

    def describe(self) -> str:
        local = f"the lock file {self.path}"
        if not self.use_etcd:
            return f"{local} only ({self.local_reason or 'etcd is not asked'})"
        return (
            f"the etcd lease lock {LOCK_KEY.decode()} (TTL {LEASE_TTL} s, kept alive) and "
            f"{local} (that file alone if the cluster refuses writes)"
        )

    def check(self) -> Check:
        """The preflight's view: FAIL naming the holder when another run holds the lock."""
        held = self._local_holder() or self._etcd_holder()
        if held:
            return Check("cluster lock free", Verdict.FAIL,
                         f"held by {held}: wait for it, or break it with --break-lock")  # fmt: skip
        return Check("cluster lock free", Verdict.PASS, f"the run holds {self.describe()}")

    def _local_holder(self) -> str:
        if self._fd is not None:
            return ""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            return f"? (cannot open {self.path}: {exc.strerror or exc})"
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _said(os.pread(fd, 4096, 0)) + " (on this bastion)"
        finally:
            os.close(fd)  # and with it our shared lock
        return ""

    def _etcd_holder(self) -> str:
        if not self.use_etcd or self._lease is not None:
            return ""
        for client in self._clients():
            try:
                raw = client.get(LOCK_KEY)
            except EtcdtuiError:
                continue
            return "" if _stale(raw, self.path, self) else _said(raw)
        return ""

    def _clients(self) -> list[EtcdClient]:
        if self.cluster is None:
            return []
        return [self.cluster.client(e) for e in self.cluster.endpoints]

    # --- taking and giving back -----------------------------------------------------------

    def acquire(self) -> str:
        """Take the lock; LockHeld naming the holder when another run has it. Returns what
        was taken, for the audit log."""
        me = Holder.me(self.runbook, self.connection.cluster)
        self._take_local(me)
        if not self.use_etcd:
            return self.describe()
        try:
            taken = self._take_etcd(me)
        except LockHeld:
            self.release()
            raise
        if taken:
            self._thread = threading.Thread(target=self._renew, name="etcdtui-lock", daemon=True)
            self._thread.start()
            return f"the etcd lease lock {LOCK_KEY.decode()} and the lock file {self.path}"
        return f"the lock file {self.path} only: {self.local_reason}"

    def _take_local(self, me: Holder) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise EtcdtuiError(f"cannot open the lock file {self.path}: {reason}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _said(os.pread(fd, 4096, 0))
            os.close(fd)
            raise LockHeld(
                f"cluster {self.connection.cluster} is locked by {holder} on this bastion",
                "wait for that run to end (the lock goes with its process)",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        self._fd = fd
        _HELD_HERE[self.path] = id(self)

    def _take_etcd(self, me: Holder) -> bool:
        """True with the key created; False when the cluster takes no writes (the local lock
        alone holds, and `local_reason` says why); LockHeld when another run has it."""
        errors: list[str] = []
        for client in self._clients():
            try:
                lease = client.lease_grant(LEASE_TTL)
            except EtcdtuiError as exc:
                errors.append(exc.message)
                continue
            try:
                existing = client.put_if_absent(LOCK_KEY, me.encode(), lease)
            except EtcdtuiError as exc:
                errors.append(exc.message)
                with contextlib.suppress(EtcdtuiError):
                    client.lease_revoke(lease)
                continue
            if existing is not None and _stale(existing, self.path, self):
                # A run of this bastion killed before it could revoke its lease: take over.
                client.delete(LOCK_KEY)
                existing = client.put_if_absent(LOCK_KEY, me.encode(), lease)
            if existing is not None:
                with contextlib.suppress(EtcdtuiError):
                    client.lease_revoke(lease)
                raise LockHeld(
                    f"cluster {self.connection.cluster} is locked by {_said(existing)}",
                    "wait for that run to end, or break the lock with --break-lock",
                )
            self._lease = (client, lease)
            return True
        self.local_reason = "the cluster takes no writes: " + (errors[-1] if errors else "?")
        return False

    def _renew(self) -> None:
        assert self._lease is not None
        first, lease = self._lease
        while not self._stop.wait(KEEPALIVE_EVERY):
            for client in [first, *(c for c in self._clients() if c is not first)]:
                try:
                    ttl = client.lease_keepalive(lease)
                except EtcdtuiError:
                    continue  # the next member may answer; the lease outlives a few misses
                if ttl <= 0:
                    self.lost = f"the lease of the etcd lock {LOCK_KEY.decode()} expired"
                    return
                break

    def release(self) -> None:
        """Give the lock back (idempotent): the lease revoked, which deletes the key."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=KEEPALIVE_EVERY + 5)
            self._thread = None
        if self._lease is not None:
            client, lease = self._lease
            self._lease = None
            with contextlib.suppress(EtcdtuiError):
                client.lease_revoke(lease)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if _HELD_HERE.get(self.path) == id(self):
            del _HELD_HERE[self.path]

    def holder(self) -> str:
        """Who holds the lock now ("" if nobody)."""
        return self._local_holder() or self._etcd_holder()

    def break_lock(self) -> str:
        """Delete the etcd lock key of a run that cannot give it back. A lock file held on
        this bastion belongs to a live process and is never broken."""
        local = self._local_holder()
        if local:
            raise EtcdtuiError(
                f"the lock is held by {local}: that process is alive",
                "stop it instead; its lock goes with it",
            )
        for client in self._clients():
            try:
                held = _said(client.get(LOCK_KEY))
                client.delete(LOCK_KEY)
            except EtcdtuiError:
                continue
            return f"broke the lock held by {held}" if held else "the lock was not held"
        raise EtcdtuiError("no member answered: the etcd lock could not be broken")


def with_lock(plan: Plan, lock: RunLock) -> Plan:
    """`plan` with the lock's preflight check, and a note saying which lock the run holds."""
    return replace(
        plan, checks=(*plan.checks, lock.check()), notes=(*plan.notes, f"lock: {lock.describe()}")
    )
