"""Member changes, learner first: replace a failed member, or add one (scale-out 3 -> 5).

Replacing: stop etcd on the failed node if it answers and move its data dir aside, `member
remove`, `member add` as a learner, write the new node's env file (the survivors plus the new
member, ETCD_INITIAL_CLUSTER_STATE=existing), start etcd there, wait until the learner has
caught up, `member promote`, verify. Adding is the same without the first two steps.

Run again after a stop, the same command continues: the plan is made from the member list
(the failed member gone, the new one added or started) and each step skips what is done.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdError, EtcdtuiError, UsageError
from etcdtui.models import ClusterView, Member, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.runbooks.audit import AuditLog, new_run_id
from etcdtui.runbooks.defrag.runbook import membership_check
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.lock import RunLock, with_lock
from etcdtui.runbooks.membership.handlers import advice, quorum_loss
from etcdtui.runbooks.membership.pointers import PointerSteps
from etcdtui.runbooks.membership.ports import LISTENING_SCRIPT, listening, taken
from etcdtui.runbooks.membership.static_pod import StaticPodSteps


def _quorum(voting: int) -> int:
    return voting // 2 + 1


class MemberChangeRunbook(StaticPodSteps, PointerSteps):
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
        self.shells = shells
        self.new_node = connection.node(new_node)
        self.new_name = new_name or self.new_node.member or self.new_node.name
        self.old_name = old_member
        self.name = "replace-member" if old_member else "add-member"
        # The run's id, shown in the plan and recorded in the audit log (the engine takes it),
        # and the stamp of what the run moves aside on the nodes.
        self.run_id = new_run_id()
        self.run_stamp = self.run_id
        self.run_lock = RunLock(connection, client, self.name)
        self.catch_up_timeout = catch_up_timeout
        self.added_id: int | None = None
        self.keys: tuple[int, int] | None = None  # the leader's count, the new member's
        if not self.new_node.peer_urls or not self.new_node.client_urls:
            raise UsageError(f"node {new_node} needs peer_urls and client_urls in the config")

    # --- read-only: preflight and plan ------------------------------------------------------

    def _old_node(self) -> NodeConfig | None:
        return next((n for n in self.connection.nodes if n.member_name == self.old_name), None)

    def _data_dir_state(self) -> Check:
        node = self.new_node
        q = shlex.quote(node.data_dir)
        raw = (
            f'if [ -d {q} ] && [ -n "$(ls -A {q})" ]; then echo nonempty; '
            f"elif [ -e {q} ]; then echo empty; else echo absent; fi"
        )
        try:
            result = self._sh(node, raw, timeout=15)
        except EtcdtuiError as exc:
            return Check(f"{node.name} reachable over SSH", Verdict.FAIL, str(exc))
        state = result.stdout.strip() or _fallback(result.stderr)
        if state == "nonempty":
            return Check(
                f"{node.name} reachable, data dir free",
                Verdict.WARN,
                f"{node.data_dir} holds data: it will be moved aside, never deleted",
            )
        return Check(
            f"{node.name} reachable, data dir free", Verdict.PASS, f"{node.data_dir} is {state}"
        )

    def _ports_check(self, ours: Member | None) -> Check:
        """The new member's peer and client ports, free on its node: etcd exits at once when
        one is taken, after the member was added."""
        node = self.new_node
        urls = list(dict.fromkeys([*node.peer_urls, *node.client_urls, node.local_client_url]))
        urls = [url for url in urls if url]
        name = f"{node.name}: peer and client ports free"
        try:
            result = self._sh(node, LISTENING_SCRIPT, timeout=15)
        except EtcdtuiError as exc:
            return Check(name, Verdict.FAIL, str(exc))
        if not result.stdout.strip():
            reason = "cannot read /proc/net/tcp there: not checked"
            return Check(name, Verdict.WARN, f"{reason} ({_fallback(result.stderr)})")
        busy = taken(urls, listening(result.stdout))
        if not busy:
            return Check(name, Verdict.PASS, ", ".join(urls))
        if ours is not None:  # added before: the etcd an earlier run started may hold them
            return Check(name, Verdict.WARN, "in use: " + ", ".join(busy) + " (by the etcd "
                         "an earlier run started there?)")  # fmt: skip
        return Check(name, Verdict.FAIL, "in use: " + ", ".join(busy) + ": etcd could not "
                     "bind them; stop what listens there, or give the node other URLs")  # fmt: skip

    def preflight(
        self, view: ClusterView, old: MemberView | None, ours: Member | None
    ) -> list[Check]:
        checks = [membership_check(view)]
        if view.error:
            checks.append(
                Check(
                    "quorum",
                    Verdict.FAIL,
                    "the member list cannot be read: without a quorum etcd changes "
                    "no membership; restart failed members or restore from a "
                    "snapshot",
                )
            )
            return checks
        voting = [m for m in view.voting_members if ours is None or m.member_id != ours.id]
        healthy = [m for m in voting if m.healthy]
        n, q = len(voting), _quorum(len(voting))
        if old is not None:
            after_n = n - 1
            after_healthy = len(healthy) - (1 if old.healthy else 0)
            ok = len(healthy) >= q and after_healthy >= _quorum(after_n)
            reason = (
                f"{n} members, quorum {q}, healthy {len(healthy)}: removing {old.name} "
                f"{'keeps' if ok else 'loses'} quorum ({after_n} members, quorum "
                f"{_quorum(after_n)}, healthy {after_healthy})"
            )
            if len(healthy) < q:
                answering = sum(1 for m in voting if m.reachable)
                reason += (
                    f": refused: quorum is lost now ({answering} of {n} answer, none can "
                    "commit) and etcd accepts no membership change without it; bring the "
                    "failed members back, or restore from a snapshot"
                )
            elif not ok:
                reason += ": refused: replace or restart another failed member first"
            checks.append(
                Check("quorum after the removal", Verdict.PASS if ok else Verdict.FAIL, reason)
            )
            if old.healthy:
                checks.append(
                    Check(
                        f"{old.name} has failed",
                        Verdict.WARN,
                        f"{old.name} is healthy: a working member will be replaced",
                    )
                )
            else:
                checks.append(
                    Check(f"{old.name} has failed", Verdict.PASS, old.problem or "unreachable")
                )
        else:
            ok = len(healthy) >= q
            checks.append(
                Check(
                    "quorum",
                    Verdict.PASS if ok else Verdict.FAIL,
                    f"{n} members, quorum {q}, healthy {len(healthy)}",
                )
            )
            after = n + 1
            if after % 2 == 0:
                checks.append(
                    Check(
                        "odd member count",
                        Verdict.WARN,
                        f"{after} members is an even count: no more failures "
                        f"tolerated than with {after - 1}; add one more",
                    )
                )
        if view.leader is None:
            checks.append(Check("leader", Verdict.FAIL, "no leader: wait for an election"))
        pending = [
            m
            for m in view.members
            if m.member is not None
            and (m.is_learner or not m.member.started)
            and (ours is None or m.member.id != ours.id)
        ]
        own = ours is not None and (ours.is_learner or not ours.started)
        if pending:
            verdict, reason = (
                Verdict.FAIL,
                "pending: "
                + ", ".join(
                    f"{m.name} {m.member_id:x}" for m in pending if m.member_id is not None
                ),
            )
        elif own:
            assert ours is not None
            verdict, reason = (
                Verdict.PASS,
                f"pending: only this run's own learner {ours.id:x} (continuing)",
            )
        else:
            verdict, reason = Verdict.PASS, "no learner or unstarted member"
        checks.append(Check("no other member change pending", verdict, reason))
        clash = [
            m.name
            for m in view.members
            if m.member is not None
            and set(m.member.peer_urls) & set(self.new_node.peer_urls)
            and (ours is None or m.member.id != ours.id)
        ]
        checks.append(
            Check(
                "new peer URL free",
                Verdict.FAIL if clash else Verdict.PASS,
                f"{','.join(self.new_node.peer_urls)} used by {', '.join(clash)}"
                if clash
                else ",".join(self.new_node.peer_urls),
            )
        )
        if ours is None or not ours.started:
            checks.append(self._data_dir_state())
            checks.append(self._ports_check(ours))
            paths = self.static_pod(self.new_node)
            if paths is not None:
                checks.extend(self.static_pod_checks(paths))
        return checks

    def plan(self) -> Plan:
        view = self.client.read(metrics=False)
        return with_lock(self.plan_from(view), self.run_lock)

    def cluster_lock(self) -> RunLock:
        return self.run_lock

    def plan_from(self, view: ClusterView) -> Plan:
        old = (
            next(
                (
                    m
                    for m in view.members
                    if m.member is not None and m.member.name == self.old_name
                ),
                None,
            )
            if self.old_name
            else None
        )
        members = tuple(m.member for m in view.members if m.member is not None)
        ours = self._ours(members)
        checks = self.preflight(view, old, ours)
        notes = [
            f"{m.name}: {m.member_id:x}{' learner' if m.is_learner else ''}"
            f"{'' if m.reachable else ' (unreachable)'}"
            for m in view.members
            if m.member_id is not None
        ]
        if self.old_name and old is None:
            if ours is None and not view.error and not self._removed_before():
                known = ", ".join(sorted(m.name for m in members if m.name)) or "none"
                raise UsageError(
                    f"no member named {self.old_name!r} in cluster {self.cluster!r} "
                    f"(members: {known}), and no earlier run removed one"
                )
            if ours is None and not view.error:
                notes.append(f"{self.old_name} is not a member (removed before?): adding only")
            else:
                notes.append(f"{self.old_name} already removed: continuing")
        if ours is not None:
            notes.append(f"{self.new_name} already added as {ours.id:x}: continuing")
        notes.append("scale out only for availability (3 -> 5); never autoscale etcd")
        steps = self._steps(old, ours)
        steps, more = self._with_pointers(steps, old, ours, members)
        notes += more
        return Plan(self.name, self.cluster, tuple(steps), tuple(checks), tuple(notes))

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

    def _steps(self, old: MemberView | None, ours: Member | None) -> list[Step]:
        steps: list[Step] = []
        node = self.new_node
        if old is not None and old.member_id is not None:
            old_node = self._old_node()
            if old_node is not None:
                stop = self.connection.profile_command(old_node, "stop")
                aside = f"{old_node.data_dir}.etcdtui-removed-{self.run_stamp}"
                steps.append(
                    Step(
                        "stop-old",
                        "stop_old",
                        old_node.name,
                        f"{stop} && mv {shlex.quote(old_node.data_dir)} {shlex.quote(aside)}"
                        "  (skipped if SSH is down)",
                        f"{self.old_name} must never come back with its old data",
                        destructive=True,
                        args=(("node", old_node.name),),
                    )
                )
            endpoint = "POST /v3/cluster/member/remove"
            steps.append(
                Step(
                    "remove",
                    "remove",
                    self.old_name,
                    f"{endpoint} ID={old.member_id}  # etcdctl member remove {old.member_id:x}",
                    f"take {self.old_name} out of the cluster (and of every apiserver's "
                    "--etcd-servers)",
                    destructive=True,
                    args=(("member_id", str(old.member_id)),),
                )
            )
        peers = ",".join(node.peer_urls)
        if ours is None:
            steps.append(
                Step(
                    "prepare",
                    "prepare",
                    node.name,
                    f"mv {shlex.quote(node.data_dir)} "
                    f"{shlex.quote(f'{node.data_dir}.etcdtui-moved-{self.run_stamp}')}"
                    "  (only if it holds data)",
                    "a new member must start from an empty data dir",
                )
            )
            steps.append(
                Step(
                    "add",
                    "add",
                    self.new_name,
                    f'POST /v3/cluster/member/add {{"peerURLs": ["{peers}"], "isLearner": true}}'
                    f"  # etcdctl member add {self.new_name} --peer-urls={peers} --learner",
                    "a learner first: it does not count for quorum until it has caught up",
                )
            )
        if ours is None or not ours.started:
            env_file = node.vars.get("env_file")
            target = env_file or f"(profile {node.profile}: set by hand)"
            what = (
                f"ETCD_NAME={self.new_name} ETCD_INITIAL_CLUSTER=<members>,"
                f"{self.new_name}={peers} ETCD_INITIAL_CLUSTER_STATE=existing"
            )
            if node.profile == "static-pod":
                stash = self.connection.profile_var(node, "manifest_stash")
                target = f"{stash} (a running member's etcd.yaml)"
                what = (
                    f"--name={self.new_name} --initial-cluster=<members>,"
                    f"{self.new_name}={peers} --initial-cluster-state=existing"
                )
            steps.append(
                Step(
                    "env",
                    "env",
                    node.name,
                    f"write {target}: {what}",
                    "the new member joins the existing cluster with the same token",
                )
            )
        steps.append(
            Step(
                "start",
                "start",
                node.name,
                self.connection.profile_command(node, "start"),
                f"start etcd as {self.new_name}",
            )
        )
        steps.append(
            Step(
                "catch-up",
                "catch_up",
                self.new_name,
                f"GET status of {node.client_urls[0]} until its applied index is "
                "close to the leader's",
                "promote only a learner in sync",
            )
        )
        steps.append(
            Step(
                "promote",
                "promote",
                self.new_name,
                "POST /v3/cluster/member/promote  # etcdctl member promote <ID>",
                "make it a voting member",
            )
        )
        return steps

    # --- changes ----------------------------------------------------------------------------

    def run_step(self, step: Step, output: Output) -> StepResult:
        started = time.perf_counter()
        try:
            ok, text = getattr(self, f"_do_{step.kind}")(step, output)
        except EtcdtuiError as exc:
            ok, text = False, str(exc)
        if not ok and (hint := advice(text)) and "advice:" not in text:
            text += f"\nadvice: {hint}"
        return StepResult(step, ok, 0 if ok else 1, text, time.perf_counter() - started)

    # --- read-only: verify ------------------------------------------------------------------

    def verify(self) -> list[Check]:
        deadline = time.monotonic() + 10
        view = self.client.read(metrics=False)
        # A fresh promotion settles within seconds; a cluster without quorum never does.
        while not _settled(view) and not quorum_loss(view) and time.monotonic() < deadline:
            time.sleep(1.0)
            view = self.client.read(metrics=False)
        leaders = [m for m in view.members if m.is_leader]
        # A configured endpoint of the removed member answers no more and is no member.
        listed = [m for m in view.members if m.member is not None]
        stale = [m.endpoint for m in view.members if m.member is None and not m.reachable]
        sick = [m for m in listed if not m.healthy]
        ok = bool(listed) and not sick and not view.alarms and bool(leaders)
        checks = [
            Check(
                "cluster healthy",
                Verdict.PASS if ok else Verdict.FAIL,
                f"{len(listed)} members healthy" if ok
                else "; ".join(f"{m.name}: {m.problem}" for m in sick) or "no leader or alarms",
            ),
            Check(
                "one leader",
                Verdict.PASS if len(leaders) == 1 else Verdict.FAIL,
                ", ".join(m.name for m in leaders) or "none",
            ),
        ]  # fmt: skip
        left = [url for url in stale if url not in self.config_dropped]
        if left:
            checks.append(Check("configured endpoints", Verdict.WARN,
                                "no member answers at " + ", ".join(left) + ": remove it from "
                                "the config and every apiserver's --etcd-servers"))  # fmt: skip
        elif stale:
            where = self.connection.source or "the config"
            checks.append(Check("configured endpoints", Verdict.PASS,
                                f"{', '.join(stale)} gone from {where} as well (this "
                                "session lists it until the config is read again)"))  # fmt: skip
        mine = next(
            (
                m
                for m in view.members
                if m.member is not None and set(m.member.peer_urls) & set(self.new_node.peer_urls)
            ),
            None,
        )
        if mine is None or mine.is_learner or not mine.healthy:
            state = "absent" if mine is None else "a learner" if mine.is_learner else mine.problem
            checks.append(Check(f"{self.new_name} a voting member", Verdict.FAIL, state))
            return checks
        checks.append(
            Check(f"{self.new_name} a voting member", Verdict.PASS, f"{mine.member_id:x}")
        )
        if self.old_name:
            gone = not any(
                m.member is not None and m.member.name == self.old_name for m in view.members
            )
            checks.append(
                Check(
                    f"{self.old_name} removed",
                    Verdict.PASS if gone else Verdict.FAIL,
                    "not in the member list" if gone else "still a member",
                )
            )
        leader = leaders[0] if leaders else None
        if leader is not None:
            try:
                theirs = self.client.client(leader.endpoint).key_count()
                ours = self.client.client(mine.endpoint).key_count()
            except EtcdError as exc:
                checks.append(Check("keys on the new member", Verdict.FAIL, str(exc)))
                return checks
            self.keys = (theirs, ours)
            checks.append(
                Check(
                    "keys on the new member",
                    Verdict.PASS if theirs == ours else Verdict.WARN,
                    f"{ours} live keys on {self.new_name}, {theirs} on the leader",
                )
            )
        return checks

    def summary(self) -> list[str]:
        lines = []
        if self.added_id is not None:
            lines.append(f"{self.new_name}: member {self.added_id:x}")
        if self.keys is not None:
            lines.append(
                f"live keys: {self.keys[0]} on the leader, {self.keys[1]} on {self.new_name}"
            )
        return lines


def _fallback(stderr: str) -> str:
    return stderr.strip().splitlines()[-1] if stderr.strip() else "unknown"


def _settled(view: ClusterView) -> bool:
    """Every listed member healthy, no learner, a leader (a stale configured URL aside)."""
    listed = [m for m in view.members if m.member is not None]
    return (
        bool(listed)
        and view.leader is not None
        and all(m.healthy and not m.is_learner for m in listed)
    )
