"""Small text builders shared by the panes: levels as words and colour, bars, sparklines."""

from __future__ import annotations

from etcdtui.services.health import QUOTA_CRIT, QUOTA_WARN, Level

_LEVEL_VAR = {Level.OK: "$success", Level.WARN: "$warning", Level.CRIT: "$error"}
_BLOCKS = "▁▂▃▄▅▆▇█"


def level_markup(level: Level, text: str | None = None) -> str:
    """The level's word (or `text`) in the level's theme colour: never colour alone."""
    word = text if text is not None else level.word
    bold = "bold " if level else ""
    return f"[{bold}{_LEVEL_VAR[level]}]{escape(word)}[/]"


def escape(text: str) -> str:
    return text.replace("[", r"\[")


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
