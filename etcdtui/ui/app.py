"""The etcdtui application: polls the cluster in a worker thread and shows the dashboard.

The poll loop lives in `Poller` (ui/poller.py), the runbook screens are opened by `Launcher`
(ui/launcher.py), and every key comes from the action table (ui/actions.py): the app ties
them to one cluster of the config at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen

from etcdtui.clients.cluster import ClusterSource
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import Connection
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog
from etcdtui.services.history import History
from etcdtui.ui import actions
from etcdtui.ui.clusters import ClusterSwitch
from etcdtui.ui.consistency import ConsistencyChecks
from etcdtui.ui.launcher import Launcher
from etcdtui.ui.messages import ClusterRefreshed
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.poller import MAX_BACKOFF, Poller, SourceFactory
from etcdtui.ui.screens.audit import AuditScreen
from etcdtui.ui.screens.dashboard import DashboardScreen
from etcdtui.ui.screens.detail import MemberDetailScreen
from etcdtui.ui.screens.help import HelpScreen
from etcdtui.ui.screens.runbook import RunbookScreen


class EtcdtuiApp(App[int]):
    """The dashboard over one cluster at a time.

    Keys, palette entries and help come from the action table (`etcdtui.ui.actions`): the
    dashboard and detail screens bind their own; the app binds those of every screen.
    """

    CSS_PATH = str(styles_dir() / "app.tcss")
    TITLE = "etcdtui"
    BINDINGS = actions.global_bindings()
    COMMANDS = App.COMMANDS | {actions.ActionCommands}

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
        self.read_only = read_only
        self._factory: SourceFactory = source_factory or open_cluster
        if source is None and connection is not None:
            source = self._factory(connection)
        self.poller = Poller(self, source, refresh)
        self.audit = audit or AuditLog()
        self.launcher = Launcher(self, self.connection, self.audit)
        self.checks = ConsistencyChecks(self)
        # Launchers of a connection replaced by a reload: closed at the end (a runbook screen
        # may still use their session).
        self._retired: list[Launcher] = []
        self._nospace_shown = False
        self.switch = ClusterSwitch(self, config_path, list(clusters))

    @property
    def history(self) -> History:
        return self.poller.history

    @property
    def view(self) -> ClusterView | None:
        """The latest view of the cluster (None before the first refresh)."""
        return self.poller.view

    @property
    def polls(self) -> int:
        return self.poller.polls

    # --- screens ---------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen()

    @property
    def dashboard(self) -> DashboardScreen | None:
        """The dashboard, unless the app is shutting down and has popped it already."""
        return next((s for s in self.screen_stack if isinstance(s, DashboardScreen)), None)

    def on_mount(self) -> None:
        if self.poller.source is None:
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
        self.poller.poll()

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header's title, behind a READ-ONLY badge with --read-only (on every screen)."""
        content = super().format_title(title, sub_title)
        if not self.read_only:
            return content
        return Content.assemble(("READ-ONLY", "bold reverse $warning"), " ", content)

    def on_cluster_refreshed(self, message: ClusterRefreshed) -> None:
        view = self.poller.received(message)
        if view is None or not self._show(view):
            return
        self.poller.arm()
        self.check_config()

    def _show(self, view: ClusterView) -> bool:
        """Show a refresh on the dashboard and any detail screen; False once they are gone."""
        if (dashboard := self.dashboard) is None:
            return False
        try:
            dashboard.show(view, self.history, self.poller.state_text())
            for screen in self.screen_stack:
                if isinstance(screen, MemberDetailScreen):
                    screen.show(view, self.history)
        except NoMatches:
            return False  # the app is shutting down and its widgets are gone
        nospace = any(a.kind == "NOSPACE" for a in view.alarms)
        if nospace != self._nospace_shown:
            # The NOSPACE recovery key comes and goes with the alarm. Only then: rebuilding the
            # footer on every refresh leaks its old keys in Textual (issue 6666).
            self._nospace_shown = nospace
            self.refresh_bindings()
        return True

    # --- actions ---------------------------------------------------------------------------

    def refusal(self, entry: actions.UiAction) -> str | None:
        """Why this action does nothing now (its key says so, the footer leaves it out)."""
        if entry.changes_cluster and self.read_only:
            return actions.READ_ONLY
        if entry.id == "recover-nospace" and not self._nospace_shown:
            return "no NOSPACE alarm is active: nothing to recover"
        return self.switch.refusal(entry.id)

    def refused(self, action_id: str, screen: Screen[object] | None = None) -> bool:
        """True, with a notification saying why, when the action cannot run now."""
        return actions.refuse(screen or self.screen, action_id)

    def action_refresh_now(self) -> None:
        self.check_config()
        self.poller.poll()

    def action_toggle_pause(self) -> None:
        paused = self.poller.toggle_pause()
        self._state_changed("Refresh paused: p resumes" if paused else "Refresh resumed")

    def action_cycle_interval(self) -> None:
        self._state_changed(f"Refreshing every {self.poller.cycle_interval():g} s")

    def _state_changed(self, note: str) -> None:
        if (dashboard := self.dashboard) is not None:
            dashboard.show_state(self.poller.state_text())
        self.notify(note)

    async def action_quit(self) -> None:
        running = [s for s in self.screen_stack if isinstance(s, RunbookScreen) and s.running]
        if running:
            self.notify("A runbook is running: press a to stop it after this step, then quit.",
                        title="Not quitting", severity="warning")  # fmt: skip
            return
        await super().action_quit()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        where, interval = actions.where_of(self.screen), self.poller.interval
        self.push_screen(HelpScreen(where, read_only=self.read_only, interval=interval,
                                    backoff=MAX_BACKOFF))  # fmt: skip

    def action_member_detail(self) -> None:
        key = self.dashboard.selected_member_key() if self.dashboard else None
        if key is None or self.view is None:
            self.notify("No member is selected.", severity="warning")
            return
        self.push_screen(MemberDetailScreen(key, self.view, self.history))

    def copy_member_id(self, member: MemberView | None) -> None:
        """`y`: the member's ID in hex, as etcdctl prints it, to the clipboard (OSC 52)."""
        if member is None:
            self.notify("No member is selected.", severity="warning")
            return
        if member.member_id is None:
            self.notify(f"{member.name} has no member ID: it is not in the member list.",
                        severity="warning", markup=False)  # fmt: skip
            return
        member_id = format(member.member_id, "x")
        self.copy_to_clipboard(member_id)
        self.notify(f"Copied {member.name}'s member ID {member_id} to the clipboard.",
                    title="Copied", markup=False)  # fmt: skip

    def action_replace_member(self, member: str) -> None:
        if not self.refused("replace-member"):
            self.launcher.replace_member(member, self.view)

    def action_remove_stuck_member(self, member_id: int) -> None:
        """Remove a member added but never started (it counts toward quorum)."""
        if not self.refused("remove-unstarted"):
            self.launcher.remove_stuck_member(member_id)

    def action_add_member(self) -> None:
        if not self.refused("add-member"):
            self.launcher.add_member(self.view)

    def action_defrag(self) -> None:
        if not self.refused("defrag"):
            self.launcher.defrag()

    def action_recover_nospace(self) -> None:
        if not self.refused("recover-nospace"):
            self.launcher.recover_nospace()

    def action_audit_log(self) -> None:
        self.push_screen(AuditScreen(self.audit))

    def action_snapshot(self) -> None:
        self.launcher.backups()

    def action_kubernetes(self) -> None:
        self.launcher.kubernetes(lambda: self.view)

    # --- the cluster shown -----------------------------------------------------------------

    def action_switch_cluster(self) -> None:
        first = self.poller.source is None
        if first or not self.refused("cluster"):
            self.switch.choose(first)

    def check_config(self) -> None:
        """Reload the config when its file changed; called after every refresh and when the
        dashboard shows again (one stat, no read)."""
        self.switch.check()

    def action_reload_config(self) -> None:
        if not self.refused("reload-config"):
            self.switch.reload()

    def use(self, connection: Connection, reset: str = "") -> None:
        """Poll `connection` from now on; a poll of the old one still under way is ignored.
        `reset`: another cluster, so forget the old one and say this on the dashboard."""
        self.connection = connection
        self.switch.follow(connection)
        self.poller.use(self._factory(connection), forget=bool(reset))
        self._retired.append(self.launcher)
        self.launcher = Launcher(self, connection, self.audit)
        if reset:
            self.checks.forget()
        if reset and (dashboard := self.dashboard) is not None:
            dashboard.reset(reset)
        self._start()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # Our own Quit (from the action table) will not quit while a runbook runs.
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

    def on_unmount(self) -> None:
        for launcher in self._retired:
            launcher.close()
        self.poller.close()
        self.launcher.close()
