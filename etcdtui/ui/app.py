"""The etcdtui application: polls the cluster in a worker and shows its members."""

from __future__ import annotations

import time

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import Connection
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.units import human_bytes
from etcdtui.services.status import quota_percent, verdict
from etcdtui.ui.messages import ClusterRefreshed
from etcdtui.ui.paths import styles_dir

MEMBER_COLUMNS = (
    "", "NAME", "STATE", "ENDPOINT", "ID", "VERSION", "DB SIZE", "IN USE", "QUOTA", "TERM",
    "INDEX", "APPLIED", "ERROR",
)  # fmt: skip


def member_row(view: MemberView) -> tuple[str, ...]:
    """One table row; the state is a word, so it reads the same without colour."""
    s = view.status
    quota = quota_percent(view)
    if not view.reachable:
        state, error = "UNREACHABLE", view.error
    elif not view.healthy:
        state, error = "UNHEALTHY", view.health.error if view.health else ""
    else:
        state, error = "healthy", ""
    marker = "★" if view.is_leader else ("L" if view.is_learner else "")
    member_id = view.member_id
    return (
        marker,
        view.name,
        state,
        view.endpoint or "-",
        format(member_id, "x") if member_id is not None else "-",
        s.version if s else "-",
        human_bytes(s.db_size) if s else "-",
        human_bytes(s.db_size_in_use) if s else "-",
        f"{quota:.0f}%" if quota is not None else "-",
        str(s.raft_term) if s else "-",
        str(s.raft_index) if s else "-",
        str(s.applied_index) if s else "-",
        error,
    )


class EtcdtuiApp(App[int]):
    """The dashboard over one cluster connection."""

    CSS_PATH = str(styles_dir() / "app.tcss")
    TITLE = "etcdtui"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("r", "refresh_now", "Refresh", id="refresh"),
        Binding("p", "toggle_pause", "Pause", id="pause"),
    ]

    def __init__(
        self,
        connection: Connection,
        refresh: float = 2.0,
        read_only: bool = False,
        client: ClusterClient | None = None,
    ) -> None:
        super().__init__()
        self.connection = connection
        self.refresh_interval = refresh
        self.read_only = read_only
        self.client = client or ClusterClient(connection)
        self.paused = False
        self.view: ClusterView | None = None
        self.polls = 0
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Connecting to {self.connection.cluster}…", id="summary")
        yield DataTable(id="members", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.connection.cluster} · {', '.join(self.connection.endpoints)}"
        table = self.query_one("#members", DataTable)
        table.add_columns(*MEMBER_COLUMNS)
        self.poll()

    @work(thread=True, exclusive=True, exit_on_error=False, group="poll")
    def poll(self) -> None:
        """One refresh in a thread; the next is armed only when this one is shown."""
        view = self.client.read()
        self.post_message(ClusterRefreshed(view))

    def on_cluster_refreshed(self, message: ClusterRefreshed) -> None:
        self.polls += 1
        self.view = message.view
        self.show(message.view)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = None if self.paused else self.set_timer(self.refresh_interval, self.poll)

    def show(self, view: ClusterView) -> None:
        summary = self.query_one("#summary", Static)
        stamp = time.strftime("%H:%M:%S", time.localtime(view.taken_at))
        paused = "  ⏸ PAUSED (p resumes)" if self.paused else ""
        summary.update(f"{verdict(view)}  ·  {stamp} in {view.duration * 1000:.0f} ms{paused}")
        summary.set_class(not view.healthy, "-unhealthy")
        summary.set_class(self.paused, "-paused")
        table = self.query_one("#members", DataTable)
        table.clear()
        for member in view.members:
            table.add_row(*member_row(member), key=member.endpoint or member.name)

    def action_refresh_now(self) -> None:
        self.poll()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.view is not None:
            self.show(self.view)
        if not self.paused:
            self.poll()
        self.notify("Refresh paused" if self.paused else "Refresh resumed")

    def on_unmount(self) -> None:
        self.client.close()
