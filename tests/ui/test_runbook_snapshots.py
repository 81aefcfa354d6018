"""SVG snapshots of the runbook confirmations at 80x24, fed fixed plans (the defrag's with its
compaction, the restore's of three static-pod nodes), over an empty app so that nothing but
the dialog can move a pixel.

Update after a deliberate change:
`.venv/bin/pytest tests/ui/test_runbook_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Input, Static

from etcdtui.ui.runbook_samples import sample_defrag_confirmation, sample_restore_confirmation


class Backdrop(App[None]):
    """An app with nothing on it but the dialog it is given."""

    def __init__(self, dialog: Callable[[], Screen[bool]]) -> None:
        super().__init__()
        self.dialog = dialog

    def compose(self) -> ComposeResult:
        yield Static("")

    def on_mount(self) -> None:
        self.push_screen(self.dialog())


@pytest.mark.parametrize(
    "dialog",
    [sample_defrag_confirmation, sample_restore_confirmation],
    ids=["defrag", "restore"],
)
def test_confirmation_at_80x24_snapshot(snap_compare, dialog) -> None:  # type: ignore[no-untyped-def]
    async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor is on or off by the clock: steady
        await pilot.pause()

    assert snap_compare(Backdrop(dialog), terminal_size=(80, 24), run_before=settle)
