"""The member change's preflight, one named check at a time: quorum before and after, a leader,
no other change pending, the new peer URL free, and the new node ready (its data dir, its ports).

Every check only reads: the member list, and the new node over SSH.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView, Member, MemberView
from etcdtui.models.runbook import Check, Verdict
from etcdtui.runbooks.membership.change import MemberChange
from etcdtui.runbooks.membership.ports import LISTENING_SCRIPT, listening, taken


def quorum_of(voting: int) -> int:
    return voting // 2 + 1


def fallback(stderr: str) -> str:
    """The last line of a command's error output, "unknown" when it printed none."""
    return stderr.strip().splitlines()[-1] if stderr.strip() else "unknown"


def unreadable_check() -> Check:
    """Why nothing goes on when the member list cannot be read."""
    return Check(
        "quorum",
        Verdict.FAIL,
        "the member list cannot be read: without a quorum etcd changes no membership; "
        "restart failed members or restore from a snapshot",
    )


def removal_checks(voting: Sequence[MemberView], old: MemberView) -> list[Check]:
    """Quorum now and after `old` is removed, and whether `old` really failed."""
    healthy = [m for m in voting if m.healthy]
    n, q = len(voting), quorum_of(len(voting))
    after_n = n - 1
    after_healthy = len(healthy) - (1 if old.healthy else 0)
    ok = len(healthy) >= q and after_healthy >= quorum_of(after_n)
    reason = (
        f"{n} members, quorum {q}, healthy {len(healthy)}: removing {old.name} "
        f"{'keeps' if ok else 'loses'} quorum ({after_n} members, quorum "
        f"{quorum_of(after_n)}, healthy {after_healthy})"
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
    failed = f"{old.name} has failed"
    return [
        Check("quorum after the removal", Verdict.PASS if ok else Verdict.FAIL, reason),
        Check(failed, Verdict.WARN, f"{old.name} is healthy: a working member will be replaced")
        if old.healthy
        else Check(failed, Verdict.PASS, old.problem or "unreachable"),
    ]


def addition_checks(voting: Sequence[MemberView]) -> list[Check]:
    """Quorum now, and a warning when the addition leaves an even member count."""
    healthy = [m for m in voting if m.healthy]
    n, q = len(voting), quorum_of(len(voting))
    ok = len(healthy) >= q
    checks = [
        Check("quorum", Verdict.PASS if ok else Verdict.FAIL,
              f"{n} members, quorum {q}, healthy {len(healthy)}")
    ]  # fmt: skip
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
    return checks


def leader_checks(view: ClusterView) -> list[Check]:
    if view.leader is None:
        return [Check("leader", Verdict.FAIL, "no leader: wait for an election")]
    return []


def pending_check(view: ClusterView, ours: Member | None) -> Check:
    """No learner or unstarted member but the one an earlier run of this change added."""
    pending = [
        m
        for m in view.members
        if m.member is not None
        and (m.is_learner or not m.member.started)
        and (ours is None or m.member.id != ours.id)
    ]
    name = "no other member change pending"
    if pending:
        listed = ", ".join(f"{m.name} {m.member_id:x}" for m in pending if m.member_id is not None)
        return Check(name, Verdict.FAIL, "pending: " + listed)
    if ours is not None and (ours.is_learner or not ours.started):
        return Check(name, Verdict.PASS, f"pending: only this run's own learner {ours.id:x} "
                     "(continuing)")  # fmt: skip
    return Check(name, Verdict.PASS, "no learner or unstarted member")


def peer_url_check(view: ClusterView, ours: Member | None, peer_urls: tuple[str, ...]) -> Check:
    """The new member's peer URL, used by no other member."""
    clash = [
        m.name
        for m in view.members
        if m.member is not None
        and set(m.member.peer_urls) & set(peer_urls)
        and (ours is None or m.member.id != ours.id)
    ]
    return Check(
        "new peer URL free",
        Verdict.FAIL if clash else Verdict.PASS,
        f"{','.join(peer_urls)} used by {', '.join(clash)}" if clash else ",".join(peer_urls),
    )


def data_dir_check(change: MemberChange) -> Check:
    """The new node answers over SSH, and what its data dir holds (moved aside, never lost)."""
    node = change.new_node
    q = shlex.quote(node.data_dir)
    raw = (
        f'if [ -d {q} ] && [ -n "$(ls -A {q})" ]; then echo nonempty; '
        f"elif [ -e {q} ]; then echo empty; else echo absent; fi"
    )
    try:
        result = change.sh(node, raw, timeout=15)
    except EtcdtuiError as exc:
        return Check(f"{node.name} reachable over SSH", Verdict.FAIL, str(exc))
    state = result.stdout.strip() or fallback(result.stderr)
    if state == "nonempty":
        return Check(
            f"{node.name} reachable, data dir free",
            Verdict.WARN,
            f"{node.data_dir} holds data: it will be moved aside, never deleted",
        )
    return Check(
        f"{node.name} reachable, data dir free", Verdict.PASS, f"{node.data_dir} is {state}"
    )


def ports_check(change: MemberChange, ours: Member | None) -> Check:
    """The new member's peer and client ports, free on its node: etcd exits at once when
    one is taken, after the member was added."""
    node = change.new_node
    urls = list(dict.fromkeys([*node.peer_urls, *node.client_urls, node.local_client_url]))
    urls = [url for url in urls if url]
    name = f"{node.name}: peer and client ports free"
    try:
        result = change.sh(node, LISTENING_SCRIPT, timeout=15)
    except EtcdtuiError as exc:
        return Check(name, Verdict.FAIL, str(exc))
    if not result.stdout.strip():
        reason = "cannot read /proc/net/tcp there: not checked"
        return Check(name, Verdict.WARN, f"{reason} ({fallback(result.stderr)})")
    busy = taken(urls, listening(result.stdout))
    if not busy:
        return Check(name, Verdict.PASS, ", ".join(urls))
    if ours is not None:  # added before: the etcd an earlier run started may hold them
        return Check(name, Verdict.WARN, "in use: " + ", ".join(busy) + " (by the etcd "
                     "an earlier run started there?)")  # fmt: skip
    return Check(name, Verdict.FAIL, "in use: " + ", ".join(busy) + ": etcd could not "
                 "bind them; stop what listens there, or give the node other URLs")  # fmt: skip
