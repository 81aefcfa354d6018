"""The member change's verification: a healthy cluster with one leader, the new member voting,
the old one gone, no configured endpoint left pointing at nothing, and the keys all there.

Read-only; the config rewrite runs it again and writes only when it passes.
"""

from __future__ import annotations

import time

from etcdtui.clients.cluster import ClusterClient
from etcdtui.errors import EtcdError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.runbook import Check, Verdict
from etcdtui.runbooks.membership.change import MemberChange
from etcdtui.runbooks.membership.refusals import quorum_loss

Keys = tuple[int, int]  # live keys on the leader, on the new member


def settled(view: ClusterView) -> bool:
    """Every listed member healthy, no learner, a leader (a stale configured URL aside)."""
    listed = [m for m in view.members if m.member is not None]
    return (
        bool(listed)
        and view.leader is not None
        and all(m.healthy and not m.is_learner for m in listed)
    )


def settled_view(client: ClusterClient, seconds: float = 10.0) -> ClusterView:
    """The cluster once settled, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    view = client.read(metrics=False)
    # A fresh promotion settles within seconds; a cluster without quorum never does.
    while not settled(view) and not quorum_loss(view) and time.monotonic() < deadline:
        time.sleep(1.0)
        view = client.read(metrics=False)
    return view


def health_checks(view: ClusterView) -> list[Check]:
    leaders = [m for m in view.members if m.is_leader]
    listed = [m for m in view.members if m.member is not None]
    sick = [m for m in listed if not m.healthy]
    ok = bool(listed) and not sick and not view.alarms and bool(leaders)
    return [
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


def endpoint_checks(view: ClusterView, source: str, config_dropped: tuple[str, ...]) -> list[Check]:
    """A configured endpoint of the removed member answers no more and is no member: said
    once the config file no longer lists it, a warning until then."""
    stale = [m.endpoint for m in view.members if m.member is None and not m.reachable]
    left = [url for url in stale if url not in config_dropped]
    if left:
        return [Check("configured endpoints", Verdict.WARN,
                      "no member answers at " + ", ".join(left) + ": remove it from "
                      "the config and every apiserver's --etcd-servers")]  # fmt: skip
    if stale:
        where = source or "the config"
        return [Check("configured endpoints", Verdict.PASS,
                      f"{', '.join(stale)} gone from {where} as well (this "
                      "session lists it until the config is read again)")]  # fmt: skip
    return []


def removal_check(view: ClusterView, old_name: str) -> Check:
    gone = not any(m.member is not None and m.member.name == old_name for m in view.members)
    return Check(
        f"{old_name} removed",
        Verdict.PASS if gone else Verdict.FAIL,
        "not in the member list" if gone else "still a member",
    )


def key_check(
    client: ClusterClient, leader: MemberView, mine: MemberView, name: str
) -> tuple[Check, Keys | None]:
    """The live key count on the new member against the leader's."""
    try:
        theirs = client.client(leader.endpoint).key_count()
        ours = client.client(mine.endpoint).key_count()
    except EtcdError as exc:
        return Check("keys on the new member", Verdict.FAIL, str(exc)), None
    check = Check(
        "keys on the new member",
        Verdict.PASS if theirs == ours else Verdict.WARN,
        f"{ours} live keys on {name}, {theirs} on the leader",
    )
    return check, (theirs, ours)


def verify_change(
    change: MemberChange, config_dropped: tuple[str, ...]
) -> tuple[list[Check], Keys | None]:
    """Every check of the verification, and the key counts when they could be read."""
    view = settled_view(change.client)
    checks = health_checks(view)
    checks += endpoint_checks(view, change.connection.source, config_dropped)
    peers = set(change.new_node.peer_urls)
    mine = next(
        (m for m in view.members if m.member is not None and set(m.member.peer_urls) & peers),
        None,
    )
    voting = f"{change.new_name} a voting member"
    if mine is None or mine.is_learner or not mine.healthy:
        state = "absent" if mine is None else "a learner" if mine.is_learner else mine.problem
        return [*checks, Check(voting, Verdict.FAIL, state)], None
    checks.append(Check(voting, Verdict.PASS, f"{mine.member_id:x}"))
    if change.old_name:
        checks.append(removal_check(view, change.old_name))
    leader = next((m for m in view.members if m.is_leader), None)
    if leader is None:
        return checks, None
    keys, counts = key_check(change.client, leader, mine, change.new_name)
    return [*checks, keys], counts
