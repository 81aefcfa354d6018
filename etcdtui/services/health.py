"""Health rules: what deserves a warning, by etcd's documented thresholds, in words.

Every finding carries a severity and a sentence, so the screen never relies on colour alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from etcdtui.models import ClusterView, MemberView
from etcdtui.models.severity import Severity
from etcdtui.models.units import human_seconds
from etcdtui.models.urls import name_problem, suspicious_urls
from etcdtui.services.history import Latencies

# etcd's documented thresholds (docs: tuning, hardware, metrics).
QUOTA_WARN, QUOTA_CRIT = 0.80, 0.95
FSYNC_GOOD, FSYNC_WARN = 0.010, 0.500
COMMIT_GOOD, COMMIT_WARN = 0.025, 0.250
PEER_RTT_WARN = 0.150
LEADER_CHANGES_WARN = 4  # within LEADER_CHANGE_WINDOW
LEADER_CHANGE_WINDOW = 15 * 60
APPLIED_LAG_WARN = 1000  # entries behind the leader's applied index


@dataclass(frozen=True)
class Finding:
    """One thing worth saying about the live cluster or one of its members (`member`, "" for
    the cluster as a whole), as the dashboard shows it.

    Not a Kubernetes check's result (`services.kube.wiring.KubeFinding`): that one names the
    check and the node it ran on, says how to fix it, and is written to JSON.
    """

    severity: Severity
    text: str
    member: str = ""


def quota_severity(usage: float | None) -> Severity:
    if usage is None:
        return Severity.OK
    if usage >= QUOTA_CRIT:
        return Severity.CRITICAL
    return Severity.WARN if usage >= QUOTA_WARN else Severity.OK


def latency_severity(value: float | None, good: float, warn: float) -> Severity:
    """Below `good` is fine, between the two a warning, above `warn` critical."""
    if value is None or value < good:
        return Severity.OK
    return Severity.CRITICAL if value > warn else Severity.WARN


def peer_rtt_severity(value: float | None) -> Severity:
    return Severity.WARN if value is not None and value > PEER_RTT_WARN else Severity.OK


def quota_usage(view: MemberView) -> float | None:
    """dbSize / quota, as a fraction."""
    if view.status is None or view.metrics is None or not view.metrics.quota_bytes:
        return None
    return view.status.db_size / view.metrics.quota_bytes


def usage_percent(usage: float) -> str:
    """Quota use as a whole percentage, rounded down: 94.7% (a warning) never reads as the
    critical 95%."""
    return f"{int(usage * 100 + 1e-9)}%"


def quorum_sentence(view: ClusterView) -> str:
    """ "5 members, quorum 3, tolerates 2 failures, 1 down now" """
    voting = len(view.voting_members)
    plural = "s" if view.tolerates != 1 else ""
    learners = sum(1 for m in view.members if m.is_learner)
    extra = f" (+{learners} learner{'s' if learners != 1 else ''})" if learners > 0 else ""
    return (
        f"{voting} member{'s' if voting != 1 else ''}{extra}, quorum {view.quorum}, "
        f"tolerates {view.tolerates} failure{plural}, {view.down} down now"
    )


def cluster_findings(
    view: ClusterView,
    leader_changes: int | None = None,
    latency: Mapping[int, Latencies] | None = None,
) -> list[Finding]:
    """Everything wrong with the cluster as a whole, worst first.

    `leader_changes` is how many times the leader changed within the last 15 minutes
    (from the history), when known; `latency` the p99s of this refresh by member ID (the
    history's, so a finding says the number the panes show).
    """
    found: list[Finding] = []
    if view.error and not any(m.reachable for m in view.members):
        return [Finding(Severity.CRITICAL, f"cluster unreachable: {view.error}")]
    voting = len(view.voting_members)
    healthy = voting - view.down  # answering members: an alarm alone does not cost quorum
    spare = healthy - view.quorum  # failures still survivable right now
    if spare < 0:
        found.append(
            Finding(
                Severity.CRITICAL,
                f"QUORUM LOST: {healthy} of {voting} healthy, {view.quorum} needed",
            )
        )
    elif spare == 0 and view.down:
        found.append(Finding(Severity.CRITICAL, f"{view.down} down: one more failure loses quorum"))
    elif view.down:
        found.append(Finding(Severity.WARN, f"{view.down} down: {spare} more failure(s) tolerated"))
    elif spare == 0:
        found.append(Finding(Severity.WARN, f"{voting} member(s): no failure is tolerated"))
    if view.leader is None:
        found.append(Finding(Severity.CRITICAL, "no leader: writes are impossible"))
    if voting % 2 == 0 and voting > 0:
        found.append(
            Finding(
                Severity.WARN,
                f"even member count ({voting}): tolerates no more failures than {voting - 1}",
            )
        )
    for alarm in view.alarms:
        who = next((m.name for m in view.members if m.member_id == alarm.member_id), "?")
        found.append(Finding(Severity.CRITICAL, f"alarm {alarm.kind} on {who}", who))
    versions = {m.status.version for m in view.members if m.status is not None}
    if len(versions) > 1:
        found.append(Finding(Severity.WARN, "version skew: " + ", ".join(sorted(versions))
                             + ": finish the rolling upgrade (u)"))  # fmt: skip
    if leader_changes is not None and leader_changes >= LEADER_CHANGES_WARN:
        found.append(
            Finding(
                Severity.WARN, f"{leader_changes} leader changes in 15 min: unstable leadership"
            )
        )
    for member in view.members:
        own = latency.get(member.member_id) if latency and member.member_id else None
        found.extend(member_findings(member, view, own))
    return sorted(found, key=lambda f: f.severity, reverse=True)  # stable: ties keep order


def member_findings(
    member: MemberView, view: ClusterView, latency: Latencies | None = None
) -> list[Finding]:
    """What is wrong with one member; its latencies are judged from `latency` (this refresh's
    p99s over the history's window), never from its lifetime histograms."""
    name = member.name
    found: list[Finding] = []
    if member.member is not None:
        odd = suspicious_urls((*member.member.peer_urls, *member.member.client_urls))
        if member.member.started and name_problem(member.member.name):
            odd.append(f"name {member.member.name!r}")
        if odd:
            found.append(
                Finding(
                    Severity.CRITICAL,
                    f"member {member.member.id_hex} is suspicious: advertises "
                    f"{'; '.join(odd)}; etcdtui writes none of it anywhere",
                    name,
                )
            )
    if member.member is not None and not member.member.started:
        found.append(
            Finding(Severity.WARN, f"member {member.member.id_hex} added but never started")
        )
        return found
    if not member.reachable:
        found.append(Finding(Severity.CRITICAL, f"{name} unreachable: {member.error}", name))
        return found
    if member.is_learner:
        found.append(Finding(Severity.WARN, f"{name} is a learner (not voting)", name))
    if member.health is not None and not member.health.healthy:
        found.append(Finding(Severity.CRITICAL, f"{name} unhealthy: {member.health.error}", name))
    usage = quota_usage(member)
    severity = quota_severity(usage)
    if severity > Severity.OK and usage is not None:
        text = f"{name} database at {usage_percent(usage)} of quota"
        found.append(Finding(severity, text, name))
    leader = view.leader
    if leader is not None and leader.status and member.status and not member.is_leader:
        lag = leader.status.applied_index - member.status.applied_index
        if lag > APPLIED_LAG_WARN:
            found.append(
                Finding(Severity.WARN, f"{name} applied index {lag} behind the leader", name)
            )
    if latency is not None:
        for label, value, severity in latencies(latency):
            if severity > Severity.OK:
                text = f"{name} {label} {human_seconds(value)} {latency.window}"
                found.append(Finding(severity, text, name))
    return found


def latencies(latency: Latencies) -> list[tuple[str, float | None, Severity]]:
    """(label, p99 in seconds, severity) for WAL fsync, backend commit and peer round trip."""
    fsync, commit, rtt = latency.wal_fsync, latency.backend_commit, latency.peer_rtt_max
    return [
        ("WAL fsync p99", fsync, latency_severity(fsync, FSYNC_GOOD, FSYNC_WARN)),
        ("backend commit p99", commit, latency_severity(commit, COMMIT_GOOD, COMMIT_WARN)),
        ("peer round trip p99", rtt, peer_rtt_severity(rtt)),
    ]
