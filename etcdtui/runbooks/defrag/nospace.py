"""The way out of a NOSPACE alarm: compact, defragment every member, disarm, check a write.

`NospaceRecovery` is the defrag runbook with every member chosen and a compaction first, plus
two steps of its own (`AlarmSide`): disarm each NOSPACE alarm, then prove a write succeeds.
"""

from __future__ import annotations

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import Connection
from etcdtui.models.runbook import Check, Plan, Step, Verdict
from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook
from etcdtui.runbooks.defrag.steps import (
    WRITE_CHECK_KEY,
    DefragKind,
    DisarmArgs,
    WriteCheckArgs,
    disarm_step,
    write_check_step,
)
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock


class AlarmSide:
    """Disarms the NOSPACE alarms and proves that the cluster takes writes again."""

    def __init__(self, client: ClusterClient) -> None:
        self.client = client

    def disarm(self, step: Step, output: Output) -> tuple[bool, str]:
        args = step.params(DisarmArgs)
        self.client.client(args.endpoint).disarm_alarm(args.member_id, args.alarm)
        return True, f"{args.alarm} disarmed on {step.target}"

    def write_check(self, step: Step, output: Output) -> tuple[bool, str]:
        client = self.client.client(step.params(WriteCheckArgs).endpoint)
        client.put(WRITE_CHECK_KEY, b"ok")
        client.delete(WRITE_CHECK_KEY)
        return True, "a write and a delete succeeded"


class NospaceRecovery(DefragRunbook):
    """Out of a NOSPACE alarm: compact, defragment every member, disarm, check a write."""

    name = "nospace-recovery"

    def __init__(
        self, connection: Connection, client: ClusterClient, options: DefragOptions | None = None
    ) -> None:
        options = options or DefragOptions()
        super().__init__(connection, client, DefragOptions(
            compact=True, move_leader=False, wait=options.wait,
            defrag_timeout=options.defrag_timeout, on_node=False,
        ))  # fmt: skip
        self.run_lock = RunLock(connection, client, self.name, use_etcd=False,
                                local_reason="a NOSPACE alarm refuses every write")  # fmt: skip
        self.alarms = AlarmSide(client)
        self.handlers[DefragKind.DISARM] = self.alarms.disarm
        self.handlers[DefragKind.WRITE_CHECK] = self.alarms.write_check

    def plan(self) -> Plan:
        view = self.client.read(metrics=False)
        self.before = view
        self.cluster_side.expected_leader = view.leader.member_id if view.leader else None
        chosen = [m for m in view.members if m.status is not None and not m.is_learner]
        checks = self.preflight(view, chosen)
        nospace = [a for a in view.alarms if a.kind == "NOSPACE"]
        checks.append(
            Check("NOSPACE alarm active", Verdict.PASS if nospace else Verdict.WARN,
                  f"raised by {len(nospace)} member(s)" if nospace else
                  "no NOSPACE alarm: the steps still compact and defragment")
        )  # fmt: skip
        steps: list[Step] = []
        if step := self.compact_step(view, "needed to free space; old revisions are gone"):
            steps.append(step)
        steps += self.member_steps(view, chosen)
        leader = view.leader
        endpoint = leader.endpoint if leader else self.connection.endpoints[0]
        for alarm in nospace:  # never CORRUPT: that one hides damage, it is not about space
            steps.append(disarm_step(endpoint, alarm.member_id, alarm.kind))
        steps.append(write_check_step(endpoint))
        self.keys_before = self._key_count(view)
        return with_lock(Plan(self.name, self.cluster, tuple(steps), tuple(checks)), self.run_lock)

    def verify(self) -> list[Check]:
        view = self.client.read(metrics=False)  # one read serves every check
        checks = self.verify_view(view)
        checks.append(
            Check("no alarm", Verdict.FAIL if view.alarms else Verdict.PASS,
                  ", ".join(a.kind for a in view.alarms) or "none active")
        )  # fmt: skip
        return checks
