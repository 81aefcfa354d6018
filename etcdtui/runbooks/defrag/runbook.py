"""Defragmentation and space recovery: followers first, the leader last, health between.

`DefragRunbook` defragments the members a rule selects; `NospaceRecovery` is the way out of a
NOSPACE alarm: compact, defragment every member, disarm, check that writes work again.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool, quote_sudo
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdError, EtcdtuiError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.audit import new_run_id
from etcdtui.runbooks.defrag.rule import Rule, member_values
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock

WRITE_CHECK_KEY = b"etcdtui/nospace-recovery-check"
QUOTA_VARIABLES = frozenset({"dbQuota", "dbQuotaUsage"})

# etcd's refusal to compact to a revision at or below the last compaction.
COMPACTED = "required revision has been compacted"


@dataclass(frozen=True)
class DefragOptions:
    rule: Rule | None = None
    compact: bool = False
    move_leader: bool = False
    wait: float = 5.0  # seconds between members, after the health re-check passes
    defrag_timeout: float = 60.0  # etcdctl's 5 s is too short for a large database
    on_node: bool = False  # etcdctl defrag on each member's node over SSH


def membership_check(view: ClusterView) -> Check:
    """Quorum arithmetic needs the member list, and every endpoint must be one of them."""
    if view.error:
        return Check("member list", Verdict.FAIL, f"{view.error}: quorum cannot be computed")
    strangers = [m.endpoint for m in view.members if m.reachable and m.member is None]
    if strangers:
        reason = "answers but is not a member of this cluster: " + ", ".join(strangers)
        return Check("member list", Verdict.FAIL, reason)
    return Check("member list", Verdict.PASS, f"{len(view.members)} members listed")


def _ok(view: MemberView) -> bool:
    """Healthy, or unhealthy only because of an alarm (NOSPACE is why one defragments)."""
    return view.reachable and view.health is not None and view.health.read_ok


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
        self.sizes: dict[str, tuple[int, int, float]] = {}  # name -> size before, after, secs
        self.expected_leader: int | None = None  # who must lead when each step starts
        self.run_lock = RunLock(connection, client, self.name)
        self.run_id = new_run_id()  # the screen shows it with the plan; the engine records it

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
        checks = [membership_check(view)]
        corrupt = [a for a in view.alarms if a.kind == "CORRUPT"]
        if corrupt:
            who = ", ".join(f"{a.member_id:x}" for a in corrupt)
            reason = f"CORRUPT raised by {who}: investigate before any maintenance"
            checks.append(Check("no CORRUPT alarm", Verdict.FAIL, reason))
        voting = view.voting_members
        healthy = [m for m in voting if _ok(m)]
        arithmetic = (
            f"{len(voting)} members, quorum {view.quorum}, healthy {len(healthy)}: "
            f"pausing one leaves {len(healthy) - 1}"
        )
        checks.append(
            Check("quorum while one member pauses",
                  Verdict.PASS if len(healthy) - 1 >= view.quorum else Verdict.FAIL, arithmetic)
        )  # fmt: skip
        unreachable = [m.name for m in voting if not m.reachable]
        checks.append(
            Check("every member reachable", Verdict.FAIL if unreachable else Verdict.PASS,
                  "unreachable: " + ", ".join(unreachable) if unreachable else "all answered")
        )  # fmt: skip
        sick = [m.name for m in chosen if not _ok(m)]
        checks.append(
            Check("chosen members healthy (alarms tolerated)",
                  Verdict.FAIL if sick else Verdict.PASS,
                  "unhealthy: " + ", ".join(sick) if sick else f"{len(chosen)} chosen")
        )  # fmt: skip
        learners = [m.name for m in view.members if m.is_learner]
        if learners:
            checks.append(Check("learners", Verdict.WARN, "left out: " + ", ".join(learners)))
        checks.append(
            Check("leader", Verdict.PASS if view.leader else Verdict.FAIL,
                  f"{view.leader.name}" if view.leader else "no leader: wait for an election")
        )  # fmt: skip
        if not chosen:
            checks.append(Check("members to defragment", Verdict.WARN, "the rule chose none"))
        if self.options.on_node:
            missing = [m.name for m in chosen if self._node(m.name) is None]
            checks.append(
                Check("nodes in the config (--on-node)", Verdict.FAIL if missing else Verdict.PASS,
                      "no node for: " + ", ".join(missing) if missing else "every member's node")
            )  # fmt: skip
            nodes = [node for m in chosen if (node := self._node(m.name)) is not None]
            if nodes:
                checks.append(self._ssh_check(nodes))
        return checks

    def _ssh_check(self, nodes: list[NodeConfig]) -> Check:
        """--on-node logs into every chosen node (host key, login, a command) at plan time:
        a changed host key or a dead sshd on the last node must stop the run before the
        first member pauses, not after the others were defragmented."""
        name = "SSH to every chosen node (--on-node)"
        shells = self.shells
        if shells is None:
            return Check(name, Verdict.FAIL, "no SSH settings: --on-node needs the config's nodes")

        def problem(node: NodeConfig) -> str:
            try:
                result = shells.shell(node.name).run("true", timeout=30, sudo=False)
            except EtcdtuiError as exc:
                return str(exc)
            return "" if result.ok else f"{node.name}: `true` exited {result.exit_code}"

        # In parallel: one unreachable node costs one connect timeout, not one per node.
        with ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="preflight") as pool:
            problems = [p for p in pool.map(problem, nodes) if p]
        if problems:
            return Check(name, Verdict.FAIL, "; ".join(problems))
        return Check(name, Verdict.PASS, ", ".join(node.name for node in nodes))

    def _node(self, name: str) -> NodeConfig | None:
        return next((n for n in self.connection.nodes if n.member_name == name), None)

    def defrag_step(self, m: MemberView) -> Step:
        timeout = self.options.defrag_timeout
        if self.options.on_node:
            node = self._node(m.name)
            command = self.etcdctl_on_node(m, node, f"--command-timeout={timeout:g}s defrag")
            if node is not None and node.sudo:
                command = quote_sudo(command)  # shown and journaled exactly as it runs
            return Step(f"defrag-{m.name}", "defrag_ssh", node.name if node else m.name,
                        command, f"defragment {m.name} on its own node",
                        args=(("member", m.name), ("endpoint", m.endpoint)))  # fmt: skip
        return Step(
            f"defrag-{m.name}", "defrag", m.name,
            f"POST {m.endpoint}/v3/maintenance/defragment (timeout {timeout:g} s)"
            f"  # etcdctl --endpoints={m.endpoint} --command-timeout={timeout:g}s defrag",
            f"give back {human_bytes(m.status.db_size_free if m.status else 0)} of free pages",
            args=(("member", m.name), ("endpoint", m.endpoint)),
        )  # fmt: skip

    def etcdctl_on_node(self, m: MemberView, node: NodeConfig | None, tail: str) -> str:
        variables = dict(node.vars) if node is not None else {}
        tls = self.connection.node_tls(node)
        # The member as the node reaches it (kubeadm's https://127.0.0.1:2379, say).
        endpoint = (node.client_url_on_node if node is not None else "") or m.endpoint
        parts = [variables.get("etcdctl", "etcdctl"), f"--endpoints={endpoint}"]
        for flag, value in (("--cacert", tls.cacert), ("--cert", tls.cert), ("--key", tls.key)):
            if value:
                parts.append(f"{flag}={value}")
        return "ETCDCTL_API=3 " + " ".join(shlex.quote(p) for p in parts) + " " + tail

    def member_steps(self, view: ClusterView, chosen: list[MemberView]) -> list[Step]:
        leader = view.leader
        order = [m for m in chosen if not m.is_leader] + [m for m in chosen if m.is_leader]
        steps: list[Step] = []
        for i, m in enumerate(order):
            steps.append(
                Step(
                    f"health-before-{m.name}",
                    "health",
                    m.name,
                    "status and a linearizable read of every member  # etcdctl endpoint health",
                    f"stop unless the cluster is healthy before pausing {m.name}",
                )
            )
            if m.is_leader and self.options.move_leader:
                target = next((f for f in order[:i] if _ok(f)), None) or next(
                    (f for f in view.voting_members if not f.is_leader and _ok(f)), None
                )
                if target is not None and target.member_id is not None and leader is not None:
                    steps.append(Step(
                        f"move-leader-{target.name}", "move_leader", m.name,
                        f"POST {m.endpoint}/v3/maintenance/transfer-leadership "
                        f"targetID={target.member_id:x}"
                        f"  # etcdctl move-leader {target.member_id:x}",
                        f"hand leadership to {target.name} (already defragmented) first",
                        args=(("endpoint", m.endpoint), ("target", str(target.member_id)),
                              ("target_name", target.name)),
                    ))  # fmt: skip
            steps.append(self.defrag_step(m))
            if i < len(order) - 1 and self.options.wait > 0:
                steps.append(Step(f"wait-after-{m.name}", "wait", m.name,
                                  f"sleep {self.options.wait:g}",
                                  "let the member catch up before the next one",
                                  args=(("seconds", str(self.options.wait)),)))  # fmt: skip
        return steps

    def compact_step(self, view: ClusterView, confirm: str) -> Step | None:
        leader = view.leader
        if leader is None or leader.status is None:
            return None
        revision = leader.status.revision
        return Step(
            "compact", "compact", leader.name,
            f"POST {leader.endpoint}/v3/kv/compaction revision={revision} physical=true"
            f"  # etcdctl compact {revision} --physical",
            f"drop the history before revision {revision} ({confirm})",
            destructive=True, args=(("endpoint", leader.endpoint), ("revision", str(revision))),
        )  # fmt: skip

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
        self.expected_leader = view.leader.member_id if view.leader else None
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
        handler = getattr(self, f"_do_{step.kind}")
        ok, text = handler(step, output)
        return StepResult(step, ok, 0 if ok else 1, text, time.perf_counter() - started)

    def _do_health(self, step: Step, output: Output) -> tuple[bool, str]:
        view = self.client.read(metrics=False)
        membership = membership_check(view)
        if membership.failed:
            return False, f"{membership.reason}: stopping"
        bad = [f"{m.name} ({m.problem or 'not healthy'})" for m in view.voting_members
               if not _ok(m)]  # fmt: skip
        if view.leader is None:
            return False, "no leader: stopping"
        if self.expected_leader is not None and view.leader.member_id != self.expected_leader:
            # The order (leader last) and any move-leader step were planned for another leader.
            return False, f"the leader changed to {view.leader.name} since the plan: plan again"
        if bad:
            return False, "unhealthy now: " + "; ".join(bad) + ": stopping"
        return True, f"healthy: {len(view.voting_members)} members, leader {view.leader.name}"

    def _do_wait(self, step: Step, output: Output) -> tuple[bool, str]:
        time.sleep(float(step.arg("seconds")))
        return True, f"waited {step.arg('seconds')} s"

    def _do_compact(self, step: Step, output: Output) -> tuple[bool, str]:
        client = self.client.client(step.arg("endpoint"))
        try:
            client.compact(int(step.arg("revision")), self.options.defrag_timeout)
        except EtcdError as exc:
            # A run stopped after its compaction, rerun while a NOSPACE alarm keeps the
            # revision where it was: the work is done, and the run goes on to defragment.
            if COMPACTED in exc.message:
                return True, f"already compacted to revision {step.arg('revision')}: nothing new"
            raise
        return True, f"compacted to revision {step.arg('revision')}"

    def _do_move_leader(self, step: Step, output: Output) -> tuple[bool, str]:
        target = int(step.arg("target"))
        # etcd may wait for the target to catch up and for an election: allow it the time.
        self.client.client(step.arg("endpoint")).move_leader(target, timeout=30.0)
        self.expected_leader = target
        return True, f"leadership moved to {step.arg('target_name')}"

    def _measure(
        self, step: Step, output: Output, act: Callable[[], tuple[bool, str]]
    ) -> tuple[bool, str]:
        client = self.client.client(step.arg("endpoint"))
        before = client.status().db_size
        started = time.perf_counter()
        ok, text = act()
        took = time.perf_counter() - started
        if not ok:
            return False, text
        after = client.status().db_size
        self.sizes[step.arg("member")] = (before, after, took)
        line = (
            f"{step.arg('member')}: {human_bytes(before)} -> {human_bytes(after)} in {took:.1f} s"
        )
        output(line)
        return True, line

    def _do_defrag(self, step: Step, output: Output) -> tuple[bool, str]:
        client = self.client.client(step.arg("endpoint"))

        def act() -> tuple[bool, str]:
            client.defragment(self.options.defrag_timeout)
            return True, ""

        return self._measure(step, output, act)

    def _do_defrag_ssh(self, step: Step, output: Output) -> tuple[bool, str]:
        assert self.shells is not None, "--on-node needs the config's nodes"

        def act() -> tuple[bool, str]:
            result = self.shells.shell(step.target).run(  # type: ignore[union-attr]
                step.command, timeout=self.options.defrag_timeout + 10, sudo=False,
                on_line=lambda _stream, line: output(line),
            )  # fmt: skip
            text = (result.stdout + result.stderr).strip()
            return result.exit_code == 0, text or f"exit code {result.exit_code}"

        return self._measure(step, output, act)

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
        lines = []
        for name, (before, after, took) in self.sizes.items():
            lines.append(f"{name}: {human_bytes(before)} -> {human_bytes(after)} in {took:.1f} s")
        return lines


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

    def plan(self) -> Plan:
        view = self.client.read(metrics=False)
        self.before = view
        self.expected_leader = view.leader.member_id if view.leader else None
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
            steps.append(Step(
                f"disarm-{alarm.member_id:x}", "disarm", f"{alarm.member_id:x}",
                f"POST {endpoint}/v3/maintenance/alarm action=DEACTIVATE "
                f"memberID={alarm.member_id:x} alarm={alarm.kind}  # etcdctl alarm disarm",
                "writes are refused while the alarm is armed",
                args=(("endpoint", endpoint), ("member_id", str(alarm.member_id)),
                      ("alarm", alarm.kind)),
            ))  # fmt: skip
        steps.append(Step(
            "write-check", "write_check", "cluster",
            f"PUT {WRITE_CHECK_KEY.decode()} then DELETE it",
            "prove that writes succeed again", args=(("endpoint", endpoint),),
        ))  # fmt: skip
        self.keys_before = self._key_count(view)
        return with_lock(Plan(self.name, self.cluster, tuple(steps), tuple(checks)), self.run_lock)

    def _do_disarm(self, step: Step, output: Output) -> tuple[bool, str]:
        client = self.client.client(step.arg("endpoint"))
        client.disarm_alarm(int(step.arg("member_id")), step.arg("alarm"))
        return True, f"{step.arg('alarm')} disarmed on {step.target}"

    def _do_write_check(self, step: Step, output: Output) -> tuple[bool, str]:
        client = self.client.client(step.arg("endpoint"))
        client.put(WRITE_CHECK_KEY, b"ok")
        client.delete(WRITE_CHECK_KEY)
        return True, "a write and a delete succeeded"

    def verify(self) -> list[Check]:
        view = self.client.read(metrics=False)  # one read serves every check
        checks = self.verify_view(view)
        checks.append(
            Check("no alarm", Verdict.FAIL if view.alarms else Verdict.PASS,
                  ", ".join(a.kind for a in view.alarms) or "none active")
        )  # fmt: skip
        return checks
