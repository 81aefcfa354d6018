"""SVG snapshots of every screen, fed fixed data so pixels do not drift.

Update after a deliberate change: `.venv/bin/pytest tests/ui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import os
import time

import pytest
from textual.widgets import Input

from etcdtui.ui.samples import sample_app, sample_backups_screen, sample_runbook_screen
from tests.helpers.dashboard import settle

os.environ["TZ"] = "UTC"  # the summary shows the refresh time
time.tzset()


@pytest.mark.parametrize("scenario", ["healthy", "frozen-member", "nospace"])
def test_dashboard_snapshot(snap_compare, scenario: str) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(sample_app(scenario), terminal_size=(160, 45), run_before=settle)


def test_dashboard_at_80x24_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(sample_app("healthy"), terminal_size=(80, 24), run_before=settle)


def test_member_detail_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_detail(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await pilot.pause()

    assert snap_compare(sample_app("healthy"), terminal_size=(100, 45), run_before=open_detail)


def test_help_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_help(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(sample_app("healthy"), terminal_size=(100, 40), run_before=open_help)


def test_read_only_snapshot_has_no_changing_actions(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = sample_app("healthy", read_only=True)
    assert snap_compare(app, terminal_size=(120, 30), run_before=settle)


def test_defrag_runbook_plan_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_plan(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.app.push_screen(sample_runbook_screen())
        await pilot.app.workers.wait_for_complete()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor is on or off by the clock: steady
        await pilot.pause()

    assert snap_compare(sample_app("healthy"), terminal_size=(130, 42), run_before=open_plan)


def test_dashboard_via_ssh_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = sample_app("healthy", via_ssh=True)
    assert snap_compare(app, terminal_size=(160, 45), run_before=settle)


def test_backups_catalogue_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_backups(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.app.push_screen(sample_backups_screen())
        await pilot.pause()

    assert snap_compare(sample_app("healthy"), terminal_size=(120, 24), run_before=open_backups)
