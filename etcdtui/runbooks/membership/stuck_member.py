"""Removing a member that was added but never started: it counts toward quorum and serves no one.

A `member add` whose node never came up leaves the cluster one failure closer to losing quorum
(4 members need 3, whatever the fourth does). The dashboard flags such a member; this runbook
removes it, after checking that it really never started and that the rest keep quorum.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepArgs, StepResult, Verdict
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock


class StuckKind(StrEnum):
    """The one kind of step this runbook has."""

    REMOVE = "remove"


@dataclass(frozen=True)
class RemoveAtArgs(StepArgs):
    endpoint: str  # the leader's client URL, where the removal is sent


def _unstarted(view: ClusterView, member_id: int) -> MemberView | None:
    for m in view.members:
        if m.member is not None and m.member.id == member_id:
            return m
    return None


class StuckMemberRemoval:
    """`member remove` of one never-started member, checked before and after."""

    name = "remove-unstarted-member"

    def __init__(self, connection: Connection, client: ClusterClient, member_id: int) -> None:
        self.connection = connection
        self.cluster = connection.cluster
        self.client = client
        self.member_id = member_id
        self.run_lock = RunLock(connection, client, self.name)
        self.handlers = {StuckKind.REMOVE: self._remove}

    def cluster_lock(self) -> RunLock:
        return self.run_lock

    def plan(self) -> Plan:
        view = self.client.read(metrics=False)
        hex_id = format(self.member_id, "x")
        target = _unstarted(view, self.member_id)
        started = [m for m in view.voting_members if m.member is None or m.member.started]
        healthy = [m for m in started if m.healthy]
        checks = []
        if target is None or target.member is None:
            checks.append(Check("member listed", Verdict.FAIL, f"no member {hex_id} in the list"))
        elif target.member.started:
            checks.append(Check("never started", Verdict.FAIL,
                                f"{target.name} has started: replace it instead"))  # fmt: skip
        else:
            urls = ", ".join(target.member.peer_urls) or "no peer URL"
            checks.append(Check("never started", Verdict.PASS,
                                f"{hex_id} ({urls}) was added but never started"))  # fmt: skip
        total = len(view.voting_members)
        after = total - 1
        quorum_after = after // 2 + 1
        verdict = Verdict.PASS if len(healthy) >= quorum_after else Verdict.FAIL
        arithmetic = (
            f"{total} members, quorum {total // 2 + 1}, healthy {len(healthy)}: "
            f"after the removal {after} members, quorum {quorum_after}"
        )
        checks.append(Check("quorum", verdict, arithmetic))
        leader = view.leader
        steps = []
        if leader is not None:
            steps.append(Step(
                "remove", StuckKind.REMOVE, leader.name,
                f"POST {leader.endpoint}/v3/cluster/member/remove {{\"ID\": {self.member_id}}}"
                f"  # etcdctl member remove {hex_id}",
                "it counts toward quorum but serves no one", destructive=True,
                args=RemoveAtArgs(leader.endpoint),
            ))  # fmt: skip
        else:
            checks.append(Check("leader", Verdict.FAIL, "no leader: a removal would not commit"))
        note = "the node's own files are not touched"
        plan = Plan(cluster=self.cluster, runbook=self.name, checks=tuple(checks),
                    steps=tuple(steps), notes=(note,))  # fmt: skip
        return with_lock(plan, self.run_lock)

    def run_step(self, step: Step, output: Output) -> StepResult:
        return self.handlers[StuckKind(step.kind)](step, output)

    def _remove(self, step: Step, output: Output) -> StepResult:
        endpoint = step.params(RemoveAtArgs).endpoint
        try:
            self.client.client(endpoint).member_remove(self.member_id)
        except EtcdtuiError as exc:
            output(exc.message)
            return StepResult(step, False, 1, exc.message, 0.0)
        output(f"removed {self.member_id:x}")
        return StepResult(step, True, 0, "", 0.0)

    def verify(self) -> list[Check]:
        view = self.client.read(metrics=False)
        gone = _unstarted(view, self.member_id) is None
        return [
            Check("member removed", Verdict.PASS if gone else Verdict.FAIL,
                  "no longer in the member list" if gone else "still listed"),
            Check("cluster healthy", Verdict.PASS if view.healthy else Verdict.FAIL,
                  f"{len(view.voting_members)} members, leader "
                  f"{view.leader.name if view.leader else 'none'}"),
        ]  # fmt: skip

    def summary(self) -> list[str]:
        return []
