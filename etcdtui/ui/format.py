"""Small text builders shared by the panes: severities as words and colour, bars, sparklines,
and outside text (names, URLs, errors) put on screen as data, never as markup."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from etcdtui.models.severity import Severity
from etcdtui.models.text import printable
from etcdtui.services.health import QUOTA_CRIT, QUOTA_WARN

_SEVERITY_VAR = {Severity.OK: "$success", Severity.WARN: "$warning", Severity.CRITICAL: "$error"}
_BLOCKS = "▁▂▃▄▅▆▇█"
NEWLINE = Content("\n")


def severity_var(severity: Severity) -> str:
    """The theme variable of a severity's colour: $success, $warning or $error."""
    return _SEVERITY_VAR[severity]


def severity_style(severity: Severity) -> str:
    """The Textual style of a severity: its theme colour, bold unless it is ok."""
    var = severity_var(severity)
    return var if severity is Severity.OK else f"bold {var}"


def severity_markup(severity: Severity, text: str | None = None) -> str:
    """The severity's word (or `text`) in its theme colour: never colour alone."""
    word = text if text is not None else severity.word
    return f"[{severity_style(severity)}]{escape(word)}[/]"


def severity_content(severity: Severity, text: str | None = None) -> Content:
    """`severity_markup` as Content: `text` (outside text welcome) is shown as written."""
    word = text if text is not None else severity.word
    return Content.styled(printable(word), severity_style(severity))


def escape(text: str) -> str:
    """Outside text for a Textual markup string: control characters visible, `[` literal.

    Prefer `markup(template, name=value)`: a value ending in a backslash written right before
    a closing tag (`[b]{escape(x)}[/b]`) still escapes that tag, and no markup escape avoids
    that in Textual. For Textual markup only: a DataTable's str cell is *Rich* markup, which
    reads `\\[` differently (`a\\[b]x` would lose `\\[b]`); give tables `plain(value)`.
    """
    return printable(text).replace("[", r"\[")


def markup(template: str, /, *, keep_newlines: bool = False, **values: object) -> Content:
    """Our own markup with outside values put in as data: `markup("[b]$name[/b]", name=x)`.

    Textual substitutes `$name` after parsing the tags, so a value is never read as markup;
    `printable` makes its control characters visible, line breaks too unless `keep_newlines`
    (for a multi-line error). Write `$$` for a literal dollar.
    """
    safe = {k: printable(str(v), newlines=keep_newlines) for k, v in values.items()}
    return Content.from_markup(template, **safe)


def plain(text: str, style: str = "") -> Text:
    """Outside text as a Rich Text (a table cell, a log line): never markup, no control chars."""
    return Text(printable(text), style=style)


def quota_bar(usage: float | None, width: int = 20) -> str:
    """A bar with the warning (80%) and critical (95%) marks drawn into it."""
    if usage is None:
        return "·" * width
    filled = min(round(usage * width), width)
    marks = {round(QUOTA_WARN * width) - 1, round(QUOTA_CRIT * width) - 1}
    cells = []
    for i in range(width):
        if i < filled:
            cells.append("█")
        else:
            cells.append("│" if i in marks else "░")
    return "".join(cells)


def sparkline(values: list[float], width: int = 16) -> str:
    """Unicode blocks for the last `width` values, scaled between their min and max."""
    if not values:
        return ""
    values = values[-width:]
    low, high = min(values), max(values)
    if high == low:
        return _BLOCKS[0] * len(values)
    span = high - low
    return "".join(
        _BLOCKS[min(int((v - low) / span * len(_BLOCKS)), len(_BLOCKS) - 1)] for v in values
    )
