"""`etcdtui repair MEMBER`: rebuild a member whose data diverged, from the healthy majority.

It is the member-change runbook on the member's own node: stop it and move its data dir aside,
`member remove`, `member add --learner` with the same peer URL, write its flags with
initial-cluster-state=existing, start it on an empty data dir, wait for it to catch up, promote
it. Then a CORRUPT alarm naming it is disarmed, and a new consistency reading verifies that
every member's hash agrees. Preflight refuses without a majority that agrees on the hash
without MEMBER: restoring from a snapshot is then the way.

Run again after a stop past `member remove`, the same command continues (resume.py): the
member is gone from the list or back as a learner, and the plan is the rest of the addition.
"""

from __future__ import annotations

import time
from pathlib import Path

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.models import ClusterView, Member, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.runbooks.audit import new_run_id
from etcdtui.runbooks.defrag.runbook import membership_check
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock
from etcdtui.runbooks.membership.change import MemberChange
from etcdtui.runbooks.membership.handlers import MemberSteps
from etcdtui.runbooks.membership.preflight import (
    addition_checks,
    data_dir_check,
    leader_checks,
    pending_check,
    ports_check,
    removal_checks,
    unreadable_check,
)
from etcdtui.runbooks.membership.steps import Handler, MemberKind, addition_steps, removal_steps
from etcdtui.runbooks.membership.verify import health_checks, settled_view
from etcdtui.runbooks.repair.preflight import ReadConsistency, majority_check
from etcdtui.runbooks.repair.resume import others_agree_check, removal_note, removed_earlier
from etcdtui.runbooks.repair.steps import UNNAMED, DisarmCorruptArgs, RepairKind, disarm_step

CORRUPT = "CORRUPT"


class RepairRunbook:
    """Rebuilds `member` on its own node from the majority's data."""

    def __init__(
        self,
        connection: Connection,
        client: ClusterClient,
        shells: ShellPool,
        member: str,
        read_consistency: ReadConsistency,
        catch_up_timeout: float = 120.0,
        audit_path: Path | None = None,
    ) -> None:
        self.connection = connection
        self.audit_path = audit_path  # where an earlier run's removal of `member` is looked up
        self.cluster = connection.cluster
        self.client = client
        self.member = member
        self.read_consistency = read_consistency
        self.name = "repair"
        self.run_id = new_run_id()
        self.run_lock = RunLock(connection, client, self.name)
        node = next((n for n in connection.nodes if n.member_name == member), None)
        if node is None:
            known = ", ".join(sorted(n.member_name for n in connection.nodes if n.member))
            raise UsageError(
                f"no node of cluster {self.cluster!r} runs a member named {member!r} "
                f"(configured members: {known or 'none'})"
            )
        if not node.peer_urls or not node.client_urls:
            raise UsageError(f"node {node.name} needs peer_urls and client_urls in the config")
        self.node = node
        # The same node, name and peer URL: the member leaves and joins again, empty.
        self.change = MemberChange(
            connection, client, shells, node, member, member, run_stamp=self.run_id
        )
        self.member_steps = MemberSteps(self.change, catch_up_timeout)
        steps = self.member_steps
        self.handlers: dict[str, Handler] = {
            MemberKind.STOP_OLD: steps.stop_old,
            MemberKind.REMOVE: steps.remove,
            MemberKind.PREPARE: steps.prepare,
            MemberKind.ADD: steps.add,
            MemberKind.ENV: steps.write_env,
            MemberKind.START: steps.start,
            MemberKind.CATCH_UP: steps.catch_up,
            MemberKind.PROMOTE: steps.promote,
            RepairKind.DISARM_CORRUPT: self.disarm,
        }
        self.after: str = ""  # the verdict of the verifying reading, for the summary

    # --- read-only: preflight and plan ------------------------------------------------------

    def plan(self) -> Plan:
        view = self.client.read(metrics=False)
        return with_lock(self.plan_from(view), self.run_lock)

    def cluster_lock(self) -> RunLock:
        return self.run_lock

    def plan_from(self, view: ClusterView) -> Plan:
        old = next((m for m in view.members if m.member is not None
                    and m.member.name == self.member), None)  # fmt: skip
        members = tuple(m.member for m in view.members if m.member is not None)
        ours = self.change.ours(members)  # on the node's peer URL: the member, or its learner
        if old is None or old.is_learner or (ours is not None and ours.is_learner):
            return self.resumed_plan(view, ours)
        if old.member_id is None:
            raise UsageError(f"no member named {self.member!r} in cluster {self.cluster!r}")
        checks = self.preflight(view, old)
        steps = [*removal_steps(self.change, old), *addition_steps(self.change, None)]
        notes = [
            f"{self.member} ({old.member_id:x}) is rebuilt on {self.node.name} with the same "
            f"peer URL ({', '.join(self.node.peer_urls)}) from the majority's data",
            "its old data dir is moved aside, never deleted",
        ]
        steps, note = self.with_disarm(steps, view, old.member_id)
        return Plan(self.name, self.cluster, tuple(steps), tuple(checks), (*notes, *note))

    def resumed_plan(self, view: ClusterView, ours: Member | None) -> Plan:
        """The plan of a rerun after `member remove`: the member is gone (or back as a
        learner), so the addition goes on from where the earlier run stopped."""
        removed = removed_earlier(self.audit_path, self.cluster, self.member)
        if ours is None and removed is None and not view.error:
            known = ", ".join(sorted(m.name for m in view.members if m.member_id is not None))
            raise UsageError(
                f"no member named {self.member!r} in cluster {self.cluster!r} "
                f"(members: {known or 'none'}), and no earlier repair removed it"
            )
        checks = [membership_check(view)]
        if view.error:
            checks.append(unreadable_check())
        else:
            others = [m for m in view.voting_members if ours is None or m.member_id != ours.id]
            checks += addition_checks(others)
            checks += leader_checks(view)
            checks.append(pending_check(view, ours))
            if ours is None or not ours.started:
                checks += [data_dir_check(self.change), ports_check(self.change, ours)]
            checks.append(others_agree_check(self.read_consistency(), self.member))
        gone = f"{removed:x}" if removed is not None else "its old ID"
        notes = [f"{self.member} ({gone}) was removed by an earlier repair: continuing"]
        if ours is not None:
            notes.append(f"{self.member} already added as {ours.id:x}: continuing")
        steps = addition_steps(self.change, ours)
        if removed is not None:
            steps, note = self.with_disarm(steps, view, removed)
            notes += note
        return Plan(self.name, self.cluster, tuple(steps), tuple(checks), tuple(notes))

    def with_disarm(
        self, steps: list[Step], view: ClusterView, member_id: int
    ) -> tuple[list[Step], list[str]]:
        """`steps` and the disarming of the CORRUPT alarms naming `member_id` or no member
        (etcd's own check), or a note that there is none."""
        named = {a.member_id for a in view.alarms if a.kind == CORRUPT}
        disarms = [disarm_step(self.member, i) for i in (member_id, UNNAMED) if i in named]
        if disarms:
            return [*steps, *disarms], []
        return steps, [f"no CORRUPT alarm names {self.member} or no member: nothing to disarm"]

    def preflight(self, view: ClusterView, old: MemberView) -> list[Check]:
        """Membership readable, quorum after the removal, a leader, no pending member, the
        node reachable, and a majority agreeing on the hash without MEMBER."""
        checks = [membership_check(view)]
        if view.error:
            return [*checks, unreadable_check()]
        voting = list(view.voting_members)
        # A diverged member answers and counts as healthy: being replaced is the point.
        checks += [c for c in removal_checks(voting, old) if c.verdict != Verdict.WARN]
        checks += leader_checks(view)
        checks.append(pending_check(view, None))
        checks.append(data_dir_check(self.change))
        checks.append(majority_check(self.read_consistency(), self.member))
        return checks

    # --- changes ----------------------------------------------------------------------------

    def run_step(self, step: Step, output: Output) -> StepResult:
        started = time.perf_counter()
        try:
            ok, text = self.handlers[step.kind](step, output)
        except EtcdtuiError as exc:
            ok, text = False, str(exc)
        return StepResult(step, ok, 0 if ok else 1, text, time.perf_counter() - started)

    def result_note(self, result: StepResult) -> str:
        """The remove step's arguments, kept in the audit log for a rerun (resume.py)."""
        return removal_note(result)

    def disarm(self, step: Step, output: Output) -> tuple[bool, str]:
        """Disarm the CORRUPT alarm naming the old member, through a healthy member; the
        one naming no member only when a new reading finds every hash in agreement."""
        member_id = step.params(DisarmCorruptArgs).member_id
        api = self.change.api()
        if not any(a.kind == CORRUPT and a.member_id == member_id for a in api.alarms()):
            return True, f"no CORRUPT alarm names {member_id:x} (disarmed before?)"
        if member_id == UNNAMED:
            reading = self.read_consistency()
            output(f"consistency: {reading.verdict} (revision {reading.revision})")
            if not reading.consistent:
                return False, f"the CORRUPT alarm etcd raised stays: {reading.verdict}"
        api.disarm_alarm(member_id, CORRUPT)
        return True, f"disarmed CORRUPT on {member_id:x}"

    # --- read-only: verify ------------------------------------------------------------------

    def verify(self) -> list[Check]:
        """A settled, healthy cluster, then a new reading in which every hash agrees."""
        view = settled_view(self.client, seconds=30.0)
        checks = health_checks(view)
        reading = self.read_consistency()
        self.after = reading.verdict
        checks.append(
            Check("every member's hash agrees",
                  Verdict.PASS if reading.consistent else Verdict.FAIL,
                  f"{reading.verdict} (revision {reading.revision})")
        )  # fmt: skip
        return checks

    def summary(self) -> list[str]:
        lines = []
        if (added := self.member_steps.added_id) is not None:
            lines.append(f"{self.member}: rebuilt as member {added:x}")
        if self.after:
            lines.append(f"consistency: {self.after}")
        return lines
