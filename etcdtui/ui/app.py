"""The etcdtui application: polls the cluster in a worker thread and shows the dashboard."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer

from etcdtui.clients.cluster import ClusterClient, ClusterSource
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import Connection, cluster_names, load_connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog
from etcdtui.services.history import History
from etcdtui.ui.actions import BY_ID, ActionCommands, UiAction, global_bindings, where_of
from etcdtui.ui.actions import refusal as refusal_of
from etcdtui.ui.messages import ClusterRefreshed
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.screens.audit import AuditScreen
from etcdtui.ui.screens.dashboard import DashboardScreen
from etcdtui.ui.screens.detail import MemberDetailScreen
from etcdtui.ui.screens.help import HelpScreen
from etcdtui.ui.screens.picker import ChoicePicker, ClusterPicker
from etcdtui.ui.screens.runbook import RunbookScreen

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import ShellPool

INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
MAX_BACKOFF = 30.0
READ_ONLY = (
    "etcdtui runs read-only (--read-only): nothing that changes the cluster runs. "
    "Restart it without --read-only to do this."
)

SourceFactory = Callable[[Connection], ClusterSource]


class EtcdtuiApp(App[int]):
    """The dashboard over one cluster at a time.

    Keys, palette entries and help come from the action table (`etcdtui.ui.actions`): the
    dashboard and detail screens bind their own; the app binds those of every screen.
    """

    CSS_PATH = str(styles_dir() / "app.tcss")
    TITLE = "etcdtui"
    BINDINGS = global_bindings()
    COMMANDS = App.COMMANDS | {ActionCommands}

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
        self.view: ClusterView | None = None
        self.paused = False
        self.polls = 0
        self.failures = 0
        self._generation = 0
        self._timer: Timer | None = None
        self.audit = audit or AuditLog()
        self._runbook_client: ClusterClient | None = None
        self._shells: ShellPool | None = None
        # Runbook clients of a connection replaced by a reload: closed at the end (a runbook
        # screen may still use them).
        self._retired: list[Callable[[], None]] = []
        self._nospace_shown = False
        self._config_stamp = self._stamp()

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
        self.poll()

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header's title, behind a READ-ONLY badge with --read-only (on every screen)."""
        content = super().format_title(title, sub_title)
        if not self.read_only:
            return content
        return Content.assemble(("READ-ONLY", "bold reverse $warning"), " ", content)

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
        self.check_config()

    def next_delay(self) -> float:
        """The refresh interval, doubled per failed refresh while no member answers."""
        if not self.failures:
            return self.refresh_interval
        doubled = self.refresh_interval * 2.0 ** min(self.failures, 16)  # no overflow after hours
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

    def refusal(self, entry: UiAction) -> str | None:
        """Why this action does nothing now (its key says so, the footer leaves it out)."""
        if entry.changes_cluster and self.read_only:
            return READ_ONLY
        if entry.id == "cluster" and len(self.clusters) < 2:
            if self.clusters:
                return "only one cluster is configured"
            return "no config file with several clusters (started with --endpoints)"
        if entry.id == "recover-nospace" and not self._nospace_shown:
            return "no NOSPACE alarm is active: nothing to recover"
        if entry.id == "reload-config" and self._config_file() is None:
            return "this cluster was not read from a config file (--endpoints)"
        return None

    def refused(self, action_id: str, screen: Screen[object] | None = None) -> bool:
        """True, with a notification saying why, when the action cannot run now."""
        entry = BY_ID[action_id]
        reason = refusal_of(screen or self.screen, entry)
        if reason:
            self.notify(reason, title=f"{entry.key_display} {entry.name}: not now",
                        severity="warning", markup=False)  # fmt: skip
        return reason is not None

    def action_refresh_now(self) -> None:
        self.check_config()
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
        if isinstance(self.screen, HelpScreen):
            return
        where, interval = where_of(self.screen), self.refresh_interval
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

    def _free_nodes(self) -> list[str]:
        """Nodes of the config that run no member now: where a member can be added."""
        members = {m.name for m in self.view.members} if self.view is not None else set[str]()
        return [n.name for n in self.connection.nodes
                if n.member_name not in members and n.peer_urls and n.client_urls]  # fmt: skip

    def _member_change(self, title: str, old_member: str) -> None:
        from etcdtui.runbooks.membership.runbook import MemberChangeRunbook

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
        if self.refused("replace-member"):
            return
        title = f"Replace member {member} · {self.connection.cluster} · learner first"
        self._member_change(title, member)

    def action_remove_stuck_member(self, member_id: int) -> None:
        """Remove a member added but never started (it counts toward quorum)."""
        if self.refused("remove-unstarted"):
            return
        from etcdtui.runbooks.membership.stuck_member import StuckMemberRemoval

        title = f"Remove never-started member {member_id:x} · {self.connection.cluster}"
        self.push_screen(RunbookScreen(
            title, lambda screen: StuckMemberRemoval(self.connection, self._runbook_cluster(),
                                                     member_id), self.audit))  # fmt: skip

    def action_add_member(self) -> None:
        if self.refused("add-member"):
            return
        self._member_change(f"Add a member · {self.connection.cluster} · learner first", "")

    def _runbook_shells(self) -> ShellPool:
        """The SSH connections runbooks share (closed when the app ends)."""
        if self._shells is None:
            from etcdtui.clients.ssh.shell import ShellPool

            self._shells = ShellPool(self.connection.nodes)
        return self._shells

    def _runbook_cluster(self) -> ClusterClient:
        """A client of its own for runbooks, so a defrag never waits behind a dashboard poll."""
        if self._runbook_client is None:
            self._runbook_client = open_cluster(self.connection)
        return self._runbook_client

    def action_defrag(self) -> None:
        if self.refused("defrag"):
            return

        # Imported here: the runbooks pull in paramiko, which the dashboard's start need not pay.
        from etcdtui.runbooks.defrag.rule import parse_rule
        from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook

        def factory(screen: RunbookScreen) -> DefragRunbook:
            rule_text, compact, move_leader = screen.option_values()
            rule = parse_rule(rule_text) if rule_text else None
            options = DefragOptions(rule=rule, compact=compact, move_leader=move_leader)
            return DefragRunbook(self.connection, self._runbook_cluster(), options)

        title = f"Defragmentation · {self.connection.cluster} · followers first, leader last"
        self.push_screen(RunbookScreen(title, factory, self.audit, options=True))

    def action_recover_nospace(self) -> None:
        if self.refused("recover-nospace"):
            return
        from etcdtui.runbooks.defrag.runbook import NospaceRecovery

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
        if self.source is not None and self.refused("cluster"):
            return
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
        self._use(connection)
        self.history.clear()
        self.view = None
        if (dashboard := self.dashboard) is not None:
            dashboard.reset(f"Connecting to {connection.cluster}…")
        self._start()

    def _use(self, connection: Connection) -> None:
        """Poll `connection` from now on; a poll of the old one still under way is ignored."""
        old = self.source
        self._generation += 1
        self.connection = connection
        self.source = self._factory(connection)
        self.failures = 0
        self._config_stamp = self._stamp()
        if old is not None:
            old.close()
        if self._runbook_client is not None:
            self._retired.append(self._runbook_client.close)
            self._runbook_client = None
        if self._shells is not None:
            self._retired.append(self._shells.close_all)
            self._shells = None

    # --- the config file -------------------------------------------------------------------

    def _config_file(self) -> Path | None:
        """The file this cluster was read from (None with --endpoints)."""
        source = self.connection.source
        if not source or source == "flags":
            return None
        return Path(source)

    def _stamp(self) -> int | None:
        path = self._config_file()
        if path is None:
            return None
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None

    def check_config(self) -> None:
        """Reload the config when its file changed (a runbook wrote it: replace, add member).

        Called after every refresh and when the dashboard shows again; one stat, no read.
        """
        if self._config_file() is not None and self._stamp() != self._config_stamp:
            self.reload_config(changed=True)

    def action_reload_config(self) -> None:
        if not self.refused("reload-config"):
            self.reload_config()

    def reload_config(self, changed: bool = False) -> None:
        """Read the config file again and poll what it says now: a replaced member leaves the
        dashboard instead of staying as an unreachable ghost."""
        path = self._config_file()
        if path is None:
            return
        self._config_stamp = self._stamp()  # a broken file is reported once, not every poll
        try:
            connection = load_connection(path, self.connection.cluster)
            names = cluster_names(path)
        except EtcdtuiError as exc:
            self.notify(printable(str(exc), newlines=True), title="Config not reloaded",
                        severity="error", markup=False)  # fmt: skip
            return
        if self.config_path is not None and path.resolve() == self.config_path.resolve():
            self.clusters = names
        if connection == self.connection:
            if not changed:
                self.notify("The config file says nothing new for this cluster.",
                            title="Config reloaded")  # fmt: skip
            return
        self._use(connection)
        self.notify(printable(f"{path}: {connection.cluster} now has endpoints "
                              f"{', '.join(connection.endpoints)}"),
                    title="Config file changed: reloaded", markup=False)  # fmt: skip
        self.refresh_bindings()
        self._start()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # Our own Quit (from the action table) will not quit while a runbook runs.
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

    def on_unmount(self) -> None:
        for close in self._retired:
            close()
        if self.source is not None:
            self.source.close()
        if self._shells is not None:
            self._shells.close_all()
        if self._runbook_client is not None:
            self._runbook_client.close()
