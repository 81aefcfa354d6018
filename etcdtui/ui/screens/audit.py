"""The audit log's recent steps: what was run, where, by whom, when it began and ended, and
how; Enter shows one step whole, with its output.

Each step is one row: its "started" record and its result are paired (`step_rows`). A step
with no result reads "running" or "interrupted", never as the -1 the "started" record holds.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Static

from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog, AuditLogError
from etcdtui.runbooks.audit_rows import StepRow, step_rows
from etcdtui.ui.actions import Where, bindings_for
from etcdtui.ui.format import markup, plain
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.widgets.footer import KeyFooter
from etcdtui.ui.wrap import BrokenLines

RECENT = 400  # records read: about 200 steps


def short_time(stamp: str, with_date: bool = True) -> str:
    """`2025-11-24T16:00:00.123Z` as `11-24 16:00:00` (or `16:00:00`), UTC as recorded."""
    if len(stamp) < 19 or stamp[10] != "T":
        return stamp
    return f"{stamp[5:10]} {stamp[11:19]}" if with_date else stamp[11:19]


def _end(row: StepRow) -> str:
    ended = row.ended_at
    if not ended:
        return "—"
    return short_time(ended, with_date=ended[:10] != row.started_at[:10])


class AuditScreen(Screen[None]):
    """Newest first; Enter opens the selected step."""

    CSS_PATH = str(styles_dir() / "runbook.tcss")
    BINDINGS = bindings_for(Where.AUDIT)

    def __init__(self, audit: AuditLog) -> None:
        super().__init__()
        self.audit = audit
        self.rows: list[StepRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(markup("Audit log: $path", path=self.audit.path), id="audit-path")
        # Text cells, never markup: commands, targets and users come from outside.
        table: DataTable[Text] = DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        # At 80 columns: when, which cluster, how it ended and which step come first.
        table.add_columns("START (UTC)", "END", "CLUSTER", "RESULT", "STEP", "TARGET", "RUNBOOK",
                          "USER", "COMMAND")  # fmt: skip
        yield table
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#audit", DataTable)
        try:
            entries = self.audit.recent(RECENT)
        except AuditLogError as exc:
            self.query_one("#audit-path", Static).update(
                markup("[b $error]Cannot read the audit log:[/] $why", why=exc.message)
            )
            return
        self.rows = step_rows(entries)
        for index in range(len(self.rows) - 1, -1, -1):  # newest first
            row = self.rows[index]
            first, last = row.first, row.last
            step = "plan" if row.state == "plan" else f"{first.step} {first.step_id}"
            cells = (
                short_time(row.started_at), _end(row), first.cluster, row.state, step,
                first.target, first.runbook, first.user, last.command,
            )  # fmt: skip
            table.add_row(*(plain(str(cell)) for cell in cells), key=str(index))
        if not entries:
            self.query_one("#audit-path", Static).update(
                markup("Audit log: $path: no entry yet", path=self.audit.path)
            )
        else:
            self.query_one("#audit-path", Static).update(markup(
                "Audit log: $path · $count steps, newest first · Enter shows one",
                path=self.audit.path, count=len(self.rows),
            ))  # fmt: skip

    def action_open_step(self) -> None:
        table = self.query_one("#audit", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.app.push_screen(AuditStepScreen(self.rows[int(str(key))]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_step()  # a click, or Enter where the table takes it first


class AuditStepScreen(ModalScreen[None]):
    """One step of the audit log, whole: who, where, when, the command, the output's tail."""

    CSS_PATH = str(styles_dir() / "runbook.tcss")
    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="audit-step-close")]

    def __init__(self, row: StepRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        row, first, last = self.row, self.row.first, self.row.last
        took = f"{row.duration:.1f} s" if row.duration is not None else "—"
        fields = [
            ("result", row.state),
            ("started", first.time),
            ("ended", row.ended_at or "—"),
            ("took", took),
            ("cluster", first.cluster),
            ("runbook", first.runbook),
            ("run", first.run_id),
            ("step", f"{first.step} {first.step_id}"),
            ("target", first.target),
            ("by", f"{first.user}@{first.host}"),
            ("command", last.command),
        ]
        if last.note and last.note != "started":
            fields.append(("note", last.note))
        lines = [f"{name:>8}  {printable(value)}" for name, value in fields]
        output = printable(last.output_tail, newlines=True) or "(no output recorded)"
        with Vertical(id="audit-step"):
            yield Static(Content.styled("Audit log: one step", "bold"), id="audit-step-title")
            with VerticalScroll(id="audit-step-body"):
                # Long values (a command) continue under their value, not under the names.
                yield BrokenLines(lines, indent=" " * 10, id="audit-step-fields")
                yield Static(Content.styled("output (its end)", "bold"))
                yield Static(Content(output), id="audit-step-output")
            yield Static("Esc closes", id="audit-step-hint")

    def action_close(self) -> None:
        self.dismiss(None)
