"""Continuing or rolling back a restore that stopped halfway, from its journal.

Continue: the steps of the run (or of its rollback) that did not finish, in order; the one cut
short runs again (its handler looks first at what it had done). Roll back: derived from which
restore steps finished or were cut short: stop the restored members and move each restored
data dir aside (to *.etcdtui-rolled-back-RUN) and the old one back, if any data dir was moved;
start etcd again if it was stopped; wait for a healthy cluster; start the apiservers that were
stopped. Nothing is deleted.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Plan, Step, StepArgs, Verdict
from etcdtui.runbooks.restore.journal import ClusterLock
from etcdtui.runbooks.restore.kinds import RestoreKind, nodes_reached
from etcdtui.runbooks.restore.state import RESTORE, RestoreOptions, RestoreState
from etcdtui.runbooks.restore.steps import (
    APISERVER_STOP,
    profile_step,
    start_all_step,
    unswap_step,
    wait_healthy_step,
    wait_stopped_step,
)
from etcdtui.snapshots.crypto import SnapshotKey, plaintext
from etcdtui.snapshots.status import sha256_file

# The restore steps after which the data dirs may have moved: a rollback moves them back.
_SWAPPED = frozenset({RestoreKind.SWAP, RestoreKind.START_ALL, RestoreKind.WAIT_HEALTHY})


def lock_checks(lock: ClusterLock) -> list[Check]:
    """A run holds the cluster's lock from its first step to its end: refuse to plan
    another (or to continue or roll back this one) meanwhile."""
    busy = lock.busy()
    return [Check("no other restore running", Verdict.FAIL, busy)] if busy else []


class ResumeSide:
    """The plans that pick a journaled run up again (continued, or rolled back), and the
    account of what a rollback left on the nodes."""

    def __init__(
        self,
        connection: Connection,
        shells: ShellPool,
        options: RestoreOptions,
        lock: ClusterLock,
        snapshot_path: Path,
        key: SnapshotKey | None,
    ) -> None:
        self.connection = connection
        self.cluster = connection.cluster
        self.shells = shells
        self.options = options
        self.lock = lock
        self.snapshot_path = snapshot_path
        self.key = key

    def continue_plan(self, state: RestoreState) -> Plan:
        """The steps of the run's current mode that did not finish, the one cut short first."""
        steps = state.remaining()
        checks = [Check("journal", Verdict.PASS, f"{state.path}: {state.describe()[1]}")]
        checks += lock_checks(self.lock) + self._reach(steps)
        done = [s.id for s in state.active_steps if s.id in set(state.active_done)]
        notes = [f"already done ({state.mode}): " + (", ".join(done) or "nothing")]
        if any(s.kind == RestoreKind.COPY for s in steps):
            checks.append(self._same_snapshot(state))
        elif state.mode == RESTORE:
            notes.append("every node has its copy of the snapshot: the file is not read again")
        if state.current:
            notes.append(
                f"cut short: {state.current}: it runs again, after checking what it had done"
            )
        if state.error:
            notes.append(f"it stopped because: {state.error}")
        title = "restore" if state.mode == RESTORE else "restore-rollback"
        return Plan(title, self.cluster, steps, tuple(checks), tuple(notes))

    def _same_snapshot(self, state: RestoreState) -> Check:
        """Copies are left to make: the file they are made from must be the run's snapshot,
        byte for byte (its plaintext's sha256 as the journal recorded it)."""
        path = self.snapshot_path
        # Without FILE, `restore --resume` reads the snapshot the journal names.
        named = " (named by the journal)" if str(path) == state.snapshot.path else ""
        if named and not path.is_absolute():
            named = " (named by the journal, relative to the folder the run began in)"
        try:
            with plaintext(path, self.key) as clear:
                digest = sha256_file(clear)
        except EtcdtuiError as exc:
            return Check(
                "snapshot unchanged",
                Verdict.FAIL,
                f"copies are left to make from {path}{named}: {exc}; give the snapshot FILE",
            )
        if digest != state.snapshot.sha256:
            return Check(
                "snapshot unchanged",
                Verdict.FAIL,
                f"{path}{named} is not the snapshot this run restores "
                f"(sha256 {digest[:16]}..., the run's {state.snapshot.sha256[:16]}...)",
            )
        return Check(
            "snapshot unchanged", Verdict.PASS, f"{path}{named}: sha256 {digest[:16]}... as planned"
        )

    def _reach(self, steps: tuple[Step, ...]) -> list[Check]:
        nodes = {n for s in steps if isinstance(s.args, StepArgs) for n in nodes_reached(s.args)}
        down = []
        for name in sorted(nodes):
            try:
                result = self.shells.shell(name).run(
                    "true", timeout=self.options.probe_timeout, sudo=False
                )
                if not result.ok:
                    down.append(f"{name}: `true` exited {result.exit_code}")
            except EtcdtuiError as exc:
                down.append(f"{name}: {exc}")
        return [
            Check(
                "SSH to the nodes left to act on",
                Verdict.FAIL if down else Verdict.PASS,
                "; ".join(down) if down else ", ".join(sorted(nodes)) or "none needed",
            )
        ]

    def rollback_plan(self, state: RestoreState) -> Plan:
        """Undo what the run's restore steps did or may have half done (the module
        docstring); the plan's steps become the journal's rollback once the first runs."""
        steps = self._rollback_steps(state)
        checks = [Check("journal", Verdict.PASS, f"{state.path}: {state.describe()[1]}")]
        checks += lock_checks(self.lock) + self._reach(steps)
        if not any(n.had_data for n in state.members()):
            checks.append(
                Check(
                    "old data to go back to",
                    Verdict.FAIL,
                    "no node had a data dir before the restore: continue it instead",
                )
            )
        touched = state.touched()
        notes = [
            "restore steps done or cut short: "
            + (", ".join(s.id for s in state.steps if s.id in touched) or "none")
        ]
        kept = [n for n in state.members() if n.had_data is False]
        if kept:
            notes.append(
                "no old data to put back on "
                + ", ".join(n.node for n in kept)
                + ": etcd is not started there"
            )
        notes.append(
            "nothing is deleted: restored data dirs and snapshot copies stay on the "
            "nodes (*.etcdtui-rolled-back-RUN, *.etcdtui-restored-RUN, "
            "*.etcdtui-restore-RUN.db)"
        )
        return Plan("restore-rollback", self.cluster, steps, tuple(checks), tuple(notes))

    def _rollback_steps(self, state: RestoreState) -> tuple[Step, ...]:
        touched = state.touched()
        kinds = {s.kind for s in state.steps if s.id in touched}
        c, opts = self.connection, self.options
        members = [c.node(n.node) for n in state.members()]
        with_data = [c.node(n.node) for n in state.members() if n.had_data]
        swapped = bool(kinds & _SWAPPED)
        stopped = RestoreKind.ETCD_STOP in kinds
        steps: list[Step] = []
        if swapped:
            for n in members:
                steps.append(
                    profile_step(
                        c,
                        n,
                        "stop",
                        f"rollback-etcd-stop-{n.name}",
                        "stop the restored member before its dir moves",
                        True,
                    )
                )
            steps.append(wait_stopped_step(members, opts.stop_timeout, "rollback-wait-stopped"))
            steps += [unswap_step(n, state.node(n.name)) for n in members]
        if stopped or swapped:
            steps.append(start_all_step(c, with_data, "rollback-etcd-start"))
        steps.append(wait_healthy_step(with_data, opts.healthy_timeout, "rollback-wait-healthy"))
        for paths in state.nodes:
            if paths.apiserver and APISERVER_STOP + paths.node in touched:
                steps.append(
                    profile_step(
                        c,
                        c.node(paths.node),
                        "apiserver_start",
                        f"rollback-apiserver-start-{paths.node}",
                        "etcd is back: serve the API again",
                    )
                )
        return tuple(steps)

    def rollback_summary(self, state: RestoreState) -> list[str]:
        """The end of a rollback in words: what the run left beside each member's data dir,
        as the node shows it now (asked over SSH). Only what exists is named: a node whose
        restored data never went in has no rolled-back dir, one never restored has none."""
        lines = ["old data back in place; what this run left on the nodes (nothing deleted):"]
        for paths in state.members():
            kinds = (
                (paths.rolled_back, "restored data set aside"),
                (paths.restored, "restored data, never moved in"),
                (paths.snapshot, "the snapshot's copy"),
            )
            try:
                node = self.connection.node(paths.node)
                listed = " ".join(shlex.quote(p) for p, _ in kinds)
                result = self.shells.shell(node.name).run(
                    f'for p in {listed}; do if [ -e "$p" ]; then echo "$p"; fi; done',
                    timeout=self.options.probe_timeout,
                    sudo=node.sudo,
                )
                if not result.ok:
                    raise EtcdtuiError(result.stderr.strip() or f"exit code {result.exit_code}")
            except EtcdtuiError as exc:
                lines.append(
                    f"  {paths.node}: cannot look over SSH ({exc}): look for "
                    f"{paths.data_dir}.etcdtui-*-{state.run}*"
                )
                continue
            there = set(result.stdout.splitlines())
            found = [f"{what} in {path}" for path, what in kinds if path in there]
            lines.append(
                f"  {paths.node}: "
                + ("; ".join(found) or f"nothing beside {paths.data_dir} (all absent)")
            )
        return lines
