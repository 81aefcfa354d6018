"""Defragmentation: followers first, the leader last, health between.

`DefragRunbook` defragments the members a rule selects, through the API or with etcdctl on
their nodes. Its steps are in steps.py, its checks in preflight.py, what each step does in
handlers.py; `NospaceRecovery` (nospace.py) is the same runbook bent to get out of a NOSPACE
alarm.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.audit import new_run_id
from etcdtui.runbooks.defrag.handlers import ClusterSide, Defragmenter, Handler
from etcdtui.runbooks.defrag.options import DefragOptions as DefragOptions
from etcdtui.runbooks.defrag.preflight import defrag_checks, healthy_enough
from etcdtui.runbooks.defrag.preflight import membership_check as membership_check
from etcdtui.runbooks.defrag.rule import member_values
from etcdtui.runbooks.defrag.steps import (
    DefragKind,
    api_defrag_step,
    compaction_step,
    health_step,
    move_leader_step,
    node_defrag_step,
    wait_step,
)
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import ShellPool  # paramiko: only for --on-node
    from etcdtui.runbooks.defrag.nospace import NospaceRecovery as NospaceRecovery

QUOTA_VARIABLES = frozenset({"dbQuota", "dbQuotaUsage"})


class DefragRunbook:
    """Defragment members one at a time through the API, or with etcdctl on their nodes."""

    name = "defrag"

    def __init__(
        self,
        connection: Connection,
        client: ClusterClient,
        options: DefragOptions,
        shells: ShellPool | None = None,
    ) -> None:
        self.connection = connection
        self.cluster = connection.cluster
        self.client = client
        self.options = options
        self.shells = shells
        self.before: ClusterView | None = None
        self.keys_before: int | None = None
        self.run_lock = RunLock(connection, client, self.name)
        self.run_id = new_run_id()  # the screen shows it with the plan; the engine records it
        self.cluster_side = ClusterSide(client, options.defrag_timeout)
        self.defragmenter = Defragmenter(client, shells, options.defrag_timeout)
        self.handlers: dict[DefragKind, Handler] = {
            DefragKind.HEALTH: self.cluster_side.health,
            DefragKind.WAIT: self.cluster_side.wait,
            DefragKind.COMPACT: self.cluster_side.compact,
            DefragKind.MOVE_LEADER: self.cluster_side.move_leader,
            DefragKind.DEFRAG: self.defragmenter.through_api,
            DefragKind.DEFRAG_SSH: self.defragmenter.on_node,
        }

    @property
    def sizes(self) -> dict[str, tuple[int, int, float]]:
        """Each defragmented member's database size before, after, and the seconds it took."""
        return self.defragmenter.sizes

    # --- read-only: preflight and plan ---------------------------------------------------

    def chosen(self, view: ClusterView) -> list[MemberView]:
        members = [m for m in view.members if m.status is not None and not m.is_learner]
        if self.options.rule is None:
            return members
        picked = []
        for m in members:
            assert m.status is not None
            quota = m.metrics.quota_bytes if m.metrics else None
            values = member_values(m.status.db_size, m.status.db_size_in_use, quota)
            if self.options.rule.evaluate(values):
                picked.append(m)
        return picked

    def preflight(self, view: ClusterView, chosen: list[MemberView]) -> list[Check]:
        return defrag_checks(view, chosen, self._node, self.shells, self.options.on_node)

    def _node(self, name: str) -> NodeConfig | None:
        return next((n for n in self.connection.nodes if n.member_name == name), None)

    def defrag_step(self, m: MemberView) -> Step:
        timeout = self.options.defrag_timeout
        if self.options.on_node:
            return node_defrag_step(self.connection, m, self._node(m.name), timeout)
        return api_defrag_step(m, timeout)

    def member_steps(self, view: ClusterView, chosen: list[MemberView]) -> list[Step]:
        leader = view.leader
        order = [m for m in chosen if not m.is_leader] + [m for m in chosen if m.is_leader]
        steps: list[Step] = []
        for i, m in enumerate(order):
            steps.append(health_step(m))
            if m.is_leader and self.options.move_leader:
                target = next((f for f in order[:i] if healthy_enough(f)), None) or next(
                    (f for f in view.voting_members if not f.is_leader and healthy_enough(f)),
                    None,
                )
                if target is not None and target.member_id is not None and leader is not None:
                    steps.append(move_leader_step(m, target, target.member_id))
            steps.append(self.defrag_step(m))
            if i < len(order) - 1 and self.options.wait > 0:
                steps.append(wait_step(m, self.options.wait))
        return steps

    def compact_step(self, view: ClusterView, confirm: str) -> Step | None:
        leader = view.leader
        if leader is None or leader.status is None:
            return None
        return compaction_step(leader, leader.status.revision, confirm)

    def plan(self) -> Plan:
        # /metrics (for the quota) costs ~100 ms over five members: read it only when the rule
        # needs dbQuota or dbQuotaUsage.
        rule = self.options.rule
        view = self.client.read(metrics=bool(rule and rule.variables() & QUOTA_VARIABLES))
        self.before = view
        self.keys_before = self._key_count(view)
        return with_lock(self.plan_from(view), self.run_lock)

    def plan_from(self, view: ClusterView) -> Plan:
        """The plan for a cluster as `view` shows it (no I/O, but for --on-node's SSH check)."""
        self.cluster_side.expected_leader = view.leader.member_id if view.leader else None
        chosen = self.chosen(view)
        checks = self.preflight(view, chosen)
        steps: list[Step] = []
        if self.options.compact and (step := self.compact_step(view, "old revisions are gone")):
            steps.append(step)
        steps += self.member_steps(view, chosen)
        notes = [
            f"{m.name}: {human_bytes(m.status.db_size)} (in use "
            f"{human_bytes(m.status.db_size_in_use)})"
            for m in chosen
            if m.status
        ]
        return Plan(self.name, self.cluster, tuple(steps), tuple(checks), tuple(notes))

    def _key_count(self, view: ClusterView) -> int | None:
        leader = view.leader
        if leader is None:
            return None
        try:
            return self.client.client(leader.endpoint).key_count()
        except EtcdtuiError:
            return None

    # --- changes ---------------------------------------------------------------------------

    def run_step(self, step: Step, output: Output) -> StepResult:
        started = time.perf_counter()
        ok, text = self.handlers[DefragKind(step.kind)](step, output)
        return StepResult(step, ok, 0 if ok else 1, text, time.perf_counter() - started)

    # --- read-only: verify -----------------------------------------------------------------

    def verify(self) -> list[Check]:
        return self.verify_view(self.client.read(metrics=False))

    def verify_view(self, view: ClusterView) -> list[Check]:
        """The verification of a run, from one read of the cluster after it."""
        checks = [
            Check("cluster healthy", Verdict.PASS if view.healthy else Verdict.FAIL,
                  "every member healthy, one leader" if view.healthy else
                  "; ".join(m.problem or m.name for m in view.members if not m.healthy)
                  or "no leader"),
        ]  # fmt: skip
        keys_after = self._key_count(view)
        if self.keys_before is not None and keys_after is not None:
            # A live Kubernetes cluster writes all the time: a different count is worth a look,
            # not a failed defrag (which moves no key).
            same = keys_after == self.keys_before
            reason = f"{keys_after} live keys (before: {self.keys_before})"
            if not same:
                reason += "; clients may have written meanwhile"
            checks.append(Check("no key lost", Verdict.PASS if same else Verdict.WARN, reason))
        return checks

    def cluster_lock(self) -> RunLock:
        return self.run_lock

    def summary(self) -> list[str]:
        return self.defragmenter.summary()


def __getattr__(name: str) -> object:
    """`NospaceRecovery` from its own module, imported when first asked for: nospace.py builds
    on this module, so importing it here at load time would be a cycle."""
    if name == "NospaceRecovery":
        from etcdtui.runbooks.defrag.nospace import NospaceRecovery

        return NospaceRecovery
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
