"""Reading the dashboard as a person would: the members table, row by row."""

from __future__ import annotations

from textual.widgets import DataTable

from etcdtui.ui.app import EtcdtuiApp


def rows(app: EtcdtuiApp) -> dict[str, list[str]]:
    table = app.query_one("#members", DataTable)
    result = {}
    for key in table.rows:
        cells = [str(c) for c in table.get_row(key)]
        result[cells[1]] = cells
    return result
