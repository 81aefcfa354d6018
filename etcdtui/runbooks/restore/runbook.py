"""Restore a whole cluster from one snapshot file on the bastion, the seed's procedure made safe.

Preflight verifies the snapshot and every node (SSH, disk, restore tool, versions); the plan
copies the snapshot to every node and checks its sha256 there, stops the kube-apiservers and
then etcd everywhere, restores each member into a new data dir, moves the old data dir aside
(never deleting it) and the restored one into place, starts etcd, waits for a healthy cluster
and starts the apiservers again. A journal (journal.py) follows every step, so a run cut
short can be continued (`RestoreRunbook.resume`) or undone (`RestoreRunbook.rollback`).

etcd ignores --initial-cluster, --initial-cluster-token and --initial-cluster-state once its
data dir holds a WAL, so the nodes' own etcd flags (unit files, static-pod manifests, the
lab's env files) need no change as long as member names, peer URLs and data dirs stay.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.runbooks.apiservers import wait_apiservers
from etcdtui.runbooks.audit import new_run_id
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock
from etcdtui.runbooks.restore.handlers import Handler, NodeSide
from etcdtui.runbooks.restore.journal import ClusterLock, abandon, pending_restore, save
from etcdtui.runbooks.restore.kinds import RestoreKind
from etcdtui.runbooks.restore.preflight import (
    NodeProbe,
    apiserver_check,
    choose_nodes,
    foreign_check,
    live_check,
    node_checks,
    probe_nodes,
    profile_check,
    revision_bump,
)
from etcdtui.runbooks.restore.resume import ResumeSide, lock_checks
from etcdtui.runbooks.restore.snapshot import describe_facts, empty_facts, snapshot_facts
from etcdtui.runbooks.restore.state import (
    FINISHED,
    RESTORE,
    ROLLBACK,
    ROLLED_BACK,
    NodePaths,
    RestoreOptions,
    RestoreState,
    SnapshotFacts,
)
from etcdtui.runbooks.restore.steps import restarts_control_plane, restore_steps, run_paths
from etcdtui.runbooks.restore.upload import SnapshotUpload
from etcdtui.runbooks.restore.verify import (
    health_check,
    leader_check,
    leader_keys,
    members_check,
    remove_plaintext,
    restored_data_checks,
    rolled_back_data_checks,
)
from etcdtui.snapshots.crypto import SnapshotKey

__all__ = ["RestoreOptions", "RestoreRunbook", "RestoreState", "abandon", "pending_restore"]

REMINDER = "restart kube-scheduler, kube-controller-manager and kubelet on every control-plane node"


class RestoreRunbook:
    """Restore every member from one snapshot; or continue, or roll back, a run cut short.

    `plan()` is read-only (it asks the nodes over SSH and the cluster over its API); the
    journal is first written when the first step runs. The steps are run by the handlers of
    the snapshot's upload (upload.py) and of the node side (handlers.py); the plans that pick a
    journaled run up again are the resume side's (resume.py).
    """

    name = "restore"

    def __init__(
        self,
        connection: Connection,
        snapshot_path: str | Path,
        key: SnapshotKey | None,
        shells: ShellPool,
        options: RestoreOptions | None = None,
        client: ClusterClient | None = None,
    ) -> None:
        self.connection = connection
        self.cluster = connection.cluster
        self.snapshot_path = Path(snapshot_path)
        self.key = key
        self.shells = shells
        self.options = options or RestoreOptions()
        self._own_client = client is None
        self.client = client or open_cluster(connection, shells)
        self.state: RestoreState | None = None
        self.mode = RESTORE
        self.resuming = False
        self._started = False  # the journal has been switched to "running" by this process
        self.pending_rollback: tuple[Step, ...] = ()  # a rollback's steps, until it begins
        self.lock = ClusterLock(self.cluster, self.options.state_root, self.connection.source)
        self.plaintext_removed = False  # the decrypted copies on the nodes, once verified
        # The same lock file every runbook of this cluster takes: no defrag or member change
        # starts while a restore runs (etcd itself is stopped, so it cannot hold a lock).
        self.run_lock = RunLock(connection, None, "restore", use_etcd=False,
                                local_reason="etcd is stopped during a restore")  # fmt: skip
        self.resume_side = ResumeSide(
            connection, shells, self.options, self.lock, self.snapshot_path, key
        )
        upload = SnapshotUpload(connection, shells, self.snapshot_path, key)
        nodes = NodeSide(connection, shells, self.client, self.options, self._node_paths)
        # Which handler runs each kind of step: the upload's copies, the node side's the rest.
        self.handlers: dict[RestoreKind, Handler] = {
            RestoreKind.COPY: upload.copy,
            **nodes.handlers(),
        }

    def _node_paths(self, node: str) -> NodePaths:
        assert self.state is not None, "plan() first"
        return self.state.node(node)

    # --- the ways in ------------------------------------------------------------------------

    @classmethod
    def resume(
        cls,
        state: RestoreState,
        connection: Connection,
        shells: ShellPool,
        key: SnapshotKey | None = None,
        options: RestoreOptions | None = None,
        client: ClusterClient | None = None,
        snapshot_path: str | Path | None = None,
    ) -> RestoreRunbook:
        """Continue a run cut short (a rollback cut short continues as a rollback)."""
        if not state.pending:
            raise UsageError(f"restore run {state.run} is {state.status}: nothing to continue")
        runbook = cls(
            connection, snapshot_path or state.snapshot.path, key, shells, options, client
        )
        runbook.state, runbook.mode, runbook.resuming = state, state.mode, True
        return runbook

    @classmethod
    def rollback(
        cls,
        state: RestoreState,
        connection: Connection,
        shells: ShellPool,
        options: RestoreOptions | None = None,
        client: ClusterClient | None = None,
    ) -> RestoreRunbook:
        """Undo a run cut short: the old data dirs back in place, etcd and apiservers started."""
        if not state.pending:
            raise UsageError(f"restore run {state.run} is {state.status}: nothing to roll back")
        runbook = cls(connection, state.snapshot.path, None, shells, options, client)
        runbook.state, runbook.mode, runbook.resuming = state, ROLLBACK, state.mode == ROLLBACK
        runbook.name = "restore-rollback"
        return runbook

    def close(self) -> None:
        """Release the cluster's restore lock and (if this runbook opened it) the client."""
        self.lock.release()
        if self._own_client:
            self.client.close()

    # --- read-only: the plans ---------------------------------------------------------------

    def plan(self) -> Plan:
        if self.state is not None and self.resuming:
            return with_lock(self.resume_side.continue_plan(self.state), self.run_lock)
        if self.state is not None and self.mode == ROLLBACK:
            rollback = self.resume_side.rollback_plan(self.state)
            self.pending_rollback = rollback.steps
            return with_lock(rollback, self.run_lock)
        return with_lock(self._fresh_plan(), self.run_lock)

    def cluster_lock(self) -> RunLock:
        return self.run_lock

    @property
    def run_id(self) -> str:
        """The run the plan shows, so the engine records it under the same ID."""
        return self.state.run if self.state is not None else ""

    def _fresh_plan(self) -> Plan:
        run = new_run_id()
        facts, checks = self._snapshot_checks()
        view = self.client.read(metrics=False)
        members, chosen = choose_nodes(self.connection, view, self.options.nodes)
        apiservers = [n for n in self.connection.nodes if n.apiserver]
        checks += [
            chosen,
            foreign_check(facts, self.connection, view, self.options.force_foreign),
            profile_check(self.connection, members, apiservers),
        ]
        paths = run_paths(run, members, apiservers)
        probes = probe_nodes(self.shells, self.connection, paths, self.options.probe_timeout)
        checks += node_checks(members, probes, facts, view)
        for name, probe in probes.items():
            if paths[name].member and not probe.error:
                paths[name] = replace(paths[name], had_data=probe.has_member)
        bump, bump_check = revision_bump(members, probes, self.options.bump_revision)
        checks += [bump_check, apiserver_check(self.connection, apiservers)]
        before_revision, before_keys, now = live_check(self.client, view, facts)
        checks.append(now)
        token = self.options.token or f"etcdtui-restore-{run}"
        facts = facts or empty_facts(self.snapshot_path)
        steps = self._steps(members, apiservers, paths, probes, facts, token, bump)
        self.state = RestoreState(
            cluster=self.cluster,
            run=run,
            snapshot=facts,
            token=token,
            nodes=tuple(paths.values()),
            steps=steps,
            before_revision=before_revision,
            before_keys=before_keys,
            bump=bump,
            source=self.connection.source,
        )
        self.mode, self.resuming = RESTORE, False
        return Plan("restore", self.cluster, steps, tuple(checks), self._notes())

    def _snapshot_checks(self) -> tuple[SnapshotFacts | None, list[Check]]:
        """The snapshot verified, no other restore running, none left halfway."""
        checks: list[Check] = []
        facts: SnapshotFacts | None = None
        try:
            facts = snapshot_facts(self.snapshot_path, self.key)
            checks.append(Check("snapshot verified", Verdict.PASS, describe_facts(facts)))
        except EtcdtuiError as exc:
            checks.append(Check("snapshot verified", Verdict.FAIL, str(exc)))
        checks += lock_checks(self.lock)
        pending = pending_restore(self.connection, self.options.state_root)
        if pending is not None:
            checks.append(
                Check(
                    "no restore left halfway",
                    Verdict.FAIL,
                    f"run {pending.run} stopped halfway ({pending.shown_status}): continue it "
                    f"or roll it back first (journal {pending.path})",
                )
            )
        return facts, checks

    def _steps(
        self,
        members: list[NodeConfig],
        apiservers: list[NodeConfig],
        paths: dict[str, NodePaths],
        probes: dict[str, NodeProbe],
        facts: SnapshotFacts,
        token: str,
        bump: int,
    ) -> tuple[Step, ...]:
        tools = {name: probe.tool for name, probe in probes.items()}
        try:
            return tuple(restore_steps(self.connection, self.options, members, apiservers,
                                       paths, tools, facts, token, bump))  # fmt: skip
        except EtcdtuiError:  # a profile without a needed command: its check has failed
            return ()

    def _notes(self) -> tuple[str, ...]:
        state = self.state
        assert state is not None
        notes = [
            f"run {state.run}; new cluster token {state.token}",
            "on each node, beside its data dir: the copy *.etcdtui-restore-RUN.db, the new "
            "data dir *.etcdtui-restored-RUN, the old one kept as *.etcdtui-before-restore-RUN",
            "etcd ignores its --initial-cluster* flags once a data dir has a WAL: the nodes' "
            "etcd settings stay as they are (same names, peer URLs and data dirs)",
            "every node-side step first looks at what is done already, so a run cut short can "
            "be continued or rolled back from its journal",
        ]
        if not restarts_control_plane(state.steps, state.nodes):
            notes.append(f"afterwards, by hand: {REMINDER}")
        return tuple(notes)

    # --- changes: journal every step --------------------------------------------------------

    def run_step(self, step: Step, output: Output) -> StepResult:
        state = self.state
        assert state is not None, "plan() first"
        started = time.perf_counter()
        if not self._started:
            self._begin(state)
        state.current = step.id
        save(state, self.options.state_root)
        try:
            ok, text = self.handlers[RestoreKind(step.kind)](step, output)
        except BaseException as exc:  # journaled as stopped, then the engine reports it
            state.status, state.error = "stopped", f"{step.id}: {exc}"
            save(state, self.options.state_root)
            raise
        if ok:
            state.active_done.append(step.id)
            state.current = ""
            if not state.remaining():
                state.status = FINISHED if state.mode == RESTORE else ROLLED_BACK
        else:
            state.status, state.error = "stopped", f"{step.id}: {text}"
        save(state, self.options.state_root)
        return StepResult(step, ok, 0 if ok else 1, text, time.perf_counter() - started)

    def _begin(self, state: RestoreState) -> None:
        self.lock.acquire()  # held until verify() ends the run, or close()
        if self.mode == ROLLBACK and state.mode == RESTORE:
            state.cut_short, state.current = state.current, ""
            state.mode, state.rollback_steps, state.rollback_done = (
                ROLLBACK,
                self.pending_rollback,
                [],
            )
        state.status, state.error = "running", ""
        self._started = True

    # --- read-only: verify -------------------------------------------------------------------

    def verify(self) -> list[Check]:
        """The engine's last call for a run: check, then let the next run (or rollback) in."""
        try:
            return self._verify()
        finally:
            self.lock.release()

    def _verify(self) -> list[Check]:
        state = self.state
        if state is None:
            return []
        view = self.client.read(metrics=False)
        finished = state.status == (FINISHED if state.mode == RESTORE else ROLLED_BACK)
        label = "restore" if state.mode == RESTORE else "rollback"
        checks = [health_check(view)]
        if not finished:
            where = state.current or (state.remaining()[0].id if state.remaining() else "?")
            checks.insert(
                0,
                Check(
                    f"{label} complete",
                    Verdict.FAIL,
                    f"stopped at {where}: continue it or roll it back (journal {state.path})",
                ),
            )
            return checks
        wanted = {n.member for n in state.members() if n.had_data or state.mode == RESTORE}
        checks.append(members_check(view, wanted))
        checks.append(leader_check(view))
        keys = leader_keys(self.client, view)
        if state.mode == RESTORE:
            checks += restored_data_checks(view, state, keys)
            apiservers = [self.connection.node(n.node) for n in state.nodes if n.apiserver]
            checks += wait_apiservers(
                self.connection, self.shells, apiservers, self.options.apiserver_timeout
            )
            if state.snapshot.encrypted and not any(c.failed for c in checks):
                removed = remove_plaintext(self.connection, self.shells, state)
                self.plaintext_removed = removed.verdict is Verdict.PASS
                checks.append(removed)
        else:
            checks += rolled_back_data_checks(view, state, keys)
        return checks

    def summary(self) -> list[str]:
        state = self.state
        if state is None:
            return []
        lines = [f"journal: {state.path or 'not written (nothing ran)'}"]
        if state.mode == RESTORE:
            lines.append(f"snapshot: {describe_facts(state.snapshot)}")
            if state.status == FINISHED:
                lines += [
                    f"{n.node}: old data kept in {n.before}" for n in state.members() if n.had_data
                ]
                if not self.plaintext_removed:
                    lines.append(
                        "snapshot copies left on the nodes (they hold every secret; remove "
                        "them once satisfied): "
                        + ", ".join(f"{n.node}:{n.snapshot}" for n in state.members())
                    )
                if not restarts_control_plane(state.steps, state.nodes):
                    lines.append(f"now, by hand: {REMINDER}")
        elif state.status == ROLLED_BACK:
            lines += self.resume_side.rollback_summary(state)
        return lines
