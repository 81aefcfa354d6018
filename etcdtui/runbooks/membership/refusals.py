"""etcd's refusals during a member change: what each means to do, a lost quorum in one line,
and waiting out the transient ones."""

from __future__ import annotations

import time
from collections.abc import Callable

from etcdtui.errors import EtcdError
from etcdtui.models import ClusterView
from etcdtui.runbooks.engine import Output

# etcd's refusals during a member change, and what to do about each.
ADVICE = (
    (
        "the member count is unequal",
        "ETCD_INITIAL_CLUSTER on the new node does not list exactly the members etcd has: "
        "rewrite it from `member list` (the survivors plus the new member) and start again",
    ),
    (
        "unmatched member while checking PeerURLs",
        "the new node's name or peer URL differs from what `member add` registered: make "
        "ETCD_NAME and ETCD_INITIAL_ADVERTISE_PEER_URLS match the added member",
    ),
    (
        "has been permanently removed from the cluster",
        "this data dir belongs to a removed member: move it aside (never reuse it) and start the "
        "node as a new member with ETCD_INITIAL_CLUSTER_STATE=existing",
    ),
    (
        "can only promote a learner member which is in sync with leader",
        "the learner has not caught up yet: wait and promote again (etcdtui retries for a while)",
    ),
    (
        "unhealthy cluster",
        "etcd refuses membership changes until every member has been connected for a few "
        "seconds: wait, check `etcdtui status`, and run the same command again",
    ),
    (
        "peerURL exists",
        "a member already has this peer URL: it is the one added before; run the same command "
        "again to continue",
    ),
)


def advice(text: str) -> str:
    """What to do about an etcd failure message ("" when it is not a known one)."""
    return next((hint for needle, hint in ADVICE if needle in text), "")


def quorum_loss(view: ClusterView) -> str:
    """Why the cluster cannot commit anything now, in one line ("" while it may).

    Lost: fewer voting members answer than a quorum, and none of those that answer knows a
    leader. A member keeps naming a dead leader only until its election timeout, and a
    leader cut off from the majority steps down as fast (check-quorum), so this shows
    within a second or two of the loss, while an election among a majority is never
    mistaken for it.
    """
    voting = view.voting_members
    if not voting:
        return ""
    answering = [m for m in voting if m.reachable]
    if len(answering) >= view.quorum:
        return ""
    if any(m.status is not None and m.status.leader_id for m in answering):
        return ""
    silent = ", ".join(m.name for m in voting if not m.reachable)
    return (
        f"quorum lost: {len(answering)} of {len(voting)} voting members answer (not: "
        f"{silent}), quorum is {view.quorum}, and there is no leader: etcd commits nothing "
        "until a majority is back; restart the failed members, then run the same command "
        "again (or restore from a snapshot)"
    )


def retry(
    call: Callable[[], None], needles: tuple[str, ...], seconds: float, output: Output
) -> None:
    """Call until it stops failing with one of `needles` (etcd's transient refusals)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            call()
            return
        except EtcdError as exc:
            if time.monotonic() > deadline or not any(n in exc.message for n in needles):
                raise
            output(f"etcd says: {exc.message}; retrying")
            time.sleep(1.0)
