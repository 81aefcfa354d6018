"""What a Textual app would write to a real terminal, and a check that only Textual wrote it."""

from __future__ import annotations

import io
import re

from rich.console import Console
from textual.app import App

# What Textual itself writes in a frame: colours and styles (SGR), and cursor moves.
OWN_SEQUENCES = re.compile(r"\x1b\[[0-9;:]*m|\x1b\[\d+;\d+H|\x1b\[\d*[ABCDG]")


def frame(app: App[object]) -> str:
    """Exactly what the driver would write to the terminal to draw the whole screen now."""
    update = app.screen._compositor.render_update(full=True)
    assert update is not None
    return update.render_segments(app.console)  # type: ignore[union-attr]


def plain_screen(app: App[object]) -> str:
    """The whole screen as plain text, drawn now (as a person reads it)."""
    width, height = app.size
    console = Console(width=width, height=height, record=True, file=io.StringIO(),
                      color_system=None, legacy_windows=False)  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def assert_no_foreign_codes(text: str) -> None:
    """Only Textual's own colour and cursor sequences: no OSC, no clear screen, no BEL."""
    leftover = OWN_SEQUENCES.sub("", text)
    if "\x1b" in leftover:
        at = leftover.index("\x1b")
        raise AssertionError(f"a foreign escape sequence: {leftover[max(0, at - 20) : at + 20]!r}")
    assert "\x07" not in text and "\u202e" not in text and "\x9b" not in text
