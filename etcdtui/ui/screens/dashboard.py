"""The first screen: summary line, Members, Leader & health, DB size vs quota, Disk & network.

At start it may show the cluster's cached last view (`show_cached`), marked stale, until the
first poll's view replaces it (`show`).
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.events import Resize, ScreenResume
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Static

from etcdtui.models import ClusterView
from etcdtui.models.severity import Severity
from etcdtui.models.text import printable
from etcdtui.services.health import quorum_sentence
from etcdtui.services.history import History
from etcdtui.services.view_cache import CachedView
from etcdtui.ui.actions import Where, bindings_for
from etcdtui.ui.format import markup, severity_content
from etcdtui.ui.widgets.footer import KeyFooter
from etcdtui.ui.widgets.members import TITLE, MembersTable
from etcdtui.ui.widgets.panes import DiskPane, HealthPane, Pane, QuotaPane
from etcdtui.ui.widgets.stale import StaleBanner, stale_summary

WIDE = 120  # columns from which health and quota sit side by side
# The panes under the members: id, border title, class.
PANES: tuple[tuple[str, str, type[Pane]], ...] = (
    ("health", "Leader & health [2]", HealthPane),
    ("quota", "DB size vs quota [3]", QuotaPane),
    ("disk", "Disk & network [4]", DiskPane),
)
STALE_TITLE = " · CACHED"  # after a pane's title while it shows a cached view


class DashboardScreen(Screen[None]):
    """Everything at a glance; refreshed by the app's poller."""

    AUTO_FOCUS = "#members"
    BINDINGS = bindings_for(Where.DASHBOARD)
    _view: ClusterView | None = None
    # When the view shown was saved, while it is a cached one (None: live, or nothing yet).
    _saved_at: float | None = None
    _ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Connecting…", id="summary")
        yield StaleBanner(id="stale")
        yield Input(placeholder="filter: name, URL or ID (Enter keeps it, Esc clears)",
                    id="filter", compact=True)  # fmt: skip
        with VerticalScroll(id="body"):
            yield MembersTable(id="members")
            with Horizontal(id="lower"):
                for pane_id, title, cls in PANES:
                    pane = cls("waiting for the first refresh…", id=pane_id, classes="pane")
                    pane.border_title = title
                    pane.can_focus = True
                    yield pane
        yield KeyFooter()

    def on_resize(self, event: Resize) -> None:
        self.query_one("#lower").set_class(event.size.width < WIDE, "-narrow")

    def on_screen_resume(self, event: ScreenResume) -> None:
        # Back from a runbook, which may have rewritten the config (replace, add member).
        check = getattr(self.app, "check_config", None)
        if check is not None:
            check()

    def show(self, view: ClusterView, history: History, state: str) -> None:
        """Render a refresh. `state` says whether polling runs, is paused or backs off."""
        self._view = view
        self._live()
        self.show_state(state)
        self.query_one(MembersTable).show(view)
        for pane in self.query(Pane):
            pane.show(view, history)

    def show_cached(self, cached: CachedView) -> None:
        """Paint the cluster's last saved view, marked stale with its age, until `show`."""
        history = History()  # its own: a cached view never enters the live history
        history.add(cached.view)
        self._view, self._saved_at = cached.view, cached.saved_at
        self.query_one(StaleBanner).show_saved(cached.saved_at)
        self.show_state("")
        self.query_one(MembersTable).show(cached.view, stale=True)
        self._mark_panes(STALE_TITLE)
        for pane in self.query(Pane):
            pane.show(cached.view, history, stale=True)
        if self._ticker is None:
            self._ticker = self.set_interval(1.0, self._tick)

    @property
    def stale(self) -> bool:
        """Whether the view on screen is a cached one, not a live one."""
        return self._saved_at is not None

    def _tick(self) -> None:
        if self._saved_at is not None:
            self.query_one(StaleBanner).tick()
            self.show_state("")

    def _live(self) -> None:
        """Take the marks of a cached view away (a live view, or none, is shown now)."""
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self._saved_at is not None:
            self._saved_at = None
            self.query_one(StaleBanner).hide()
            self._mark_panes("")
            table = self.query_one(MembersTable)
            table.stale, table.border_title = False, TITLE

    def _mark_panes(self, mark: str) -> None:
        for pane_id, title, _cls in PANES:
            self.query_one(f"#{pane_id}").border_title = title + mark

    def show_state(self, state: str) -> None:
        """The summary line: verdict, when it was taken, and the polling state.

        `state` is our own markup; everything from the cluster goes in as data.
        """
        view = self._view
        summary = self.query_one("#summary", Static)
        read_only = " [b reverse $warning] READ-ONLY [/]" if self.app_read_only else ""
        if view is None:
            summary.update(Content.from_markup(f"Connecting…{read_only} {state}"))
            return
        if self._saved_at is not None:
            summary.update(stale_summary(view, self._saved_at, read_only))
            summary.set_class(False, "-unhealthy")
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(view.taken_at))
        severity = Severity.OK if view.healthy else Severity.CRITICAL
        leader = view.leader
        if view.error and not any(m.reachable for m in view.members):
            sentence = f"unreachable: {view.error}"
        else:
            sentence = f"{quorum_sentence(view)} · " + (
                f"leader {leader.name}" if leader else "NO LEADER"
            )
        # The route is part of what the user must not misread: through SSH, a badge; a node
        # read with etcdctl because it forbids forwarding, a note under it.
        badge = " [reverse] via ssh [/reverse]" if view.via == "ssh" else ""
        notes = [markup("\n[dim]note: $note[/dim]", note=note) for note in view.notes]
        summary.update(Content.assemble(
            severity_content(severity, "HEALTHY" if view.healthy else "UNHEALTHY"),
            markup(f"{read_only}{badge}  [b]$cluster[/b] · $sentence\n", cluster=view.cluster,
                   sentence=sentence),
            Content.from_markup(
                f"[dim]{stamp} · refreshed in {view.duration * 1000:.0f} ms ·[/dim] {state}"
            ),
            *notes,
        ))  # fmt: skip
        summary.set_class(not view.healthy, "-unhealthy")

    @property
    def app_read_only(self) -> bool:
        return bool(getattr(self.app, "read_only", False))

    def reset(self, message: str) -> None:
        """Forget the last cluster's data (after a switch)."""
        self._view = None
        self._live()
        self.query_one("#summary", Static).update(Content(printable(message)))
        self.query_one(MembersTable).clear()
        for pane in self.query(Pane):
            pane.update("waiting for the first refresh…")

    # --- keys ------------------------------------------------------------------------------

    def action_focus_pane(self, pane: str) -> None:
        widget = self.query_one(f"#{pane}")
        widget.focus()
        self.query_one("#body", VerticalScroll).scroll_to_widget(widget, animate=False)

    def action_filter(self) -> None:
        """`/`: type to filter the members; Enter keeps the filter, Esc clears it."""
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if not field.display and not self.query_one(MembersTable).filter_text:
            return
        field.value = ""
        field.display = False
        self.query_one(MembersTable).set_filter("")
        self.query_one(MembersTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(MembersTable).set_filter(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            table = self.query_one(MembersTable)
            if not table.filter_text:
                event.input.display = False
            table.focus()

    def action_sort(self) -> None:
        column = self.query_one(MembersTable).next_sort()
        self.notify(f"Members sorted by {column}" if column else "Members in the cluster's order",
                    timeout=2)  # fmt: skip

    def action_upgrade(self) -> None:
        if not self.app.refused("upgrade", self):  # type: ignore[attr-defined]
            self.app.launcher.upgrade()  # type: ignore[attr-defined]

    def action_keyspace(self) -> None:
        self.app.launcher.keyspace()  # type: ignore[attr-defined]

    def action_check_consistency(self) -> None:
        self.app.checks.start()  # type: ignore[attr-defined]

    def action_copy_id(self) -> None:
        """`y`: the selected member's ID (hex, as etcdctl prints it) to the clipboard (OSC 52)."""
        copy = getattr(self.app, "copy_member_id", None)
        if copy is not None:
            copy(self.query_one(MembersTable).selected_member())

    def selected_member_key(self) -> str | None:
        return self.query_one(MembersTable).selected_key()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.action_member_detail()  # type: ignore[attr-defined]
