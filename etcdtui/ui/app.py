"""The etcdtui application: polls the cluster in a worker thread and shows the dashboard."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer

from etcdtui.clients.cluster import ClusterClient, ClusterSource
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import Connection, load_connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models import MemberView
from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog
from etcdtui.services.history import History
from etcdtui.ui.messages import ClusterRefreshed
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.screens.audit import AuditScreen
from etcdtui.ui.screens.dashboard import DashboardScreen
from etcdtui.ui.screens.detail import MemberDetailScreen
from etcdtui.ui.screens.help import HelpScreen
from etcdtui.ui.screens.picker import ChoicePicker, ClusterPicker
from etcdtui.ui.screens.runbook import RunbookScreen

if TYPE_CHECKING:
    from etcdtui.clients.ssh import ShellPool

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
MAX_BACKOFF = 30.0
# Actions that change the cluster: hidden and refused with --read-only.
CHANGING = {"defrag", "recover_nospace", "replace_member", "add_member"}

SourceFactory = Callable[[Connection], ClusterSource]
DASHBOARD_ONLY = CHANGING | {
    "switch_cluster",
    "toggle_pause",
    "cycle_interval",
    "refresh_now",
    "snapshot",
    "kubernetes",
}


class EtcdtuiApp(App[int]):
    """The dashboard over one cluster at a time."""

    CSS_PATH = str(styles_dir() / "app.tcss")
    TITLE = "etcdtui"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("r", "refresh_now", "Refresh", id="refresh"),
        Binding("p", "toggle_pause", "Pause", id="pause"),
        Binding("i", "cycle_interval", "Interval", id="interval"),
        Binding("c", "switch_cluster", "Cluster", id="cluster"),
        Binding("d", "defrag", "Defrag", id="defrag"),
        Binding("n", "recover_nospace", "NOSPACE recovery", id="recover-nospace"),
        Binding("l", "audit_log", "Audit log", id="audit-log"),
        Binding("s", "snapshot", "Backups", id="snapshot"),
        Binding("k", "kubernetes", "Kubernetes", id="kubernetes"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
    ]

    def __init__(
        self,
        connection: Connection | None,
        refresh: float = 2.0,
        read_only: bool = False,
        source: ClusterSource | None = None,
        config_path: Path | None = None,
        clusters: Iterable[str] = (),
        source_factory: SourceFactory | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        super().__init__()
        self.connection = connection or Connection(cluster="", endpoints=())
        self.refresh_interval = refresh
        self.read_only = read_only
        self.config_path = config_path
        self.clusters = list(clusters)
        self._factory: SourceFactory = source_factory or open_cluster
        self.source: ClusterSource | None = source
        if self.source is None and connection is not None:
            self.source = self._factory(connection)
        self.history = History()
        self.view = None
        self.paused = False
        self.polls = 0
        self.failures = 0
        self._generation = 0
        self._timer: Timer | None = None
        self.audit = audit or AuditLog()
        self._runbook_client: ClusterClient | None = None
        self._shells: ShellPool | None = None
        self._nospace_shown = False

    # --- screens ---------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen()

    @property
    def dashboard(self) -> DashboardScreen | None:
        """The dashboard, unless the app is shutting down and has popped it already."""
        return next((s for s in self.screen_stack if isinstance(s, DashboardScreen)), None)

    def on_mount(self) -> None:
        if self.source is None:
            self.action_switch_cluster()
        else:
            # After the first paint, so every pane is mounted when the first refresh lands.
            self.call_after_refresh(self._start)

    def _start(self) -> None:
        # The header shows titles as plain Content; printable keeps control characters off.
        endpoints = ", ".join(self.connection.endpoints)
        self.sub_title = printable(f"{self.connection.cluster} · {endpoints}")
        if self.connection.via_ssh:
            self.sub_title += " · via ssh"
        if self.read_only:
            self.sub_title += " · read-only"
        self.poll()

    # --- polling ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="poll")
    def poll(self) -> None:
        """One refresh in a thread; the next is armed only once this one is shown."""
        source, generation = self.source, self._generation
        if source is None:
            return
        view = source.read()
        self.post_message(ClusterRefreshed(view, generation))

    def on_cluster_refreshed(self, message: ClusterRefreshed) -> None:
        if message.generation != self._generation:
            return  # from a cluster we switched away from
        view = message.view
        self.polls += 1
        if self.polls == 1:
            # Everything built at start-up lives as long as the app: keep it out of the
            # collector's full passes, which otherwise stall a key press by ~100 ms.
            gc.freeze()
        self.view = view
        self.history.add(view)
        unreachable = bool(view.error) and not any(m.reachable for m in view.members)
        self.failures = self.failures + 1 if unreachable else 0
        if (dashboard := self.dashboard) is None:
            return
        try:
            dashboard.show(view, self.history, self.state_text())
            for screen in self.screen_stack:
                if isinstance(screen, MemberDetailScreen):
                    screen.show(view, self.history)
        except NoMatches:
            return  # the app is shutting down and its widgets are gone
        nospace = any(a.kind == "NOSPACE" for a in view.alarms)
        if nospace != self._nospace_shown:
            # The NOSPACE recovery key comes and goes with the alarm. Only then: rebuilding the
            # footer on every refresh leaks its old keys in Textual (issue 6666).
            self._nospace_shown = nospace
            self.refresh_bindings()
        self._arm()

    def next_delay(self) -> float:
        """The refresh interval, doubled per failed refresh while no member answers."""
        if not self.failures:
            return self.refresh_interval
        doubled = self.refresh_interval * 2 ** min(self.failures, 16)  # no overflow after hours
        return min(doubled, max(MAX_BACKOFF, self.refresh_interval))

    def state_text(self) -> str:
        if self.paused:
            return "[b $warning]⏸ PAUSED[/] (p resumes)"
        if self.failures:
            return f"[b $error]no member answers[/]: retrying in {self.next_delay():.0f} s"
        return f"every {self.refresh_interval:g} s"

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = None if self.paused else self.set_timer(self.next_delay(), self.poll)

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHANGING and self.read_only:
            return False  # hidden from the footer and refused
        if action in DASHBOARD_ONLY and not isinstance(self.screen, DashboardScreen):
            return False  # a runbook or detail screen has its own keys
        if action == "recover_nospace":
            # Offered only while a NOSPACE alarm is active.
            return self.view is not None and any(a.kind == "NOSPACE" for a in self.view.alarms)
        return not (action == "switch_cluster" and len(self.clusters) < 2)

    def action_refresh_now(self) -> None:
        self.poll()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._timer is not None:
            self._timer.stop()
            self._timer = None
        if (dashboard := self.dashboard) is not None:
            dashboard.show_state(self.state_text())
        if not self.paused:
            self.poll()
        self.notify("Refresh paused: p resumes" if self.paused else "Refresh resumed")

    def action_cycle_interval(self) -> None:
        later = [i for i in INTERVALS if i > self.refresh_interval]
        self.refresh_interval = later[0] if later else INTERVALS[0]
        if (dashboard := self.dashboard) is not None:
            dashboard.show_state(self.state_text())
        self._arm()
        self.notify(f"Refreshing every {self.refresh_interval:g} s")

    async def action_quit(self) -> None:
        running = [s for s in self.screen_stack if isinstance(s, RunbookScreen) and s.running]
        if running:
            self.notify("A runbook is running: press a to stop it after this step, then quit.",
                        title="Not quitting", severity="warning")  # fmt: skip
            return
        await super().action_quit()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_member_detail(self) -> None:
        key = self.dashboard.selected_member_key() if self.dashboard else None
        if key is None or self.view is None:
            return
        self.push_screen(MemberDetailScreen(key, self.view, self.history))

    def member_actions(self, member: MemberView) -> list[str]:
        """What can be done to this member, as shown in its detail."""
        if self.read_only:
            return []
        actions = [
            "d  defragment (the defrag runbook: followers first, leader last)",
            "s  backups: save a snapshot, see the catalogue",
        ]
        if not member.reachable or (member.member is not None and not member.member.started):
            actions.append("R  replace this member with another node (learner first)")
        if member.member is not None and not member.member.started:
            actions.append("X  remove it: added but never started, it still counts toward quorum")
        return actions

    def _free_nodes(self) -> list[str]:
        """Nodes of the config that run no member now: where a member can be added."""
        members = {m.name for m in self.view.members} if self.view is not None else set()
        return [n.name for n in self.connection.nodes
                if n.member_name not in members and n.peer_urls and n.client_urls]  # fmt: skip

    def _member_change(self, title: str, old_member: str) -> None:
        from etcdtui.runbooks.membership import MemberChangeRunbook

        free = self._free_nodes()
        if not free:
            self.notify("No node of the config is free (a node with peer and client URLs that "
                        "runs no member): add one to the config.", severity="warning")  # fmt: skip
            return

        def chosen(node: str | None) -> None:
            if node is None:
                return

            def factory(screen: RunbookScreen) -> MemberChangeRunbook:
                return MemberChangeRunbook(self.connection, self._runbook_cluster(),
                                           self._runbook_shells(), node,
                                           old_member=old_member)  # fmt: skip

            self.push_screen(RunbookScreen(f"{title} · {node}", factory, self.audit))

        question = f"Replace {old_member} with which node?" if old_member else "Add which node?"
        self.push_screen(ChoicePicker(question, free), chosen)

    def action_replace_member(self, member: str) -> None:
        if self.read_only:
            return
        title = f"Replace member {member} · {self.connection.cluster} · learner first"
        self._member_change(title, member)

    def action_remove_stuck_member(self, member_id: int) -> None:
        """Remove a member added but never started (it counts toward quorum)."""
        if self.read_only:
            return
        from etcdtui.runbooks.stuck_member import StuckMemberRemoval

        title = f"Remove never-started member {member_id:x} · {self.connection.cluster}"
        self.push_screen(RunbookScreen(
            title, lambda screen: StuckMemberRemoval(self.connection, self._runbook_cluster(),
                                                     member_id), self.audit))  # fmt: skip

    def action_add_member(self) -> None:
        if self.read_only:
            return
        self._member_change(f"Add a member · {self.connection.cluster} · learner first", "")

    def _runbook_shells(self) -> ShellPool:
        """The SSH connections runbooks share (closed when the app ends)."""
        if self._shells is None:
            from etcdtui.clients.ssh import ShellPool

            self._shells = ShellPool(self.connection.nodes)
        return self._shells

    def _runbook_cluster(self) -> ClusterClient:
        """A client of its own for runbooks, so a defrag never waits behind a dashboard poll."""
        if self._runbook_client is None:
            self._runbook_client = open_cluster(self.connection)
        return self._runbook_client

    def action_defrag(self) -> None:
        if self.read_only:
            return

        # Imported here: the runbooks pull in paramiko, which the dashboard's start need not pay.
        from etcdtui.runbooks.defrag import DefragOptions, DefragRunbook
        from etcdtui.runbooks.rule import parse_rule

        def factory(screen: RunbookScreen) -> DefragRunbook:
            rule_text, compact, move_leader = screen.option_values()
            rule = parse_rule(rule_text) if rule_text else None
            options = DefragOptions(rule=rule, compact=compact, move_leader=move_leader)
            return DefragRunbook(self.connection, self._runbook_cluster(), options)

        title = f"Defragmentation · {self.connection.cluster} · followers first, leader last"
        self.push_screen(RunbookScreen(title, factory, self.audit, options=True))

    def action_recover_nospace(self) -> None:
        if self.read_only:
            return
        from etcdtui.runbooks.defrag import NospaceRecovery

        title = f"NOSPACE recovery · {self.connection.cluster} · compact, defrag all, disarm"
        self.push_screen(RunbookScreen(
            title, lambda screen: NospaceRecovery(self.connection, self._runbook_cluster()),
            self.audit,
        ))  # fmt: skip

    def action_audit_log(self) -> None:
        self.push_screen(AuditScreen(self.audit))

    def action_snapshot(self) -> None:
        """Backups: the catalogue, and saving a snapshot (a read: allowed with --read-only)."""
        from etcdtui.ui.screens.backups import BackupsScreen

        self.push_screen(BackupsScreen(self.connection, self._runbook_cluster, self.audit))

    def action_kubernetes(self) -> None:
        """API server wiring, certificates and security checks, read from the nodes over SSH."""
        from etcdtui.ui.screens.kube import KubeScreen, live_reader

        # Made here, on the UI thread (no I/O yet); the screen's worker does the reading.
        reader = live_reader(self.connection, self._runbook_cluster(), self._runbook_shells(),
                             lambda: self.view)  # fmt: skip
        self.push_screen(KubeScreen(self.connection, reader))

    def action_switch_cluster(self) -> None:
        if not self.clusters:
            return

        def chosen(name: str | None) -> None:
            if name is None:
                if self.source is None:
                    self.exit(0)
                return
            self.use_cluster(name)

        self.push_screen(ClusterPicker(self.clusters, self.connection.cluster or None), chosen)

    def use_cluster(self, name: str) -> None:
        """Switch to another cluster of the config, leaving nothing of the old one on screen."""
        assert self.config_path is not None
        try:
            connection = load_connection(self.config_path, name)
        except EtcdtuiError as exc:
            self.notify(printable(str(exc), newlines=True), title="Cannot use this cluster",
                        severity="error", markup=False)  # fmt: skip
            return
        old = self.source
        self._generation += 1
        self.connection = connection
        self.source = self._factory(connection)
        self.history.clear()
        self.view = None
        self.failures = 0
        if old is not None:
            old.close()
        if self._runbook_client is not None:
            self._runbook_client.close()
            self._runbook_client = None
        if (dashboard := self.dashboard) is not None:
            dashboard.reset(f"Connecting to {connection.cluster}…")
        self._start()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = [
            ("Audit log", "Every runbook step executed", "audit_log"),
            ("Refresh now", "Poll every member now", "refresh_now"),
            ("Pause / resume refresh", "Stop or restart polling", "toggle_pause"),
            ("Change refresh interval", "Cycle 0.5 s … 30 s", "cycle_interval"),
            ("Member detail", "Every field of the selected member", "member_detail"),
            ("Help", "What each pane and threshold means", "help"),
            ("Switch cluster", "Pick another cluster", "switch_cluster"),
            ("Defragment…", "Followers first, leader last", "defrag"),
            ("NOSPACE recovery…", "Compact, defrag all, disarm", "recover_nospace"),
            ("Backups…", "Save a snapshot; the snapshot catalogue", "snapshot"),
            ("Kubernetes…", "API server wiring, certificate expiry, security", "kubernetes"),
            ("Add a member…", "Scale out one member at a time, learner first", "add_member"),
        ]
        for title, help_text, action in commands:
            # The palette obeys the same rules as the keys (read-only, dashboard-only actions).
            if self.check_action(action, ()):
                yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))

    def on_unmount(self) -> None:
        if self.source is not None:
            self.source.close()
        if self._shells is not None:
            self._shells.close_all()
        if self._runbook_client is not None:
            self._runbook_client.close()
