"""`etcdtui status`: a cluster view as an etcdctl-style table or as JSON.

Names, URLs and errors come from the cluster: the table makes every value printable (an ESC
in a member name is shown as `\\x1b`, never sent to the terminal), and the JSON is pure ASCII
(`json.dumps` escapes every control and non-ASCII character as `\\uXXXX`).
"""

from __future__ import annotations

import json
from typing import Any

from etcdtui.models import ClusterView, MemberView
from etcdtui.models.text import printable
from etcdtui.models.units import human_bytes
from etcdtui.services.health import quota_usage

COLUMNS = (
    "NAME", "ID", "ENDPOINT", "VERSION", "DB SIZE", "IN USE", "QUOTA %", "LEADER",
    "LEARNER", "RAFT TERM", "RAFT INDEX", "APPLIED INDEX", "HEALTH", "ERROR",
)  # fmt: skip


def quota_percent(view: MemberView) -> float | None:
    usage = quota_usage(view)
    return None if usage is None else 100.0 * usage


def _row(view: MemberView) -> list[str]:
    s = view.status
    quota = quota_percent(view)
    health = "healthy" if view.healthy else "unhealthy"
    error = view.problem
    if s is not None and s.errors:
        error = "; ".join(filter(None, [error, *s.errors]))
    member_id = view.member_id
    cells = [
        view.name,
        format(member_id, "x") if member_id is not None else "-",
        view.endpoint or "-",
        s.version if s else "-",
        human_bytes(s.db_size) if s else "-",
        human_bytes(s.db_size_in_use) if s else "-",
        f"{quota:.1f}%" if quota is not None else "-",
        "true" if view.is_leader else "false",
        "true" if view.is_learner else "false",
        str(s.raft_term) if s else "-",
        str(s.raft_index) if s else "-",
        str(s.applied_index) if s else "-",
        health,
        error or "",
    ]
    return [printable(cell) for cell in cells]


def render_table(view: ClusterView) -> str:
    """A boxed table like etcdctl's `-w table`, then the alarms and a verdict line."""
    rows = [list(COLUMNS), *(_row(m) for m in view.members)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: list[str]) -> str:
        return "|" + "|".join(f" {c:<{w}} " for c, w in zip(cells, widths, strict=True)) + "|"

    out = [rule, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule]
    names = {m.member_id: m.name for m in view.members}
    for alarm in view.alarms:
        who = names.get(alarm.member_id, format(alarm.member_id, "x"))
        out.append(printable(f"alarm: {alarm.kind} on {who} ({alarm.member_id:x})"))
    out.extend(printable(f"note: {note}") for note in view.notes)
    out.append(verdict(view))
    return "\n".join(out)


def verdict(view: ClusterView) -> str:
    """One line: healthy or not, and the quorum arithmetic (printable: names are escaped)."""
    name = f"{view.cluster} (via ssh)" if view.via == "ssh" else view.cluster
    if view.error and not any(m.reachable for m in view.members):
        return printable(f"cluster {name}: unreachable: {view.error}")
    voting = len(view.voting_members)
    state = "healthy" if view.healthy else "UNHEALTHY"
    leader = view.leader
    leader_text = f"leader {leader.name}" if leader else "NO LEADER"
    return printable(
        f"cluster {name}: {state}; {voting} voting member{'s' if voting != 1 else ''}, "
        f"quorum {view.quorum}, "
        f"tolerates {view.tolerates} failure{'s' if view.tolerates != 1 else ''}, "
        f"{view.down} down now; {leader_text}"
    )


def _member_json(view: MemberView) -> dict[str, Any]:
    s = view.status
    m = view.metrics
    return {
        "name": view.name,
        "id": format(view.member_id, "x") if view.member_id is not None else None,
        "endpoint": view.endpoint or None,
        "reachable": view.reachable,
        "healthy": view.healthy,
        "leader": view.is_leader,
        "learner": view.is_learner,
        "version": s.version if s else None,
        "db_size": s.db_size if s else None,
        "db_size_in_use": s.db_size_in_use if s else None,
        "quota_bytes": m.quota_bytes if m else None,
        "quota_percent": quota_percent(view),
        "raft_term": s.raft_term if s else None,
        "raft_index": s.raft_index if s else None,
        "applied_index": s.applied_index if s else None,
        "peer_urls": list(view.member.peer_urls) if view.member else None,
        "client_urls": list(view.member.client_urls) if view.member else None,
        "errors": list(s.errors) if s else [],
        "error": view.problem or None,
    }


def render_json(view: ClusterView) -> str:
    """The view as JSON. ASCII only on purpose: no control character survives as itself."""
    return json.dumps(
        {
            "cluster": view.cluster,
            "via": view.via,
            "notes": list(view.notes),
            "healthy": view.healthy,
            "error": view.error or None,
            "quorum": view.quorum,
            "tolerates": view.tolerates,
            "leader": view.leader.name if view.leader else None,
            "members": [_member_json(m) for m in view.members],
            "alarms": [
                {"member_id": format(a.member_id, "x"), "alarm": a.kind} for a in view.alarms
            ],
        },
        indent=2,
        ensure_ascii=True,  # the default, stated: the escaping is what keeps ESC off stdout
    )
