"""What a restore run is made of: its options, where it puts things on each node, the snapshot
it restores, and its state as the journal (journal.py) keeps it between steps."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from etcdtui.models.runbook import Step

RESTORE, ROLLBACK = "restore", "rollback"
# status: "running" until the last step of its mode finishes, or "stopped" after a failure;
# "abandoned" when a person has settled it by hand (abandon()).
FINISHED, ROLLED_BACK, ABANDONED = "finished", "rolled-back", "abandoned"
RUNNING = "running"
# How a "running" journal whose process is gone is shown: killed, or its machine restarted.
INTERRUPTED = "interrupted (pid gone)"


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
    apiserver_timeout: float = 120.0  # for the kube-apiservers to stop, and to serve again
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


def timestamp() -> str:
    """Now, in UTC, to the second, as journals write times."""
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
    started: str = field(default_factory=timestamp)
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
