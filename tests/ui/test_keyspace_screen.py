"""The Keyspace screen on the sample app: the newest catalogue snapshot as a table with bars,
and `K` opening it from the dashboard (once the action table has the keyspace entries)."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import DataTable, Static

from etcdtui.ui.samples import sample_app, sample_connection
from etcdtui.ui.screens.keyspace import KeyspaceScreen

SMALL = Path(__file__).parent.parent / "data" / "etcd-3.5.1-small.snapshot.db"


async def test_keyspace_screen_shows_the_newest_snapshot_with_bars(tmp_path: Path) -> None:
    shutil.copy(SMALL, tmp_path / "lab-20260101-000000.db")
    app = sample_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = KeyspaceScreen(sample_connection(), tmp_path)
        await app.push_screen(screen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = screen.query_one("#keyspace", DataTable)
        assert table.row_count == 1
        cells = [str(c) for c in table.get_row_at(0)]
        assert cells[:4] == ["/", "2", "18 B", "100.0%"] and cells[4].startswith("█")
        summary = str(screen.query_one("#keyspace-summary", Static).render())
        assert "revision 6" in summary
        assert not screen.check_action("scan_live", ())  # no cluster client given


async def test_keyspace_screen_says_why_when_the_catalogue_is_empty(tmp_path: Path) -> None:
    app = sample_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = KeyspaceScreen(sample_connection(), tmp_path)
        await app.push_screen(screen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(screen.query_one("#keyspace-status", Static).render())
        assert "no snapshot in" in status


async def test_capital_k_opens_the_keyspace_screen() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("K")
        await pilot.pause()
        assert isinstance(app.screen, KeyspaceScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, KeyspaceScreen)
