"""Numbers as etcdctl prints them."""

from __future__ import annotations

import math

_SIZES = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(size: int | float | None) -> str:
    """Decimal sizes exactly as etcdctl prints them (go-humanize's Bytes): 20 kB, 2.1 GB."""
    if size is None:
        return "-"
    if size < 10:
        return f"{int(size)} B"
    exponent = min(math.floor(math.log(size) / math.log(1000)), len(_SIZES) - 1)
    value = math.floor(size / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {_SIZES[exponent]}" if value < 10 else f"{value:.0f} {_SIZES[exponent]}"


def human_seconds(seconds: float | None) -> str:
    """A latency in the unit a person reads best: 0.8 ms, 12 ms, 1.2 s."""
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s"


def human_age(seconds: float) -> str:
    """How long ago, coarse: 45 s, 12 min, 5 h 20 min, 3 d 4 h."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
