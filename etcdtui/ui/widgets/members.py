"""The Members pane: one row per member, state in words first."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from etcdtui.models import ClusterView, MemberView
from etcdtui.models.units import human_bytes
from etcdtui.services.health import quota_usage, usage_percent
from etcdtui.ui.format import plain

COLUMNS = (
    "", "NAME", "STATE", "ID", "VERSION", "TERM", "INDEX", "APPLIED", "DB SIZE", "QUOTA",
    "CLIENT URL", "PEER URL", "ERROR",
)  # fmt: skip


def member_state(view: MemberView) -> tuple[str, int]:
    """(word, level 0/1/2) for one member."""
    if view.member is not None and not view.member.started:
        return "UNSTARTED", 1
    if not view.reachable:
        return "UNREACHABLE", 2
    if not view.healthy:
        return "UNHEALTHY", 2
    if view.is_learner:
        return "learner", 1
    return "healthy", 0


def member_cells(view: MemberView) -> tuple[str, ...]:
    """The row as strings, raw as the cluster gave them (the table makes them safe Text)."""
    s = view.status
    usage = quota_usage(view)
    state, _ = member_state(view)
    error = view.problem
    member = view.member
    marker = "★" if view.is_leader else ("L" if view.is_learner else " ")
    return (
        marker,
        view.name,
        state,
        format(view.member_id, "x") if view.member_id is not None else "-",
        s.version if s else "-",
        str(s.raft_term) if s else "-",
        str(s.raft_index) if s else "-",
        str(s.applied_index) if s else "-",
        human_bytes(s.db_size) if s else "-",
        usage_percent(usage) if usage is not None else "-",
        ",".join(member.client_urls) if member and member.client_urls else (view.endpoint or "-"),
        ",".join(member.peer_urls) if member else "-",
        error,
    )


class MembersTable(DataTable[Text]):
    """Every member; Enter opens its detail."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        # Columns exist from the start: a refresh can arrive before the table is mounted.
        self.add_columns(*COLUMNS)

    def show(self, view: ClusterView) -> None:
        """Replace the rows, keeping the cursor on the same member."""
        selected = self.selected_key()
        colours = self.app.theme_variables
        styles = {0: colours.get("success", "green"), 1: colours.get("warning", "yellow"),
                  2: colours.get("error", "red")}  # fmt: skip
        self.clear()
        for member in view.members:
            # Text, never str: DataTable reads a str cell as Rich markup, and names and URLs
            # come from the cluster (`[/]` would crash it, `[fd00::1]` would vanish).
            cells = [plain(cell) for cell in member_cells(member)]
            state, level = member_state(member)
            cells[2] = Text(state, style=f"bold {styles[level]}" if level else styles[level])
            if member.is_leader:
                cells[0] = Text("★", style=f"bold {colours.get('accent', 'yellow')}")
            self.add_row(*cells, key=row_key(member))
        if selected is not None:
            keys = [k.value for k in self.rows]
            if selected in keys:
                self.move_cursor(row=keys.index(selected), animate=False)

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # an empty or shrinking table has no cursor row
            return None


def row_key(view: MemberView) -> str:
    return format(view.member_id, "x") if view.member_id is not None else view.endpoint or view.name
