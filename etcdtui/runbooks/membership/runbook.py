"""Member changes, learner first: replace a failed member, or add one (scale-out 3 -> 5).

Replacing: stop etcd on the failed node if it answers and move its data dir aside, `member
remove`, `member add` as a learner, write the new node's env file (the survivors plus the new
member, ETCD_INITIAL_CLUSTER_STATE=existing), start etcd there, wait until the learner has
caught up, `member promote`, verify. Adding is the same without the first two steps.

Run again after a stop, the same command continues: the plan is made from the member list
(the failed member gone, the new one added or started) and each step skips what is done.

The runbook composes its parts, each with its own state: the node and member-list steps
(handlers.py), a kubeadm node's etcd.yaml (static_pod.py) and what points at the members
(pointers.py); a table from step kind to handler runs them.
"""

from __future__ import annotations

import time
from pathlib import Path

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.models import ClusterView, Member, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepResult
from etcdtui.runbooks.audit import AuditLog, new_run_id
from etcdtui.runbooks.defrag.runbook import membership_check
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock
from etcdtui.runbooks.membership.change import MemberChange
from etcdtui.runbooks.membership.handlers import MemberSteps
from etcdtui.runbooks.membership.pointers import PointerSteps
from etcdtui.runbooks.membership.preflight import (
    addition_checks,
    data_dir_check,
    leader_checks,
    peer_url_check,
    pending_check,
    ports_check,
    removal_checks,
    unreadable_check,
)
from etcdtui.runbooks.membership.refusals import advice
from etcdtui.runbooks.membership.static_pod import StaticPodSteps
from etcdtui.runbooks.membership.steps import Handler, MemberKind, addition_steps, removal_steps
from etcdtui.runbooks.membership.verify import verify_change


class MemberChangeRunbook:
    """`replace-member` (with `old_member`) or `add-member` (without), learner first."""

    def __init__(
        self,
        connection: Connection,
        client: ClusterClient,
        shells: ShellPool,
        new_node: str,
        new_name: str = "",
        old_member: str = "",
        catch_up_timeout: float = 120.0,
        audit_path: Path | None = None,
    ) -> None:
        self.connection = connection
        self.audit_path = audit_path  # where an earlier run's removal of old_member is looked up
        self.cluster = connection.cluster
        self.client = client
        node = connection.node(new_node)
        self.new_name = new_name or node.member or node.name
        self.old_name = old_member
        self.name = "replace-member" if old_member else "add-member"
        # The run's id, shown in the plan and recorded in the audit log (the engine takes it),
        # and the stamp of what the run moves aside on the nodes.
        self.run_id = new_run_id()
        self.run_lock = RunLock(connection, client, self.name)
        self.keys: tuple[int, int] | None = None  # the leader's count, the new member's
        if not node.peer_urls or not node.client_urls:
            raise UsageError(f"node {new_node} needs peer_urls and client_urls in the config")
        self.change = MemberChange(
            connection, client, shells, node, self.new_name, old_member, run_stamp=self.run_id
        )
        self.member_steps = MemberSteps(self.change, catch_up_timeout)
        self.static_pod = StaticPodSteps(self.change)
        self.pointers = PointerSteps(self.change, self.verify)
        steps, pod, pointers = self.member_steps, self.static_pod, self.pointers
        self.handlers: dict[MemberKind, Handler] = {
            MemberKind.STOP_OLD: steps.stop_old,
            MemberKind.REMOVE: steps.remove,
            MemberKind.PREPARE: steps.prepare,
            MemberKind.ADD: steps.add,
            # A kubeadm node gets an etcd.yaml where others get an env file.
            MemberKind.ENV: pod.write_manifest if pod.paths(node) else steps.write_env,
            MemberKind.START: steps.start,
            MemberKind.CATCH_UP: steps.catch_up,
            MemberKind.PROMOTE: steps.promote,
            MemberKind.APISERVER_SERVERS: pointers.set_servers,
            MemberKind.CONFIG: pointers.rewrite_config,
        }

    # --- read-only: preflight and plan ------------------------------------------------------

    def preflight(
        self, view: ClusterView, old: MemberView | None, ours: Member | None
    ) -> list[Check]:
        """Every check before the change, in the order the plan shows them."""
        checks = [membership_check(view)]
        if view.error:
            return [*checks, unreadable_check()]
        voting = [m for m in view.voting_members if ours is None or m.member_id != ours.id]
        checks += removal_checks(voting, old) if old is not None else addition_checks(voting)
        checks += leader_checks(view)
        checks.append(pending_check(view, ours))
        checks.append(peer_url_check(view, ours, self.change.new_node.peer_urls))
        if ours is None or not ours.started:
            checks += self.node_checks(ours)
        return checks

    def node_checks(self, ours: Member | None) -> list[Check]:
        """The new node, before its member starts: data dir, ports, a kubeadm node's files."""
        checks = [data_dir_check(self.change), ports_check(self.change, ours)]
        paths = self.static_pod.paths(self.change.new_node)
        if paths is not None:
            checks += self.static_pod.checks(paths)
        return checks

    def plan(self) -> Plan:
        view = self.client.read(metrics=False)
        return with_lock(self.plan_from(view), self.run_lock)

    def cluster_lock(self) -> RunLock:
        return self.run_lock

    def plan_from(self, view: ClusterView) -> Plan:
        old = next(
            (m for m in view.members if m.member is not None and m.member.name == self.old_name),
            None,
        ) if self.old_name else None  # fmt: skip
        members = tuple(m.member for m in view.members if m.member is not None)
        ours = self.change.ours(members)
        checks = self.preflight(view, old, ours)
        notes = [
            f"{m.name}: {m.member_id:x}{' learner' if m.is_learner else ''}"
            f"{'' if m.reachable else ' (unreachable)'}"
            for m in view.members
            if m.member_id is not None
        ]
        if self.old_name and old is None:
            notes.append(self._old_member_gone(view, members, ours))
        if ours is not None:
            notes.append(f"{self.new_name} already added as {ours.id:x}: continuing")
        notes.append("scale out only for availability (3 -> 5); never autoscale etcd")
        steps = removal_steps(self.change, old) if old and old.member_id is not None else []
        steps += addition_steps(self.change, ours)
        steps, more = self.pointers.with_pointers(steps, old, ours, members)
        notes += more
        return Plan(self.name, self.cluster, tuple(steps), tuple(checks), tuple(notes))

    def _old_member_gone(
        self, view: ClusterView, members: tuple[Member, ...], ours: Member | None
    ) -> str:
        """The note on a member to replace that is no longer listed: removed by an earlier
        run (go on), or never a member (a UsageError)."""
        if ours is None and not view.error and not self._removed_before():
            known = ", ".join(sorted(m.name for m in members if m.name)) or "none"
            raise UsageError(
                f"no member named {self.old_name!r} in cluster {self.cluster!r} "
                f"(members: {known}), and no earlier run removed one"
            )
        if ours is None and not view.error:
            return f"{self.old_name} is not a member (removed before?): adding only"
        return f"{self.old_name} already removed: continuing"

    def _removed_before(self) -> bool:
        """Whether an earlier run of this cluster's audit log removed `old_name`: then a
        rerun that no longer finds it continues with the addition."""
        entries = AuditLog(self.audit_path).recent(5000)
        return any(
            e.cluster == self.cluster
            and e.runbook == "replace-member"
            and e.step_id == "remove"
            and e.target == self.old_name
            and e.ok
            for e in entries
        )

    # --- changes ----------------------------------------------------------------------------

    def run_step(self, step: Step, output: Output) -> StepResult:
        started = time.perf_counter()
        handler = self.handlers[MemberKind(step.kind)]
        try:
            ok, text = handler(step, output)
        except EtcdtuiError as exc:
            ok, text = False, str(exc)
        if not ok and (hint := advice(text)) and "advice:" not in text:
            text += f"\nadvice: {hint}"
        return StepResult(step, ok, 0 if ok else 1, text, time.perf_counter() - started)

    # --- read-only: verify ------------------------------------------------------------------

    def verify(self) -> list[Check]:
        checks, keys = verify_change(self.change, self.pointers.config_dropped)
        if keys is not None:
            self.keys = keys
        return checks

    def summary(self) -> list[str]:
        lines = []
        if (added := self.member_steps.added_id) is not None:
            lines.append(f"{self.new_name}: member {added:x}")
        if self.keys is not None:
            lines.append(
                f"live keys: {self.keys[0]} on the leader, {self.keys[1]} on {self.new_name}"
            )
        return lines
