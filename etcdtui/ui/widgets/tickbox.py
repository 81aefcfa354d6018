"""A checkbox that reads `[x]` when ticked and `[ ]` when not, so it reads right without
colour (NO_COLOR, a monochrome terminal): Textual's own shows an X either way."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class TickBox(Checkbox):
    """`[x] label` or `[ ] label`; the theme's colours come on top, never alone."""

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble("[", ("x" if self.value else " ", style), "]")
