"""The TUI driven like a person would, against real lab clusters."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Static

from etcdtui.config import from_flags
from etcdtui.lab import LabInfo
from etcdtui.services import samples
from etcdtui.ui.actions import palette_entries
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.samples import sample_app, sample_connection
from etcdtui.ui.screens.backups import BackupsScreen
from etcdtui.ui.screens.dashboard import DashboardScreen
from etcdtui.ui.widgets.footer import KeyFooter
from tests.helpers.dashboard import HeldSource, first_refresh, rows, screen_text, settle
from tests.helpers.labs import connection_of
from tests.helpers.terminal import plain_screen


async def test_members_appear_with_the_leader_marked(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60)
    async with app.run_test(size=(120, 30)) as pilot:
        await first_refresh(app, pilot)
        shown = rows(app)
        assert sorted(shown) == ["node1", "node2", "node3"]
        assert [cells[0] for cells in shown.values()].count("★") == 1
        assert all(cells[2] == "healthy" for cells in shown.values())
        summary = str(app.query_one("#summary", Static).render())
        assert summary.startswith("HEALTHY") and "leader node" in summary


async def test_pause_stops_polling_and_says_so(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=0.1)
    async with app.run_test(size=(120, 30)) as pilot:
        while app.polls < 2:
            await pilot.pause(0.05)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        paused_at = app.polls
        await pilot.pause(0.5)
        assert app.polls == paused_at
        assert "PAUSED" in str(app.query_one("#summary", Static).render())
        await pilot.press("p")
        while app.polls == paused_at:
            await pilot.pause(0.05)
        assert "PAUSED" not in str(app.query_one("#summary", Static).render())


async def test_unreachable_cluster_is_shown_as_such() -> None:
    app = EtcdtuiApp(from_flags("127.0.0.1:1", timeout=0.5), refresh=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await first_refresh(app, pilot)
        assert "unreachable" in str(app.query_one("#summary", Static).render())
        assert rows(app)["http://127.0.0.1:1"][2] == "UNREACHABLE"


async def test_read_only_hides_every_changing_action(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60, read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await first_refresh(app, pilot)
        shown_keys = {b.key for b, _, _ in app.screen.query_one(KeyFooter).shown()}
        assert not {"d", "a", "n"} & shown_keys and {"r", "s"} <= shown_keys  # backups: a read
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)  # no runbook screen opened
        palette = [entry.name for entry, _ in palette_entries(app.screen)]
        assert not any(t.startswith(("Defragment", "NOSPACE", "Add a member")) for t in palette)
        assert any("read-only" in n.message for n in app._notifications)  # d said why
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert "s" in shown and not {"R", "C", "B"} & shown  # saving yes, restoring no
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)


async def test_s_opens_the_backups_screen(plain_lab: LabInfo, tmp_path: Path) -> None:
    connection = replace(connection_of(plain_lab), snapshot_dir=str(tmp_path))
    app = EtcdtuiApp(connection, refresh=60)
    async with app.run_test(size=(120, 30)) as pilot:
        await first_refresh(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert str(tmp_path) in str(app.screen.query_one("#backups-summary", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_enter_opens_member_detail_with_its_node(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60)
    async with app.run_test(size=(120, 50)) as pilot:
        await first_refresh(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        text = str(app.screen.query_one("#detail", Static).render())
        name = text.split()[0]
        node = next(n for n in plain_lab.nodes if n.name == name)
        assert f"127.0.0.1:{node.ssh_port}" in text and "Profile         lab" in text
        assert "Applied index" in text and "bytes)" in text
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert "DB size vs quota" in str(app.screen.query_one("Markdown").source)  # type: ignore[attr-defined]


async def test_backoff_when_no_member_answers() -> None:
    app = EtcdtuiApp(from_flags("127.0.0.1:1", timeout=0.2), refresh=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        while app.polls < 3:
            await pilot.pause(0.05)
        assert app.poller.failures >= 3
        assert app.poller.next_delay() >= 0.1 * 2**3
        assert "retrying in" in str(app.query_one("#summary", Static).render())
        app.poller.failures = 5000  # hours of an unreachable cluster: the pause stays capped
        assert app.poller.next_delay() == 30.0


async def test_the_members_header_stays_over_its_columns() -> None:
    view = samples.healthy()
    source = HeldSource(view)
    app = EtcdtuiApp(sample_connection(), refresh=3600, source=source)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        dashboard = app.dashboard
        assert dashboard is not None
        dashboard.show(view, app.history, "")
        # A frame drawn before the table has measured its new rows (a busy start does that).
        plain_screen(app)
        await pilot.pause()
        lines = plain_screen(app).splitlines()
        source.release()
    header = next(line for line in lines if " NAME " in line and " STATE " in line)
    row = next(line for line in lines if "healthy" in line)
    assert header.index("STATE") == row.index("healthy"), f"\n{header}\n{row}"
    assert header.index("VERSION") == row.index("3.5"), f"\n{header}\n{row}"


def _quota_bar(app: EtcdtuiApp) -> int:
    """The width of node1's bar in the DB size pane, as drawn now."""
    line = next(line for line in screen_text(app, "#quota").splitlines() if "node1" in line)
    name, bar = line.split()[:2]
    assert name == "node1" and set(bar) <= set("█░│"), line
    return len(bar)


async def _fresh_bar(size: tuple[int, int]) -> int:
    app = sample_app("healthy")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        return _quota_bar(app)


async def test_the_quota_bars_follow_the_panes_width() -> None:
    wide, narrow = await _fresh_bar((160, 45)), await _fresh_bar((100, 45))
    assert wide != narrow, "the two sizes must give two widths for this test to mean anything"
    app = sample_app("healthy")  # never polls again: only the resize can redraw the bars
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert _quota_bar(app) == wide
        await pilot.resize_terminal(100, 45)
        await pilot.pause()
        assert _quota_bar(app) == narrow
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        assert _quota_bar(app) == wide
