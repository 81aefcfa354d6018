"""What a restore (or its rollback) is checked against once its steps have run.

The key count: `SnapshotStatus.total_keys` counts every bucket (each revision of each key,
tombstones, leases, members, meta), while a range over all keys counts the user keys alive at
the member's revision. So the restored cluster's count is compared with the keys alive in the
snapshot's key bucket (`snapshot.live_key_count`): equal when nothing wrote since the restore (the
revision is still the snapshot's); when the revision has moved on, a difference is a warning
(leases expiring, a client let in early), not a failed restore.
"""

from __future__ import annotations

import shlex

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView
from etcdtui.models.runbook import Check, Verdict
from etcdtui.runbooks.restore.state import RestoreState


def health_check(view: ClusterView) -> Check:
    if view.healthy:
        return Check("cluster healthy", Verdict.PASS, "every member healthy, one leader")
    problems = "; ".join(m.problem or m.name for m in view.members if not m.healthy)
    return Check("cluster healthy", Verdict.FAIL, problems or view.error or "no leader")


def members_check(view: ClusterView, wanted: set[str]) -> Check:
    names = {m.member.name for m in view.members if m.member is not None}
    unstarted = [m.name for m in view.members if m.member is not None and not m.member.started]
    ok = names == wanted and not unstarted
    reason = f"{len(names)} members: {', '.join(sorted(names))}"
    if names != wanted:
        reason += f" (expected {', '.join(sorted(wanted))})"
    if unstarted:
        reason += "; unstarted: " + ", ".join(unstarted)
    return Check("members", Verdict.PASS if ok else Verdict.FAIL, reason)


def leader_check(view: ClusterView) -> Check:
    """Every member that answers names the same leader."""
    leaders = {m.status.leader_id for m in view.members if m.status is not None}
    ok = len(leaders) == 1 and 0 not in leaders
    leader = view.leader.name if view.leader else "none"
    return Check(
        "one leader",
        Verdict.PASS if ok else Verdict.FAIL,
        f"{leader}, as every member sees it" if ok else f"members disagree: {sorted(leaders)}",
    )


def _revisions(view: ClusterView) -> list[int]:
    return [m.status.revision for m in view.members if m.status is not None]


def restored_data_checks(view: ClusterView, state: RestoreState, keys: int | None) -> list[Check]:
    """The restored cluster holds the snapshot: its revision, and its keys alive."""
    snap = state.snapshot
    expected = snap.revision + state.bump
    revisions = _revisions(view)
    low = min(revisions, default=0)
    bump = f" + {state.bump}" if state.bump else ""
    checks = [
        Check(
            "revision",
            Verdict.PASS if revisions and low >= expected else Verdict.FAIL,
            f"lowest member revision {low}; the snapshot's {snap.revision}{bump}",
        )
    ]
    if keys is None:
        checks.append(Check("keys", Verdict.FAIL, "could not count the keys"))
    elif keys == snap.live_keys:
        checks.append(
            Check("keys", Verdict.PASS, f"{keys} keys, as alive in the snapshot's key bucket")
        )
    else:
        moved = max(revisions, default=0) > expected
        checks.append(
            Check(
                "keys",
                Verdict.WARN if moved else Verdict.FAIL,
                f"{keys} keys; the snapshot holds {snap.live_keys} alive"
                + ("; something has written since the restore" if moved else ""),
            )
        )
    return checks


def rolled_back_data_checks(
    view: ClusterView, state: RestoreState, keys: int | None
) -> list[Check]:
    """After a rollback the old data is back: at least the revision seen before the restore."""
    if state.before_revision is None:
        return []
    low = min(_revisions(view), default=0)
    checks = [
        Check(
            "revision",
            Verdict.PASS if low >= state.before_revision else Verdict.FAIL,
            f"lowest member revision {low}; before the restore {state.before_revision}",
        )
    ]
    if state.before_keys is not None and keys is not None:
        checks.append(
            Check(
                "keys",
                Verdict.PASS if keys == state.before_keys else Verdict.WARN,
                f"{keys} keys; before the restore {state.before_keys}",
            )
        )
    return checks


def leader_keys(client: ClusterClient, view: ClusterView) -> int | None:
    """The keys the leader serves now (None when no leader answers)."""
    if view.leader is None:
        return None
    try:
        return client.client(view.leader.endpoint).key_count()
    except EtcdtuiError:
        return None


def remove_plaintext(connection: Connection, shells: ShellPool, state: RestoreState) -> Check:
    """An encrypted snapshot was decrypted for the nodes: once the restore verifies, those
    plaintext copies (every secret of the cluster) go. Only the copies this run made; the
    check passes once every one is gone."""
    left: list[str] = []
    for paths in state.members():
        node = connection.node(paths.node)
        command = f"rm -f -- {shlex.quote(paths.snapshot)}"
        try:
            done = shells.shell(node.name).run(command, timeout=30, sudo=node.sudo)
            if not done.ok:
                left.append(f"{node.name}:{paths.snapshot} ({done.stderr.strip()})")
        except EtcdtuiError as exc:
            left.append(f"{node.name}:{paths.snapshot} ({exc})")
    if left:
        return Check("plaintext snapshot copies removed", Verdict.WARN,
                     "still on the nodes, remove them by hand: " + ", ".join(left))  # fmt: skip
    where = ", ".join(f"{n.node}:{n.snapshot}" for n in state.members())
    return Check("plaintext snapshot copies removed", Verdict.PASS, where)
