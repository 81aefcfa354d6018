"""The Leader & health, DB size vs quota, and Disk & network panes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.content import Content
from textual.events import Resize
from textual.widgets import Static

from etcdtui.models import ClusterView
from etcdtui.models.severity import Severity
from etcdtui.models.text import printable
from etcdtui.models.units import human_bytes, human_seconds
from etcdtui.services.health import (
    COMMIT_GOOD,
    COMMIT_WARN,
    FSYNC_GOOD,
    FSYNC_WARN,
    LEADER_CHANGE_WINDOW,
    PEER_RTT_WARN,
    QUOTA_CRIT,
    QUOTA_WARN,
    cluster_findings,
    latencies,
    quorum_sentence,
    quota_severity,
    quota_usage,
    usage_percent,
)
from etcdtui.services.history import History, human_duration
from etcdtui.ui.actions import BY_ID
from etcdtui.ui.format import NEWLINE, markup, quota_bar, severity_content, sparkline
from etcdtui.ui.widgets.members import member_state

if TYPE_CHECKING:
    from etcdtui.services.consistency import Reading

NOSPACE_KEY = BY_ID["recover-nospace"].key_display
KEYSPACE_KEY = BY_ID["keyspace"].key_display
# The member detail's repair key, once ui/actions.py has the entry.
REPAIR_KEY = BY_ID["repair-member"].key_display


class Pane(Static):
    """A bordered pane that renders from the latest ClusterView and History.

    Lines are Content: our markup is parsed, names and errors from the cluster are put in as
    data (`markup(template, name=...)`), never spliced into a markup string.
    """

    stale: bool = False  # the view shown is a cached one, not live

    def show(self, view: ClusterView, history: History, stale: bool = False) -> None:
        """Draw `view`; `stale` for a cached view (a pane then says nothing of the present)."""
        self.stale = stale
        self.update(NEWLINE.join(self.render_view(view, history)))

    def render_view(self, view: ClusterView, history: History) -> list[Content]:
        raise NotImplementedError


class HealthPane(Pane):
    """Leader, quorum arithmetic, per-member health, the last consistency check and every
    finding, worst first."""

    consistency: Reading | None = None  # the last consistency reading, if one was taken
    checking: bool = False  # a reading is being taken now
    _last: tuple[ClusterView, History] | None = None

    def show(self, view: ClusterView, history: History, stale: bool = False) -> None:
        self._last = (view, history)
        super().show(view, history, stale)

    def show_consistency(self, reading: Reading | None, checking: bool = False) -> None:
        """A new reading (or one under way): the Consistency line is drawn again at once."""
        if reading is not None:
            self.consistency = reading
        self.checking = checking
        if self._last is not None:
            self.show(*self._last, stale=self.stale)

    def render_view(self, view: ClusterView, history: History) -> list[Content]:
        lines: list[Content] = []
        leader = view.leader
        changes = history.leader_changes()
        if leader is not None and leader.status is not None:
            lines.append(markup("Leader  [b]$name[/b]  term $term", name=leader.name,
                                term=leader.status.raft_term))  # fmt: skip
        elif view.members:
            lines.append(severity_content(Severity.CRITICAL, "NO LEADER"))
        changes_text = "-" if changes is None else str(changes)
        minutes = LEADER_CHANGE_WINDOW // 60
        lines.append(Content(
            f"Leader changes ({minutes} min): {changes_text}  "
            f"{sparkline(history.leader_change_series())}"
        ))  # fmt: skip
        quorum = quorum_sentence(view)
        if self.stale:  # as it was then (the title says CACHED): "now" would pass for live
            quorum = quorum.removesuffix(" now")
        lines.append(markup("Quorum  $sentence", sentence=quorum))
        states: list[Content] = []
        for member in view.members:
            state, severity = member_state(member)
            states.append(markup("$name ", name=member.name) + severity_content(severity, state))
        lines.append(Content("  ").join(states))
        lines += consistency_lines(view, self.consistency, self.checking)
        lines.append(Content(""))
        if self.stale:  # old findings, or an old "ok", would read as a verdict on the present
            lines.append(Content.styled("no verdict until the first refresh", "dim"))
            return lines
        findings = cluster_findings(view, changes, history.latencies)
        if not findings:
            lines.append(severity_content(Severity.OK, "ok: nothing to report"))
        for finding in findings[:8]:
            lines.append(severity_content(finding.severity) + markup("  $text", text=finding.text))
        if len(findings) > 8:
            lines.append(Content(f"… and {len(findings) - 8} more"))
        return lines


class QuotaPane(Pane):
    """Per member: size against quota with the 80%/95% marks, in-use, fragmentation, trend."""

    _shown: tuple[ClusterView, History, bool] | None = None
    _width = 0  # the content width the bars were drawn for

    def show(self, view: ClusterView, history: History, stale: bool = False) -> None:
        self._shown = (view, history, stale)
        super().show(view, history, stale)

    def on_resize(self, event: Resize) -> None:
        # The bars fill the pane's width: drawn again when it changes (a scrollbar that comes
        # or goes with the layout, a resized terminal), not left as they were until the next
        # refresh.
        if self._shown is not None and self.content_region.width != self._width:
            self.show(*self._shown)

    def render_view(self, view: ClusterView, history: History) -> list[Content]:
        lines: list[Content] = []
        if view.alarms:
            for alarm in view.alarms:
                who = alarm_holder(view, alarm.member_id) or "?"
                advice = {
                    "NOSPACE": f": writes refused; [b]{NOSPACE_KEY}[/b] starts the recovery",
                    "CORRUPT": ": members disagree; investigate before any maintenance",
                }.get(alarm.kind, "")
                lines.append(severity_content(Severity.CRITICAL, f"ALARM {alarm.kind} on {who}")
                             + Content.from_markup(advice))  # fmt: skip
        else:
            lines.append(Content("Alarms: none"))
        quotas = [
            m.metrics.quota_bytes for m in view.members if m.metrics and m.metrics.quota_bytes
        ]
        eta = history.quota_eta(min(quotas) if quotas else None)
        if eta:  # 0 means a member is at its quota already: the alarm says so
            lines.append(
                severity_content(Severity.WARN if eta < 86400 else Severity.OK, "growing")
                + f": quota reached in about {human_duration(eta)} at this rate"
            )
        # name, bar, "100% CRITICAL", then a size trend when there is room for it
        self._width = self.content_region.width
        room = (self._width or 60) - 26
        trend_width = 12 if room >= 30 else 0
        width = max(8, min(40, room - trend_width - 1 if trend_width else room))
        for member in view.members:
            s = member.status
            name = f"{printable(member.name):<9}"  # padded as shown
            if s is None:
                lines.append(markup(f"$name {'·' * width}  unreachable", name=name))
                continue
            usage = quota_usage(member)
            severity = quota_severity(usage)
            quota = member.metrics.quota_bytes if member.metrics else None
            percent = f"{usage_percent(usage):>4}" if usage is not None else "   -"
            bar = quota_bar(usage, width)
            size_trend = sparkline(history.series(s.member_id), trend_width) if trend_width else ""
            lines.append(
                markup(f"$name {bar} {percent} ", name=name)
                + severity_content(severity)
                + f" {size_trend}"
            )
            in_use_trend = sparkline(history.series(s.member_id, "in_use"), 8)
            lines.append(Content(
                f"  {human_bytes(s.db_size)} of {human_bytes(quota)} · in use "
                f"{human_bytes(s.db_size_in_use)} {in_use_trend} · frag {s.fragmentation:.0%}"
            ))  # fmt: skip
        if any((quota_usage(m) or 0.0) > QUOTA_WARN for m in view.members):
            lines.append(Content.from_markup(
                f"over {QUOTA_WARN:.0%} of the quota: [b]{KEYSPACE_KEY}[/b] Keyspace shows what "
                "fills it"
            ))  # fmt: skip
        lines.append(Content.styled(
            f"marks: warning {QUOTA_WARN:.0%} │ critical {QUOTA_CRIT:.0%} │ · trends: "
            f"{history.window / 60:.0f} min", "dim",
        ))  # fmt: skip
        return lines


class DiskPane(Pane):
    """WAL fsync, backend commit and peer round-trip p99 per member: the history's numbers of
    this refresh, over its one window, named in the border."""

    def render_view(self, view: ClusterView, history: History) -> list[Content]:
        header = f"{'member':<10} {'WAL fsync p99':<18} {'commit p99':<18} {'peer RTT p99':<18}"
        lines = [Content.styled(header, "bold")]
        windows = set()
        for member in view.members:
            name = f"{printable(member.name):<10}"
            latency = history.latency(member.member_id) if member.member_id else None
            if member.metrics is None or latency is None:
                lines.append(markup("$name no metrics", name=name))
                continue
            windows.add(latency.window)
            cells = []
            for _label, value, severity in latencies(latency):
                text = f"{human_seconds(value)} {severity.word}" if value is not None else "-"
                cells.append(severity_content(severity, f"{text:<18}"))
            lines.append(markup("$name ", name=name) + Content(" ").join(cells))
        lines.append(Content.styled(thresholds(), "dim"))
        # One window per refresh; a member that answered less often says its own.
        self.border_subtitle = "p99 " + " / ".join(sorted(windows)) if windows else None
        return lines


def alarm_holder(view: ClusterView, member_id: int) -> str:
    """The member an alarm names; etcd's own corruption check names none (ID 0)."""
    if member_id == 0:
        return "no member (etcd's own check)"
    return next((m.name for m in view.members if m.member_id == member_id), "")


def consistency_lines(view: ClusterView, reading: Reading | None, checking: bool) -> list[Content]:
    """The Consistency line: when the last check ran and its verdict; a CORRUPT alarm beside
    the member's hash mismatch, with the way to the repair. Nothing before a first check."""
    if reading is None:
        return [Content("Consistency  checking… (HashKV reads every key)")] if checking else []
    ago = human_duration(max(0.0, time.time() - reading.taken_at))
    severity = Severity.OK if reading.consistent else Severity.CRITICAL
    line = Content(f"Consistency  {ago} ago: ") + severity_content(severity, reading.verdict)
    lines = [line + (" · checking again…" if checking else "")]
    for alarm in view.alarms:
        if alarm.kind != "CORRUPT":
            continue
        who = alarm_holder(view, alarm.member_id) if alarm.member_id else ""
        # etcd's own corruption check names no member (ID 0): the reading names who differs.
        named = [who] if who in reading.minority else []
        for name in named or (list(reading.minority) if alarm.member_id == 0 else []):
            lines.append(
                severity_content(Severity.CRITICAL, f"CORRUPT on {name}: its hash differs")
                + Content(f"; Enter on it, then {REPAIR_KEY} repairs it from the majority")
            )
    return lines


def thresholds() -> str:
    """The Disk & network legend, from the health rules' own constants."""
    return (
        f"good: fsync < {human_seconds(FSYNC_GOOD)} (critical > {human_seconds(FSYNC_WARN)}), "
        f"commit < {human_seconds(COMMIT_GOOD)} (critical > {human_seconds(COMMIT_WARN)}), "
        f"peer RTT < {human_seconds(PEER_RTT_WARN)} · -: nothing observed"
    )
