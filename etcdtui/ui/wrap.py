"""Long commands and paths broken for a narrow screen: at spaces, else right after a path
separator, never in the middle of a name or an ID when a separator allows it."""

from __future__ import annotations

import re

from rich.cells import cell_len
from textual.app import RenderResult
from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from etcdtui.models.text import printable

_WORDS = re.compile(r"\S+\s*")
SEPARATORS = "/,=:;&|"  # a line may break right after one of these
_MIN_PIECE = 12  # the least room worth filling with the head of a long word


def _fits(word: str, room: int) -> int:
    """How many characters of `word` fit in `room` cells."""
    fits = 0
    for index in range(len(word)):
        if cell_len(word[: index + 1]) > room:
            break
        fits = index + 1
    return fits


def _separator_cut(word: str, room: int, separators: str = SEPARATORS) -> int:
    """Right after the last separator of `word` that fits in `room` cells (0: none does);
    never inside a URL's `://`."""

    def breaks(i: int) -> bool:
        if word[i] not in separators:
            return False
        return word[i] not in "/:" or "//" not in word[max(i - 1, 0) : i + 3]

    fits = _fits(word, room)
    return max((i + 1 for i in range(fits) if breaks(i)), default=0)


def _cut(word: str, room: int) -> int:
    """Where to cut `word` to fit `room` cells: after the last separator that fits, else at
    the last character that fits (always at least one character)."""
    return _separator_cut(word, room) or max(_fits(word, room), 1)


def break_line(line: str, width: int, indent: str = "    ") -> list[str]:
    """`line` as lines of at most `width` cells, the later ones indented by `indent`."""
    width = max(width, 1)
    if cell_len(line) <= width:
        return [line]
    if cell_len(indent) * 3 > width:
        indent = ""
    lines: list[str] = []
    current = ""
    for word in _WORDS.findall(line) or [line]:
        if cell_len(current + word.rstrip()) <= width:
            current += word
            continue
        room = width - cell_len(current)
        if current.strip() and room >= _MIN_PIECE and (cut := _separator_cut(word, room, "/")):
            # A long path or URL fills the line up to a slash rather than leave it short.
            lines.append(current + word[:cut])
            current, word = indent, word[cut:]
        elif current.strip():
            lines.append(current.rstrip())
            current = indent
        while cell_len(current + word.rstrip()) > width:
            cut = _cut(word, width - cell_len(current))
            lines.append(current + word[:cut])
            current, word = indent, word[cut:]
        current += word
    if current.strip():
        lines.append(current.rstrip())
    return lines


class BrokenLines(Widget):
    """Lines of outside text (commands, paths) shown as written, each broken to the width at
    spaces or path separators (`break_line`), so an ID is never split when it need not be."""

    # As tall as its broken lines, wherever it is put (a widget's own default, not a style).
    DEFAULT_CSS = "BrokenLines { height: auto; }"

    def __init__(self, lines: list[str], *, indent: str = "    ", id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines = [printable(line) for line in lines]
        self.indent = indent

    def broken(self, width: int) -> list[str]:
        return [part for line in self.lines for part in break_line(line, width, self.indent)]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.broken(width))

    def render(self) -> RenderResult:
        return Content("\n".join(self.broken(self.content_size.width)))
