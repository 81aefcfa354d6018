"""The restore's journal: what a run planned, which steps finished, where it left the data.

One JSON file per cluster and run, `$XDG_STATE_HOME/etcdtui/restore/<key>/<run>.json`
(`~/.local/state/...` when unset or relative; `<key>` is the cluster's identity, its name and a
digest of its config file: see config/identity.py), replaced atomically (written beside, fsynced,
renamed) before and after every step, so a run cut short by a dropped SSH connection, a failed
step or a killed process can be shown, continued or rolled back. It holds paths, the plan and
the new cluster token: never the snapshot's key or passphrase.

Journals written before the key held the config file live under the name alone
(`restore/<cluster>/`): they are still found, for the cluster of the same name and config.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etcdtui.config import Connection
from etcdtui.config.identity import cluster_key, legacy_folder_name
from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.models.runbook import Step

FORMAT = 1
RESTORE, ROLLBACK = "restore", "rollback"
# status: "running" until the last step of its mode finishes, or "stopped" after a failure;
# "abandoned" when a person has settled it by hand (abandon()).
FINISHED, ROLLED_BACK, ABANDONED = "finished", "rolled-back", "abandoned"
RUNNING = "running"
# How a "running" journal whose process is gone is shown: killed, or its machine restarted.
INTERRUPTED = "interrupted (pid gone)"


class JournalError(EtcdtuiError):
    """The restore journal cannot be written or read: the restore must not go on blind."""


@dataclass(frozen=True)
class RestoreOptions:
    """How to restore; the defaults suit a kubeadm cluster."""

    nodes: tuple[str, ...] = ()  # node names to restore; default: the current members
    token: str = ""  # --initial-cluster-token; default a new etcdtui-restore-<run>
    bump_revision: int = 1_000_000_000  # where every node's tool supports it; 0: never
    stop_timeout: float = 60.0  # for every member to stop answering
    healthy_timeout: float = 90.0  # for the restored cluster to elect a leader
    command_timeout: float = 900.0  # one node-side command (a restore of a big snapshot)
    probe_timeout: float = 30.0  # the preflight's questions to each node
    apiserver_timeout: float = 120.0  # for each kube-apiserver to serve again (/readyz)
    state_root: Path | None = None  # journals; default $XDG_STATE_HOME/etcdtui/restore
    force_foreign: bool = False  # restore a snapshot whose members are not this cluster's


@dataclass(frozen=True)
class NodePaths:
    """Where a run puts things on one node (all beside its data dir, on the same disk)."""

    node: str
    member: str  # the member restored there ("" for a node that only runs an apiserver)
    data_dir: str
    snapshot: str = ""  # the snapshot's copy on the node
    restored: str = ""  # where the restore writes the new data dir
    before: str = ""  # where the old data dir is moved aside
    rolled_back: str = ""  # where a rollback moves the restored data dir aside
    had_data: bool = True  # the node had a data dir (with member/) before the restore
    apiserver: bool = False  # a kube-apiserver runs there: stopped first, started last

    @classmethod
    def for_run(
        cls, node: str, member: str, data_dir: str, run: str, had_data: bool, apiserver: bool
    ) -> NodePaths:
        base = data_dir.rstrip("/") or data_dir
        return cls(
            node=node,
            member=member,
            data_dir=base,
            snapshot=f"{base}.etcdtui-restore-{run}.db",
            restored=f"{base}.etcdtui-restored-{run}",
            before=f"{base}.etcdtui-before-restore-{run}",
            rolled_back=f"{base}.etcdtui-rolled-back-{run}",
            had_data=had_data,
            apiserver=apiserver,
        )


@dataclass(frozen=True)
class SnapshotFacts:
    """The snapshot as preflight verified it; a resumed copy must match `sha256`."""

    path: str
    sha256: str  # of the plaintext (what lands on the nodes)
    size: int  # of the plaintext
    revision: int
    total_keys: int  # every bucket's keys (etcdctl's TOTAL KEYS)
    live_keys: int  # user keys alive at `revision`: what the restored cluster must count
    hash: int
    cluster_version: str
    digest: str  # "ok" (etcd's sha256 trailer) or "absent" (a copied member/snap/db)
    encrypted: bool
    members: tuple[str, ...] = ()  # "name=peer URL" of the cluster the snapshot came from


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


@dataclass
class RestoreState:
    """One restore run as its journal holds it (mutable: it follows the run)."""

    cluster: str
    run: str
    snapshot: SnapshotFacts
    token: str
    nodes: tuple[NodePaths, ...]
    steps: tuple[Step, ...]  # the restore's plan, in order
    done: list[str] = field(default_factory=list)  # restore steps that finished
    mode: str = RESTORE  # what runs now: the restore, or its rollback
    status: str = "running"  # running, stopped, finished, rolled-back
    current: str = ""  # a step started and not finished: cut short, maybe half done
    cut_short: str = ""  # the restore step cut short, once a rollback has begun
    error: str = ""  # why the run stopped
    rollback_steps: tuple[Step, ...] = ()
    rollback_done: list[str] = field(default_factory=list)
    before_revision: int | None = None  # the live cluster at plan time, when it answered
    before_keys: int | None = None
    bump: int = 0  # --bump-revision given to the restore (0: none)
    started: str = field(default_factory=_now)
    updated: str = ""
    user: str = field(default_factory=_login)
    host: str = field(default_factory=socket.gethostname)
    source: str = ""  # the config file the cluster came from
    # The process that last wrote the journal while running it, and its host: a "running"
    # journal whose process is gone was interrupted (a pid means nothing on another host).
    pid: int = 0
    pid_host: str = ""
    path: Path | None = None  # where the journal lives (not written into it)

    @property
    def pending(self) -> bool:
        """Neither finished nor rolled back: it can be continued or rolled back."""
        return self.status not in (FINISHED, ROLLED_BACK, ABANDONED)

    @property
    def shown_status(self) -> str:
        """The status as a person should read it: a "running" run whose process is gone
        (killed, or its bastion restarted) is shown as interrupted."""
        if self.status != RUNNING or not self.pid:
            return self.status  # a journal written before pids were recorded: as it says
        if self.pid_host != socket.gethostname():
            return f"{RUNNING} (pid {self.pid} on {self.pid_host}: not checked from here)"
        return f"{RUNNING} (pid {self.pid})" if pid_alive(self.pid) else INTERRUPTED

    @property
    def active_steps(self) -> tuple[Step, ...]:
        return self.rollback_steps if self.mode == ROLLBACK else self.steps

    @property
    def active_done(self) -> list[str]:
        return self.rollback_done if self.mode == ROLLBACK else self.done

    def remaining(self) -> tuple[Step, ...]:
        """The steps of the current mode that have not finished, in order."""
        done = set(self.active_done)
        return tuple(s for s in self.active_steps if s.id not in done)

    def touched(self) -> set[str]:
        """Restore steps that finished or were started (a cut-short step may be half done)."""
        cut = self.current if self.mode == RESTORE else self.cut_short
        return set(self.done) | ({cut} if cut else set())

    def node(self, name: str) -> NodePaths:
        return next(n for n in self.nodes if n.node == name)

    def members(self) -> tuple[NodePaths, ...]:
        return tuple(n for n in self.nodes if n.member)

    def describe(self) -> list[str]:
        """What was done, in words: for `restore --resume/--rollback` and the TUI."""
        snap = self.snapshot
        lines = [
            f"restore run {self.run} of cluster {self.cluster}, by {self.user}@{self.host} "
            f"at {self.started}: {snap.path} (revision {snap.revision}, "
            f"{snap.live_keys} live keys)",
            f"status: {self.mode} {self.shown_status}; journal {self.path or '(not written yet)'}",
        ]
        for label, steps, done in (
            ("restore", self.steps, self.done),
            ("rollback", self.rollback_steps, self.rollback_done),
        ):
            if not steps:
                continue
            lines.append(f"{label}: {len(done)} of {len(steps)} steps done")
            cut = self.current if self.mode == label else self.cut_short if label == RESTORE else ""
            for step in steps:
                mark = "done" if step.id in done else "CUT SHORT" if step.id == cut else "todo"
                lines.append(f"  [{mark:>9}] {step.id} on {step.target}")
        if self.error:
            lines.append(f"stopped because: {self.error}")
        return lines


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (a zombie, dead but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, under another user
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # "pid (comm) S ...": the state follows the last ")" (comm may hold one).
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc to ask: it answered the signal


def state_root() -> Path:
    """Where journals live: `$XDG_STATE_HOME/etcdtui/restore` (as the audit log's folder)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "etcdtui" / "restore"


def cluster_folder(cluster: str, source: str, root: Path | None = None) -> Path:
    """The folder of one cluster's journals and restore lock, keyed by its identity."""
    return (root or state_root()) / cluster_key(cluster, source)


def journal_path(cluster: str, run: str, root: Path | None = None, source: str = "") -> Path:
    return cluster_folder(cluster, source, root) / f"{run}.json"


def _step_to_json(step: Step) -> dict[str, Any]:
    data = asdict(step)
    data["args"] = [list(pair) for pair in step.args]
    return data


def _step_from_json(data: dict[str, Any]) -> Step:
    args = tuple((str(k), str(v)) for k, v in data.get("args", []))
    return Step(
        id=str(data["id"]),
        kind=str(data["kind"]),
        target=str(data["target"]),
        command=str(data["command"]),
        why=str(data["why"]),
        destructive=bool(data.get("destructive", False)),
        args=args,
    )


def to_json(state: RestoreState) -> dict[str, Any]:
    data = asdict(state)
    data.pop("path")
    data["format"] = FORMAT
    data["steps"] = [_step_to_json(s) for s in state.steps]
    data["rollback_steps"] = [_step_to_json(s) for s in state.rollback_steps]
    return data


def from_json(data: dict[str, Any], path: Path | None = None) -> RestoreState:
    if data.get("format") != FORMAT:
        raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
    return RestoreState(
        cluster=data["cluster"],
        run=data["run"],
        snapshot=SnapshotFacts(
            **{**data["snapshot"], "members": tuple(data["snapshot"].get("members", ()))}
        ),
        token=data["token"],
        nodes=tuple(NodePaths(**n) for n in data["nodes"]),
        steps=tuple(_step_from_json(s) for s in data["steps"]),
        done=[str(s) for s in data["done"]],
        mode=data["mode"],
        status=data["status"],
        current=data["current"],
        cut_short=data.get("cut_short", ""),
        error=data["error"],
        rollback_steps=tuple(_step_from_json(s) for s in data["rollback_steps"]),
        rollback_done=[str(s) for s in data["rollback_done"]],
        before_revision=data["before_revision"],
        before_keys=data["before_keys"],
        bump=int(data.get("bump", 0)),
        started=data["started"],
        updated=data["updated"],
        user=data["user"],
        host=data["host"],
        source=data.get("source", ""),
        pid=int(data.get("pid", 0)),
        pid_host=str(data.get("pid_host", "")),
        path=path,
    )


def _make_folder(folder: Path) -> None:
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def save(state: RestoreState, root: Path | None = None) -> Path:
    """Write the journal atomically (0600); JournalError if it cannot be written."""
    path = state.path or journal_path(state.cluster, state.run, root, state.source)
    state.updated = _now()
    if state.status == RUNNING:  # only the process running it writes a running journal
        state.pid, state.pid_host = os.getpid(), socket.gethostname()
    text = json.dumps(to_json(state), indent=1) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _make_folder(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise JournalError(
            f"cannot write the restore journal {path}: {exc.strerror or exc}",
            "the run stops here rather than go on without a record",
        ) from None
    state.path = path
    return path


def load(path: Path) -> RestoreState:
    """A journal read back; UsageError for a file that is not one."""
    try:
        data = json.loads(path.read_text())
        return from_json(data, path)
    except OSError as exc:
        raise UsageError(f"cannot read the restore journal {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a restore journal etcdtui can read ({exc})") from None


def _same_source(written: str, source: str) -> bool:
    """Whether a journal written for config `written` is of the cluster from `source`; one
    from before sources were recorded ("") is taken on its cluster's name."""
    if not written or written == source:
        return True
    return bool(source) and os.path.realpath(written) == os.path.realpath(source)


def journals(cluster: str, root: Path | None = None, source: str = "") -> list[RestoreState]:
    """Every journal of the cluster `cluster` defined in `source`, oldest first (run ids sort
    by time): its own folder, and the folder named after `cluster` alone that journals used
    before (only those written for the same config file)."""
    base = root or state_root()
    found: dict[Path, RestoreState] = {}
    for folder, legacy in ((cluster_folder(cluster, source, base), False),
                           (base / legacy_folder_name(cluster), True)):  # fmt: skip
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(UsageError):  # a foreign or torn file: not ours to act on
                state = load(path)
                if state.cluster != cluster or path in found:
                    continue
                if legacy and not _same_source(state.source, source):
                    continue  # another cluster of the same name, from another config
                found[path] = state
    return sorted(found.values(), key=lambda s: (s.run, str(s.path)))


def pending_restore(connection: Connection, root: Path | None = None) -> RestoreState | None:
    """The newest restore of this cluster that stopped halfway (None if every run ended)."""
    pending = [s for s in journals(connection.cluster, root, connection.source) if s.pending]
    return pending[-1] if pending else None


def abandon(state: RestoreState, why: str, root: Path | None = None) -> None:
    """Mark a run settled by hand (its lab torn down, its nodes rebuilt): it is kept, but no
    longer offered for continuing or rolling back, and no longer blocks a new restore."""
    state.status, state.error = ABANDONED, why
    save(state, root)


class ClusterLock:
    """One restore (or rollback) at a time per cluster: an flock on `<folder>/.lock`, held
    from the first step to the end of the run; the kernel drops it when the process dies,
    even by SIGKILL.

    `<folder>` is the cluster's journal folder when `source` (its config file) is given, else
    the folder named after the cluster alone (as before journals were keyed by identity).
    """

    def __init__(self, cluster: str, root: Path | None = None, source: str | None = None) -> None:
        self.cluster = cluster
        base = root or state_root()
        folder = (
            base / legacy_folder_name(cluster)
            if source is None
            else cluster_folder(cluster, source, base)
        )
        self.path = folder / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; JournalError naming the holder's pid when another process has it."""
        if self._fd is not None:
            return
        try:
            _make_folder(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        if busy := self._holder(fd):
            os.close(fd)
            raise JournalError(busy, "wait for it to finish, or stop it, before running this")
        os.ftruncate(fd, 0)  # our pid, for the next one to name us
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def _holder(self, fd: int) -> str:
        """Lock `fd` and return "", or say who holds the lock."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            return f"another etcdtui (pid {holder}) is restoring cluster {self.cluster} right now"
        return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def busy(self) -> str:
        """Why the lock cannot be taken now ("" when it is free or ours); creates nothing."""
        if self._fd is not None:
            return ""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            return f"cannot open {self.path}: {exc.strerror or exc}"
        try:
            return self._holder(fd)
        finally:
            os.close(fd)  # and with it the lock, if we got it
