"""Enter on a member: every status field, its metrics, its node, and what can be done."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from etcdtui.config import Connection, NodeConfig
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.text import printable
from etcdtui.models.units import human_bytes, human_seconds
from etcdtui.services.health import Level, latencies, member_findings, quota_usage
from etcdtui.services.history import History
from etcdtui.ui.format import NEWLINE, level_content, markup
from etcdtui.ui.widgets.members import member_state, row_key


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
             actions: list[str]) -> Content:  # fmt: skip
    """The detail text for one member: our markup, with every outside value put in as data."""
    state, level = member_state(member)
    s, m = member.status, member.metrics
    client_urls = member.member.client_urls if member.member else (member.endpoint,)
    peer_urls = member.member.peer_urls if member.member else ("-",)
    lines: list[Content | str] = [
        markup("[b]$name[/b]  ", name=member.name)
        + level_content(Level(level), state)
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
    if m is not None and member.member_id is not None:
        recent = history.recent(member.member_id, m)
        lines += ["", Content.styled("Metrics (last minute)", "bold")]
        for label, value, lvl in latencies(recent):
            lines.append(
                Content(f"{label:<20} ") + level_content(lvl, f"{human_seconds(value)} {lvl.word}")
            )
        for peer, hist in sorted(recent.peer_rtt.items()):
            lines.append(f"  to {printable(peer):<16} {human_seconds(hist.quantile(0.99))}")
        lines.append(
            f"Leader changes seen {m.leader_changes if m.leader_changes is not None else '-'}"
        )
    lines += ["", Content.styled("Node", "bold")]
    if node is None:
        lines.append("not in the config: add it under [clusters.NAME.nodes] to run node-side steps")
    else:
        ssh = node.ssh
        user = f"{ssh.user}@" if ssh.user else ""
        port = f":{ssh.port}" if ssh.port else ""
        target = f"{user}{ssh.host}{port}"
        lines += [
            f"Name            {printable(node.name)}",
            f"SSH             {printable(target)}"
            + (f" via {printable(ssh.proxy_jump)}" if ssh.proxy_jump else ""),
            f"Profile         {printable(node.profile)}" + ("  (sudo)" if node.sudo else ""),
            f"Data dir        {printable(node.data_dir)}",
        ]
    findings = member_findings(member, view)
    if findings:
        lines += ["", Content.styled("Findings", "bold")]
        lines += [level_content(f.level) + f"  {printable(f.text)}" for f in findings]
    lines += ["", Content.styled("Actions", "bold")]
    lines += actions or ["none: etcdtui runs read-only"]
    # Plain strings here are literal text (Content, not markup): `[clusters.NAME.nodes]` too.
    return NEWLINE.join(lines)


class MemberDetailScreen(Screen[None]):
    """Live detail of one member; Esc goes back."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("R", "replace", "Replace this member", id="replace-member"),
        Binding("X", "remove_stuck", "Remove (never started)", id="remove-unstarted"),
    ]

    def __init__(self, key: str, view: ClusterView, history: History) -> None:
        super().__init__()
        self.key = key
        self._first = (view, history)

    def on_mount(self) -> None:
        self.show(*self._first)

    def _member(self) -> MemberView | None:
        view = getattr(self.app, "view", None) or self._first[0]
        return next((m for m in view.members if row_key(m) == self.key), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("replace", "remove_stuck") and getattr(self.app, "read_only", False):
            return False
        if action == "remove_stuck":
            member = self._member()
            return member is not None and member.member is not None and not member.member.started
        return True

    def action_replace(self) -> None:
        member = self._member()
        if member is not None:
            self.app.action_replace_member(member.name)  # type: ignore[attr-defined]

    def action_remove_stuck(self) -> None:
        member = self._member()
        if member is not None and member.member is not None and not member.member.started:
            self.app.action_remove_stuck_member(member.member.id)  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("…", id="detail")
        yield Footer()

    def show(self, view: ClusterView, history: History) -> None:
        member = next((m for m in view.members if row_key(m) == self.key), None)
        detail = self.query_one("#detail", Static)
        if member is None:
            detail.update(Content("This member is no longer in the cluster."))
            return
        app = self.app
        connection: Connection = app.connection  # type: ignore[attr-defined]
        actions: list[str] = app.member_actions(member)  # type: ignore[attr-defined]
        detail.update(describe(member, view, history, node_for(connection, member), actions))
