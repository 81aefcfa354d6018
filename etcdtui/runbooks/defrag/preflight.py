"""The defrag's read-only checks before a plan may run: quorum, health, leader, --on-node's SSH.

Each check is its own function; `defrag_checks` lists them in the order the plan shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from etcdtui.config import NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.runbook import Check, Verdict

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import ShellPool  # paramiko: only for --on-node


def membership_check(view: ClusterView) -> Check:
    """Quorum arithmetic needs the member list, and every endpoint must be one of them."""
    if view.error:
        return Check("member list", Verdict.FAIL, f"{view.error}: quorum cannot be computed")
    strangers = [m.endpoint for m in view.members if m.reachable and m.member is None]
    if strangers:
        reason = "answers but is not a member of this cluster: " + ", ".join(strangers)
        return Check("member list", Verdict.FAIL, reason)
    return Check("member list", Verdict.PASS, f"{len(view.members)} members listed")


def healthy_enough(view: MemberView) -> bool:
    """Healthy, or unhealthy only because of an alarm (NOSPACE is why one defragments)."""
    return view.reachable and view.health is not None and view.health.read_ok


def corrupt_check(view: ClusterView) -> Check | None:
    corrupt = [a for a in view.alarms if a.kind == "CORRUPT"]
    if not corrupt:
        return None
    who = ", ".join(f"{a.member_id:x}" for a in corrupt)
    reason = f"CORRUPT raised by {who}: investigate before any maintenance"
    return Check("no CORRUPT alarm", Verdict.FAIL, reason)


def quorum_check(view: ClusterView) -> Check:
    healthy = [m for m in view.voting_members if healthy_enough(m)]
    arithmetic = (
        f"{len(view.voting_members)} members, quorum {view.quorum}, healthy {len(healthy)}: "
        f"pausing one leaves {len(healthy) - 1}"
    )
    return Check(
        "quorum while one member pauses",
        Verdict.PASS if len(healthy) - 1 >= view.quorum else Verdict.FAIL,
        arithmetic,
    )


def reachable_check(view: ClusterView) -> Check:
    unreachable = [m.name for m in view.voting_members if not m.reachable]
    return Check(
        "every member reachable",
        Verdict.FAIL if unreachable else Verdict.PASS,
        "unreachable: " + ", ".join(unreachable) if unreachable else "all answered",
    )


def chosen_check(chosen: list[MemberView]) -> Check:
    sick = [m.name for m in chosen if not healthy_enough(m)]
    return Check(
        "chosen members healthy (alarms tolerated)",
        Verdict.FAIL if sick else Verdict.PASS,
        "unhealthy: " + ", ".join(sick) if sick else f"{len(chosen)} chosen",
    )


def learners_check(view: ClusterView) -> Check | None:
    learners = [m.name for m in view.members if m.is_learner]
    return Check("learners", Verdict.WARN, "left out: " + ", ".join(learners)) if learners else None


def leader_check(view: ClusterView) -> Check:
    return Check(
        "leader",
        Verdict.PASS if view.leader else Verdict.FAIL,
        f"{view.leader.name}" if view.leader else "no leader: wait for an election",
    )


def nodes_check(chosen: list[MemberView], node_of: Callable[[str], NodeConfig | None]) -> Check:
    missing = [m.name for m in chosen if node_of(m.name) is None]
    return Check(
        "nodes in the config (--on-node)",
        Verdict.FAIL if missing else Verdict.PASS,
        "no node for: " + ", ".join(missing) if missing else "every member's node",
    )


def ssh_check(shells: ShellPool | None, nodes: list[NodeConfig]) -> Check:
    """--on-node logs into every chosen node (host key, login, a command) at plan time:
    a changed host key or a dead sshd on the last node must stop the run before the
    first member pauses, not after the others were defragmented."""
    name = "SSH to every chosen node (--on-node)"
    if shells is None:
        return Check(name, Verdict.FAIL, "no SSH settings: --on-node needs the config's nodes")
    pool = shells

    def problem(node: NodeConfig) -> str:
        try:
            result = pool.shell(node.name).run("true", timeout=30, sudo=False)
        except EtcdtuiError as exc:
            return str(exc)
        return "" if result.ok else f"{node.name}: `true` exited {result.exit_code}"

    # In parallel: one unreachable node costs one connect timeout, not one per node.
    with ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="preflight") as workers:
        problems = [p for p in workers.map(problem, nodes) if p]
    if problems:
        return Check(name, Verdict.FAIL, "; ".join(problems))
    return Check(name, Verdict.PASS, ", ".join(node.name for node in nodes))


def defrag_checks(
    view: ClusterView,
    chosen: list[MemberView],
    node_of: Callable[[str], NodeConfig | None],
    shells: ShellPool | None,
    on_node: bool,
) -> list[Check]:
    """Every check of a defrag of `chosen`; with `on_node`, SSH logins to their nodes too."""
    checks = [membership_check(view)]
    if corrupt := corrupt_check(view):
        checks.append(corrupt)
    checks += [quorum_check(view), reachable_check(view), chosen_check(chosen)]
    if learners := learners_check(view):
        checks.append(learners)
    checks.append(leader_check(view))
    if not chosen:
        checks.append(Check("members to defragment", Verdict.WARN, "the rule chose none"))
    if on_node:
        checks.append(nodes_check(chosen, node_of))
        nodes = [node for m in chosen if (node := node_of(m.name)) is not None]
        if nodes:
            checks.append(ssh_check(shells, nodes))
    return checks
