"""The etcdtui application: polls the cluster in a worker thread and shows the dashboard.

The poll loop lives in `Poller` (ui/poller.py), the runbook screens are opened by `Launcher`
(ui/launcher.py), the screens the keys open by `ScreenActions` (ui/screen_actions.py), and
every key comes from the action table (ui/actions.py): the app ties them to one cluster of
the config at a time. At start, the cluster's cached last view is painted, marked stale,
until the first poll returns (services/view_cache.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen

from etcdtui.config import Connection
from etcdtui.models import ClusterView
from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog
from etcdtui.services.history import History
from etcdtui.services.view_cache import ViewCache
from etcdtui.ui import actions
from etcdtui.ui.clusters import ClusterSwitch
from etcdtui.ui.consistency import ConsistencyChecks
from etcdtui.ui.launcher import Launcher
from etcdtui.ui.messages import ClusterRefreshed
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.poller import OpenedOnFirstRead, Poller, SourceFactory, open_source
from etcdtui.ui.screen_actions import ScreenActions
from etcdtui.ui.screens.dashboard import DashboardScreen
from etcdtui.ui.screens.detail import MemberDetailScreen

if TYPE_CHECKING:
    from etcdtui.clients.cluster import ClusterSource


class EtcdtuiApp(ScreenActions):
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
        view_cache: ViewCache | None = None,
    ) -> None:
        """`view_cache`: where the last views are kept; by default the user's own, unless
        the app is given a `source` or a `source_factory` (fixed data, tests)."""
        super().__init__()
        self.connection = connection or Connection(cluster="", endpoints=())
        self.read_only = read_only
        if view_cache is None and source is None and source_factory is None:
            view_cache = ViewCache()
        self._factory: SourceFactory = source_factory or open_source
        if source is None and connection is not None:
            source = OpenedOnFirstRead(self._factory, connection)
        self.poller = Poller(self, source, refresh, view_cache, connection)
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
    def polls(self) -> int:
        return self.poller.polls

    # --- screens ---------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen()

    def on_mount(self) -> None:
        if self.poller.source is None:
            self.action_switch_cluster()
        else:
            # After the first paint, so every pane is mounted and sized when the cached view
            # or the first refresh lands.
            self.call_after_refresh(self._start)

    def _start(self) -> None:
        # The header shows titles as plain Content; printable keeps control characters off.
        endpoints = ", ".join(self.connection.endpoints)
        self.sub_title = printable(f"{self.connection.cluster} · {endpoints}")
        if self.connection.via_ssh:
            self.sub_title += " · via ssh"
        dashboard = self.dashboard
        if dashboard is not None and (cached := self.poller.cached()) is not None:
            dashboard.show_cached(cached)
        if dashboard is not None and dashboard.stale:
            # Painted first: the poll's worker, loading the client modules, would hold it back.
            self.call_after_refresh(self.poller.poll)
        else:
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
        from etcdtui.ui.screens.runbook import RunbookScreen

        running = [s for s in self.screen_stack if isinstance(s, RunbookScreen) and s.running]
        if running:
            self.notify("A runbook is running: press a to stop it after this step, then quit.",
                        title="Not quitting", severity="warning")  # fmt: skip
            return
        await super().action_quit()

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
        source = OpenedOnFirstRead(self._factory, connection)
        self.poller.use(source, forget=bool(reset), connection=connection)
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
