"""Enter on a member: every status field, its metrics, its node, and what can be done."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Header, Static

from etcdtui.config import Connection, NodeConfig
from etcdtui.models import ClusterView, MemberMetrics, MemberView
from etcdtui.models.severity import Severity
from etcdtui.models.text import printable
from etcdtui.models.units import human_bytes, human_seconds
from etcdtui.services.health import latencies, member_findings, quota_usage
from etcdtui.services.history import History, Latencies
from etcdtui.ui.actions import UiAction, Where, bindings_for, entries_for, refusal
from etcdtui.ui.format import NEWLINE, markup, severity_content
from etcdtui.ui.widgets.footer import KeyFooter
from etcdtui.ui.widgets.members import member_state, row_key

if TYPE_CHECKING:
    from etcdtui.services.consistency import Reading


def node_for(connection: Connection, member: MemberView) -> NodeConfig | None:
    """The configured node that runs this member: by member name, else by client URL."""
    for node in connection.nodes:
        if node.member_name == member.name:
            return node
    urls = set(member.member.client_urls) if member.member else {member.endpoint}
    return next((n for n in connection.nodes if urls & set(n.client_urls)), None)


def _bytes(value: int | None) -> str:
    return "-" if value is None else f"{human_bytes(value)} ({value:,} bytes)"


def describe(member: MemberView, view: ClusterView, history: History, node: NodeConfig | None,
             actions: list[str], reading: Reading | None = None) -> Content:  # fmt: skip
    """The detail text for one member: our markup, with every outside value put in as data.

    Latencies and findings are the history's numbers of this refresh: the same the panes show.
    """
    state, severity = member_state(member)
    s, m = member.status, member.metrics
    client_urls = member.member.client_urls if member.member else (member.endpoint,)
    peer_urls = member.member.peer_urls if member.member else ("-",)
    lines: list[Content | str] = [
        markup("[b]$name[/b]  ", name=member.name)
        + severity_content(severity, state)
        + ("  ★ leader" if member.is_leader else "")
        + ("  learner" if member.is_learner else ""),
        "",
        f"ID              {format(member.member_id, 'x') if member.member_id is not None else '-'}"
        f"  ({member.member_id})",
        markup("Client URLs     $urls", urls=", ".join(client_urls)),
        markup("Peer URLs       $urls", urls=", ".join(peer_urls)),
    ]
    if member.error:
        lines.append(markup("Error           $error", error=member.error))
    if s is not None:
        usage = quota_usage(member)
        lines += [
            markup("Version         $version", version=s.version),
            f"Raft term       {s.raft_term}",
            f"Raft index      {s.raft_index}",
            f"Applied index   {s.applied_index}",
            f"DB size         {_bytes(s.db_size)}",
            f"DB in use       {_bytes(s.db_size_in_use)}",
            f"DB free         {_bytes(s.db_size_free)}  (fragmentation {s.fragmentation:.1%})",
            f"Quota           {_bytes(m.quota_bytes if m else None)}"
            + (f"  ({usage:.1%} used)" if usage is not None else ""),
            markup("Errors          $errors", errors="; ".join(s.errors) if s.errors else "none"),
        ]
    if member.health is not None:
        lines.append(
            f"Health read     {human_seconds(member.health.took)}"
            + (f"  {printable(member.health.error)}" if member.health.error else "")
        )
    alarms = view.alarms_for(member.member_id)
    kinds = ", ".join(printable(a.kind) for a in alarms) if alarms else "none"
    lines.append(f"Alarms          {kinds}")
    lines += _consistency_lines(member, reading)
    latency = history.latency(member.member_id) if member.member_id is not None else None
    if m is not None and latency is not None:
        lines += _metrics_lines(m, latency)
    lines += ["", Content.styled("Node", "bold"), *_node_lines(node)]
    findings = member_findings(member, view, latency)
    if findings:
        lines += ["", Content.styled("Findings", "bold")]
        lines += [severity_content(f.severity) + f"  {printable(f.text)}" for f in findings]
    lines += ["", Content.styled("Actions", "bold")]
    lines += actions or ["none: etcdtui runs read-only"]
    # Plain strings here are literal text (Content, not markup): `[clusters.NAME.nodes]` too.
    return NEWLINE.join(lines)


def _consistency_lines(member: MemberView, reading: Reading | None) -> list[Content | str]:
    """The member's part of the last consistency check, when one ran."""
    mine = next((m for m in reading.members if m.name == member.name), None) if reading else None
    if mine is None:
        return []
    if mine.hash is None:
        return [markup("Consistency     no hash: $error", error=mine.error)]
    severity = Severity.CRITICAL if mine.consistent is False else Severity.OK
    said = {True: "agrees with the majority", False: "DIFFERS from the majority"}.get(
        bool(mine.consistent), ""
    ) if mine.consistent is not None else "not compared"  # fmt: skip
    return [
        Content(f"Consistency     hash {mine.hash} at revision {mine.revision}: ")
        + severity_content(severity, said)
    ]


def _metrics_lines(metrics: MemberMetrics, latency: Latencies) -> list[Content | str]:
    """The Metrics section: each p99 with its severity in words, the peers, leader changes."""
    lines: list[Content | str] = ["", Content.styled(f"Metrics (p99 {latency.window})", "bold")]
    for label, value, rated in latencies(latency):
        shown = f"{human_seconds(value)} {rated.word}" if value is not None else "-"
        lines.append(Content(f"{label:<20} ") + severity_content(rated, shown))
    for peer, p99 in sorted(latency.peer_rtt.items()):
        lines.append(f"  to {printable(peer):<16} {human_seconds(p99)}")
    changes = metrics.leader_changes
    lines.append(f"Leader changes seen {changes if changes is not None else '-'}")
    return lines


def _node_lines(node: NodeConfig | None) -> list[Content | str]:
    """The Node section: where the member runs and how etcdtui reaches it."""
    if node is None:
        return ["not in the config: add it under [clusters.NAME.nodes] to run node-side steps"]
    ssh = node.ssh
    user = f"{ssh.user}@" if ssh.user else ""
    port = f":{ssh.port}" if ssh.port else ""
    target = f"{user}{ssh.host}{port}"
    return [
        f"Name            {printable(node.name)}",
        f"SSH             {printable(target)}"
        + (f" via {printable(ssh.proxy_jump)}" if ssh.proxy_jump else ""),
        f"Profile         {printable(node.profile)}" + ("  (sudo)" if node.sudo else ""),
        f"Data dir        {printable(node.data_dir)}",
    ]


# What the Actions list names: this screen's own keys, not help, palette, quit or back.
_GENERIC = {"help", "palette", "quit", "back"}


class MemberDetailScreen(Screen[None]):
    """Live detail of one member; Esc goes back. Every key it lists works here."""

    BINDINGS = bindings_for(Where.DETAIL)

    def __init__(self, key: str, view: ClusterView, history: History) -> None:
        super().__init__()
        self.key = key
        self._first = (view, history)

    def on_mount(self) -> None:
        self.show(*self._first)

    def _member(self) -> MemberView | None:
        view = getattr(self.app, "view", None) or self._first[0]
        return next((m for m in view.members if row_key(m) == self.key), None)

    def refusal(self, entry: UiAction) -> str | None:
        """Why a key of this screen does nothing for this member (the app adds read-only)."""
        if entry.id == "remove-unstarted":
            member = self._member()
            if member is None or member.member is None or member.member.started:
                return "X removes only a member that was added but never started"
        if entry.id == "repair-member":
            member = self._member()
            reading: Reading | None = self.app.checks.reading  # type: ignore[attr-defined]
            if member is None or reading is None or member.name not in reading.minority:
                return (
                    f"{entry.key_display} repairs only a member the last consistency check "
                    "found diverged from an agreeing majority (h runs a check)"
                )
        return None

    def actions(self) -> list[str]:
        """The keys that work here now, as the Actions list shows them."""
        return [
            f"{e.key_display:<3}{e.help}"
            for e in entries_for(Where.DETAIL)
            if e.id not in _GENERIC and e.footer and not refusal(self, e)
        ]

    def action_replace(self) -> None:
        if self.app.refused("replace-member", self):  # type: ignore[attr-defined]
            return
        member = self._member()
        if member is not None:
            self.app.action_replace_member(member.name)  # type: ignore[attr-defined]

    def action_remove_stuck(self) -> None:
        if self.app.refused("remove-unstarted", self):  # type: ignore[attr-defined]
            return
        member = self._member()
        if member is not None and member.member is not None:
            self.app.action_remove_stuck_member(member.member.id)  # type: ignore[attr-defined]

    def action_repair(self) -> None:
        if self.app.refused("repair-member", self):  # type: ignore[attr-defined]
            return
        member = self._member()
        if member is not None:
            self.app.launcher.repair_member(member.name)  # type: ignore[attr-defined]

    def action_copy_id(self) -> None:
        self.app.copy_member_id(self._member())  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("…", id="detail")
        yield KeyFooter()

    def show(self, view: ClusterView, history: History) -> None:
        member = next((m for m in view.members if row_key(m) == self.key), None)
        detail = self.query_one("#detail", Static)
        if member is None:
            detail.update(Content("This member is no longer in the cluster."))
            return
        removable = member.member is not None and not member.member.started
        if removable != getattr(self, "_removable", None):
            self._removable = removable
            self.refresh_bindings()  # X comes and goes with the member's state
        connection: Connection = self.app.connection  # type: ignore[attr-defined]
        reading = self.app.checks.reading  # type: ignore[attr-defined]
        detail.update(describe(member, view, history, node_for(connection, member),
                               self.actions(), reading))  # fmt: skip
