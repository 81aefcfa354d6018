"""A runbook's live output: every line wrapped to the log's width, none cut.

Textual's RichLog renders each line once, at least `min_width` (78) cells wide, and crops it
to the view: on an 80-column screen, inside a border and beside a scrollbar, the last cells
of every long line were lost ("endpoint" became "endpo"). Here lines are wrapped to the width
the log really has, and wrapped again when that width changes.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog


class RunLog(RichLog):
    """Append-only lines (Rich Text, never markup), wrapped to the view, rewrapped on resize."""

    def __init__(self, *, max_lines: int = 2000, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, min_width=1, max_lines=max_lines)
        self._texts: deque[Text] = deque(maxlen=max_lines)
        self._wrapped_at = 0

    def add(self, text: Text) -> None:
        """Append one line (wrapped, never cut)."""
        self._texts.append(text)
        self.write(text)

    @property
    def plain_lines(self) -> list[str]:
        """What was added, one string per added line (for tests and copies)."""
        return [text.plain for text in self._texts]

    def on_resize(self, event: Resize) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._wrapped_at and self._texts:
            self._wrapped_at = width
            self.clear()
            for text in list(self._texts):
                self.write(text)
