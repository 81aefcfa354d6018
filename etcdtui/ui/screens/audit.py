"""The audit log's recent entries: what was run, where, by whom, and how it ended."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from etcdtui.runbooks.audit import AuditLog
from etcdtui.ui.format import markup, plain


class AuditScreen(Screen[None]):
    """Newest first."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="audit-back")]

    def __init__(self, audit: AuditLog) -> None:
        super().__init__()
        self.audit = audit

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(markup("Audit log: $path", path=self.audit.path), id="audit-path")
        # Text cells, never markup: commands, targets and users come from outside.
        table: DataTable[Text] = DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        table.add_columns("TIME", "USER", "CLUSTER", "RUNBOOK", "STEP", "TARGET", "EXIT",
                          "SECONDS", "COMMAND")  # fmt: skip
        yield table
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#audit", DataTable)
        entries = self.audit.recent(200)
        for entry in reversed(entries):
            cells = (entry.time, entry.user, entry.cluster, entry.runbook,
                     f"{entry.step} {entry.step_id}", entry.target,
                     str(entry.exit_code), f"{entry.duration:.1f}", entry.command)  # fmt: skip
            table.add_row(*(plain(str(cell)) for cell in cells))
        if not entries:
            self.query_one("#audit-path", Static).update(
                markup("Audit log: $path: no entry yet", path=self.audit.path)
            )
