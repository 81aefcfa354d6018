"""The Members pane: one row per member, state in words first; filtered with `/`, sorted by
any column with `S` or a click on its header."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.content import Content
from textual.widgets import DataTable

from etcdtui.models import ClusterView, MemberView
from etcdtui.models.severity import Severity
from etcdtui.models.units import human_bytes
from etcdtui.services.health import quota_usage, usage_percent
from etcdtui.ui.format import markup, plain

COLUMNS = (
    "", "NAME", "STATE", "ID", "VERSION", "TERM", "INDEX", "APPLIED", "DB SIZE", "QUOTA",
    "CLIENT URL", "PEER URL", "ERROR",
)  # fmt: skip
TITLE = "Members [1]"


def member_state(view: MemberView) -> tuple[str, Severity]:
    """(word, severity) for one member."""
    if view.member is not None and not view.member.started:
        return "UNSTARTED", Severity.WARN
    if not view.reachable:
        return "UNREACHABLE", Severity.CRITICAL
    if not view.healthy:
        return "UNHEALTHY", Severity.CRITICAL
    if view.is_learner:
        return "learner", Severity.WARN
    return "healthy", Severity.OK


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


# Numbers sort as numbers (a missing one last), the state worst first, the rest as text.
_NUMERIC: dict[str, Callable[[MemberView], float | None]] = {
    "TERM": lambda m: m.status.raft_term if m.status else None,
    "INDEX": lambda m: m.status.raft_index if m.status else None,
    "APPLIED": lambda m: m.status.applied_index if m.status else None,
    "DB SIZE": lambda m: m.status.db_size if m.status else None,
    "QUOTA": quota_usage,
}


def sort_key(column: str) -> Callable[[MemberView], tuple[int, float | str]]:
    """How rows sort by `column`: numbers as numbers, STATE worst first, unknowns last."""
    if column in _NUMERIC:
        value = _NUMERIC[column]

        def numeric(m: MemberView) -> tuple[int, float | str]:
            v = value(m)
            return (1, 0.0) if v is None else (0, float(v))

        return numeric
    if column == "STATE":
        return lambda m: (0, -member_state(m)[1].rank)
    index = COLUMNS.index(column)
    return lambda m: (0, member_cells(m)[index].lower())


def matches(member: MemberView, needle: str) -> bool:
    """The `/` filter: a substring of the name, a URL or the ID (hex), any case."""
    if not needle:
        return True
    cells = member_cells(member)
    haystack = (member.name, cells[3], cells[10], cells[11], member.endpoint)
    return any(needle.lower() in text.lower() for text in haystack)


class MembersTable(DataTable[Text]):
    """Every member (or those the filter keeps); double click or Enter opens its detail."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        # Columns exist from the start: a refresh can arrive before the table is mounted.
        self.add_columns(*COLUMNS)
        self.filter_text = ""
        self.sort_column = ""  # "" keeps the cluster's order
        self.sort_reverse = False
        self._view: ClusterView | None = None
        self.stale = False  # the rows are a cached view's, not a live one's
        self.border_title = TITLE

    def show(self, view: ClusterView, stale: bool = False) -> None:
        """Replace the rows, keeping the cursor on the same member. `stale`: a cached view,
        drawn dim and without the states' colours, the title saying so."""
        self._view, self.stale = view, stale
        selected = self.selected_key()
        colours = self.app.theme_variables
        styles = {Severity.OK: colours.get("success", "green"),
                  Severity.WARN: colours.get("warning", "yellow"),
                  Severity.CRITICAL: colours.get("error", "red")}  # fmt: skip
        if stale:
            styles = dict.fromkeys(styles, "dim")
        members = [m for m in view.members if matches(m, self.filter_text)]
        if self.sort_column:
            members.sort(key=sort_key(self.sort_column), reverse=self.sort_reverse)
        self.clear()
        for member in members:
            # Text, never str: DataTable reads a str cell as Rich markup, and names and URLs
            # come from the cluster (`[/]` would crash it, `[fd00::1]` would vanish).
            cells = [plain(cell, "dim" if stale else "") for cell in member_cells(member)]
            state, severity = member_state(member)
            style = styles[severity] if severity is Severity.OK else f"bold {styles[severity]}"
            cells[2] = Text(state, style=style)
            if member.is_leader and not stale:
                cells[0] = Text("★", style=f"bold {colours.get('accent', 'yellow')}")
            self.add_row(*cells, key=row_key(member))
        if selected is not None:
            keys = [k.value for k in self.rows]
            if selected in keys:
                self.move_cursor(row=keys.index(selected), animate=False)
        self._title(len(members), len(view.members))

    def _title(self, shown: int, total: int) -> None:
        title = Content(TITLE)
        if self.stale:
            title += Content.styled(" · CACHED, not live", "bold $warning")
        if self.sort_column:
            arrow = "▼" if self.sort_reverse else "▲"
            title += Content(f" · sorted by {self.sort_column} {arrow}")
        if self.filter_text:
            # What the user typed is data: never markup.
            title += markup(" · filter $text: $shown of $total", text=repr(self.filter_text),
                            shown=shown, total=total)  # fmt: skip
        self.border_title = title

    def redraw(self) -> None:
        """Show the last refresh again (after the filter or the sort changed)."""
        if self._view is not None:
            self.show(self._view, self.stale)
        else:
            self._title(0, 0)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.redraw()

    def next_sort(self) -> str:
        """Sort by the next column (after the last: the cluster's order again)."""
        names = [c for c in COLUMNS if c]
        if not self.sort_column:
            self.sort_column = names[0]
        else:
            following = names.index(self.sort_column) + 1
            self.sort_column = names[following] if following < len(names) else ""
        self.sort_reverse = False
        self.redraw()
        return self.sort_column

    def sort_by(self, column: str) -> None:
        """A click on a header: sort by it, or reverse when it sorts already."""
        if not column:
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self.redraw()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.label.plain))

    def on_idle(self) -> None:
        # Runs before DataTable's own idle handler, which measures the new rows' columns but
        # keeps the lines drawn before at the old widths (Textual 8.2.8): the header then sits
        # askew over the rows until something else redraws it. Dropped now, every line is
        # drawn again at the new widths.
        if self._require_update_dimensions:
            self.notify_style_update()

    async def _on_click(self, event: events.Click) -> None:
        # A click selects a row; a double click opens it (DataTable opens on a second click on
        # the cursor's cell, which a person meaning to select it does too).
        row = event.style.meta.get("row")
        if row is None or row < 0:
            return  # a header: DataTable's own handler sorts it (HeaderSelected)
        event.prevent_default()
        event.stop()
        if row < self.row_count:
            self.move_cursor(row=row, animate=False)
            if event.chain >= 2:
                self.action_select_cursor()

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # an empty or shrinking table has no cursor row
            return None

    def selected_member(self) -> MemberView | None:
        key = self.selected_key()
        if key is None or self._view is None:
            return None
        return next((m for m in self._view.members if row_key(m) == key), None)


def row_key(view: MemberView) -> str:
    return format(view.member_id, "x") if view.member_id is not None else view.endpoint or view.name
