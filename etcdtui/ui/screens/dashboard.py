"""The first screen: summary line, Members, Leader & health, DB size vs quota, Disk & network."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from etcdtui.models import ClusterView
from etcdtui.models.text import printable
from etcdtui.services.health import Level, quorum_sentence
from etcdtui.services.history import History
from etcdtui.ui.format import level_content, markup
from etcdtui.ui.widgets.members import MembersTable
from etcdtui.ui.widgets.panes import DiskPane, HealthPane, Pane, QuotaPane

WIDE = 120  # columns from which health and quota sit side by side


class DashboardScreen(Screen[None]):
    """Everything at a glance; refreshed by the app's poller."""

    AUTO_FOCUS = "#members"

    BINDINGS = [
        Binding("1", "focus_pane('members')", "Members", show=False, id="pane-members"),
        Binding("2", "focus_pane('health')", "Health", show=False, id="pane-health"),
        Binding("3", "focus_pane('quota')", "Quota", show=False, id="pane-quota"),
        Binding("4", "focus_pane('disk')", "Disk", show=False, id="pane-disk"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Connecting…", id="summary")
        with VerticalScroll(id="body"):
            table = MembersTable(id="members")
            table.border_title = "Members [1]"
            yield table
            with Horizontal(id="lower"):
                for pane_id, title, cls in (
                    ("health", "Leader & health [2]", HealthPane),
                    ("quota", "DB size vs quota [3]", QuotaPane),
                    ("disk", "Disk & network [4]", DiskPane),
                ):
                    pane = cls("waiting for the first refresh…", id=pane_id, classes="pane")
                    pane.border_title = title
                    pane.can_focus = True
                    yield pane
        yield Footer()

    def on_resize(self, event: Resize) -> None:
        self.query_one("#lower").set_class(event.size.width < WIDE, "-narrow")

    def show(self, view: ClusterView, history: History, state: str) -> None:
        """Render a refresh. `state` says whether polling runs, is paused or backs off."""
        self._view = view
        self.show_state(state)
        self.query_one(MembersTable).show(view)
        for pane in self.query(Pane):
            pane.show(view, history)

    def show_state(self, state: str) -> None:
        """The summary line: verdict, when it was taken, and the polling state.

        `state` is our own markup; everything from the cluster goes in as data.
        """
        view = getattr(self, "_view", None)
        summary = self.query_one("#summary", Static)
        if view is None:
            summary.update(Content("Connecting… ") + Content.from_markup(state))
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(view.taken_at))
        level = Level.OK if view.healthy else Level.CRIT
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
            level_content(level, "HEALTHY" if view.healthy else "UNHEALTHY"),
            markup(f"{badge}  [b]$cluster[/b] · $sentence\n", cluster=view.cluster,
                   sentence=sentence),
            Content.from_markup(
                f"[dim]{stamp} · refreshed in {view.duration * 1000:.0f} ms ·[/dim] {state}"
            ),
            *notes,
        ))  # fmt: skip
        summary.set_class(not view.healthy, "-unhealthy")

    def reset(self, message: str) -> None:
        """Forget the last cluster's data (after a switch)."""
        self._view = None
        self.query_one("#summary", Static).update(Content(printable(message)))
        self.query_one(MembersTable).clear()
        for pane in self.query(Pane):
            pane.update("waiting for the first refresh…")

    def action_focus_pane(self, pane: str) -> None:
        widget = self.query_one(f"#{pane}")
        widget.focus()
        self.query_one("#body", VerticalScroll).scroll_to_widget(widget, animate=False)

    def selected_member_key(self) -> str | None:
        return self.query_one(MembersTable).selected_key()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.action_member_detail()  # type: ignore[attr-defined]
