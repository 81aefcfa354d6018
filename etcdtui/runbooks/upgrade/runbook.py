"""The rolling upgrade: a verified snapshot first, then members one at a time, followers first
and the leader last, each stopped, switched to the new binary (or image), started and waited
for; a member that fails to come up is rolled back and the run stops.

Its steps are in steps.py, its checks in preflight.py, the version policy and the flag table in
policy.py, what each step does in handlers.py, the verification in verify.py. A rerun plans
only the members not yet on the new version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.shell import NodeShell
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import UsageError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.runbooks.audit import new_run_id
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock
from etcdtui.runbooks.upgrade.handlers import Backup, Handler, NodeSide, Watcher, backup_path
from etcdtui.runbooks.upgrade.manifest import image_edit_checks
from etcdtui.runbooks.upgrade.policy import parse_version, policy_check, shown
from etcdtui.runbooks.upgrade.preflight import (
    binaries_check,
    flags_check,
    read_nodes,
    ready_check,
    space_check,
    versions_of,
)
from etcdtui.runbooks.upgrade.steps import UpgradeKind, backup_step, health_step, member_steps
from etcdtui.runbooks.upgrade.verify import cluster_version, key_count, verify_upgrade
from etcdtui.snapshots.save import SnapshotSaver


@dataclass(frozen=True)
class UpgradeOptions:
    to: str  # "3.5" (the 3.5 the new binaries report), "3.5.1", or "" (whatever they report)
    skip_backup: bool = False
    wait: float = 60.0  # seconds a member may take to come up on the new version


class UpgradeRunbook:
    """Upgrade every member to the new etcd its node's vars name, one at a time."""

    name = "upgrade"

    def __init__(
        self,
        connection: Connection,
        client: ClusterClient,
        options: UpgradeOptions,
        shells: ShellPool | None,
        saver: SnapshotSaver | None = None,
    ) -> None:
        try:
            if options.to:
                parse_version(options.to)
        except ValueError as exc:
            raise UsageError(f"--to: {exc}") from None
        self.connection = connection
        self.cluster = connection.cluster
        self.client = client
        self.options = options
        self.shells = shells
        self.target = options.to  # the exact version, once the new binaries have said it
        self.keys_before: int | None = None
        self.run_lock = RunLock(connection, client, self.name)
        self.run_id = new_run_id()
        self.watcher = Watcher(client, options.wait)
        self.node_side = NodeSide(connection, shells, self.watcher)
        self.backup = Backup(saver or SnapshotSaver(connection, client, shells=shells))
        self.handlers: dict[UpgradeKind, Handler] = {
            UpgradeKind.BACKUP: self.backup.save,
            UpgradeKind.HEALTH: self.watcher.health,
            UpgradeKind.STOP: self.node_side.command,
            UpgradeKind.SWITCH: self.node_side.command,
            UpgradeKind.SWITCH_IMAGE: self.node_side.switch_image,
            UpgradeKind.START: self.node_side.start,
            UpgradeKind.WAIT: self.node_side.wait,
        }

    # --- read-only: preflight and plan ---------------------------------------------------

    def _shell(self, name: str) -> NodeShell:
        assert self.shells is not None
        return self.shells.shell(name)

    def _nodes(self, view: ClusterView) -> tuple[list[tuple[NodeConfig, MemberView]], list[str]]:
        by_member = {n.member_name: n for n in self.connection.nodes}
        pairs, missing = [], []
        for m in view.members:
            node = by_member.get(m.name)
            if node is None:
                missing.append(m.name)
            else:
                pairs.append((node, m))
        return pairs, missing

    def plan(self) -> Plan:
        view = self.client.read(metrics=False)
        self.keys_before = key_count(self.client, view)
        return with_lock(self.plan_from(view), self.run_lock)

    def preflight(
        self, view: ClusterView, pairs: list[tuple[NodeConfig, MemberView]]
    ) -> list[Check]:
        """The read-only checks; sets `target` to the exact version the nodes will run."""
        checks = [ready_check(view)]
        if self.shells is None or not pairs:
            checks.append(Check("nodes", Verdict.FAIL, "the upgrade needs the config's nodes"))
            return checks
        reads = read_nodes(self._shell, self.connection, [node for node, _ in pairs])
        targets = [read.target for read in reads]
        # No --to (the TUI): the version the new binaries report.
        reported = next((shown(t.version) for t in targets if t.version), "0.0.0")
        wanted, has_patch = parse_version(self.options.to or reported)
        checks.append(binaries_check(targets, wanted, has_patch))
        # "--to 3.5" means the 3.5 patch the new binaries report, when they report one.
        found = [t.version for t in targets if t.version and t.version[:2] == wanted[:2]]
        exact = wanted if has_patch or not found else found[0]
        self.target = shown(exact)
        checks.append(policy_check(versions_of(view), exact))
        todo = [(read, m) for read, (_, m) in zip(reads, pairs, strict=True)
                if not m.status or m.status.version != self.target]  # fmt: skip
        checks.append(flags_check([read for read, _ in todo], exact))
        checks.append(space_check(todo))
        checks += image_edit_checks(self.connection, [read for read, _ in todo])
        return checks

    def plan_from(self, view: ClusterView) -> Plan:
        """The plan for a cluster as `view` shows it (the node checks run over SSH)."""
        pairs, missing = self._nodes(view)
        checks = self.preflight(view, pairs)
        if missing:
            checks.append(Check("nodes", Verdict.FAIL, "no node in the config for: "
                                + ", ".join(missing)))  # fmt: skip
        done = [m.name for _, m in pairs if m.status and m.status.version == self.target]
        todo = [(n, m) for n, m in pairs if m.name not in done]
        order = [p for p in todo if not p[1].is_leader] + [p for p in todo if p[1].is_leader]
        steps: list[Step] = []
        if order and not self.options.skip_backup:
            steps.append(backup_step(str(backup_path(self.connection)), len(view.members)))
        for node, m in order:
            steps += member_steps(self.connection, m, node, self.target, self.options.wait)
            steps.append(health_step(m.name))
        if self.options.skip_backup:  # no snapshot to fall back on: the cluster name is asked
            steps = [replace(s, destructive=True) if s.kind == UpgradeKind.STOP else s
                     for s in steps]  # fmt: skip
        return Plan(self.name, self.cluster, tuple(steps), tuple(checks),
                    tuple(self.notes(view, order, done)))  # fmt: skip

    def notes(
        self, view: ClusterView, order: list[tuple[NodeConfig, MemberView]], done: list[str]
    ) -> list[str]:
        notes = [f"{name} already runs {self.target}: skipped" for name in done]
        if order:
            names = [m.name + (" (leader)" if m.is_leader else "") for _, m in order]
            notes.append("one member at a time, followers first, the leader last: "
                         + ", ".join(names))  # fmt: skip
            current = cluster_version(self.client, view) or "unknown"
            notes.append(
                f"a member that does not come up on {self.target} is rolled back to its old "
                f"binary (or manifest) and the run stops: safe while the cluster version has not "
                f"moved (it is {current}; it moves only once every member runs {self.target})"
            )
        if self.options.skip_backup:
            notes.append("--skip-backup: no snapshot first; the cluster name is asked")
        return notes

    # --- changes ---------------------------------------------------------------------------

    def run_step(self, step: Step, output: Output) -> StepResult:
        started = time.perf_counter()
        ok, text = self.handlers[UpgradeKind(step.kind)](step, output)
        return StepResult(step, ok, 0 if ok else 1, text, time.perf_counter() - started)

    # --- read-only: verify -----------------------------------------------------------------

    def verify(self) -> list[Check]:
        return verify_upgrade(self.client, self.target, self.keys_before)

    def cluster_lock(self) -> RunLock:
        return self.run_lock

    def summary(self) -> list[str]:
        return []
