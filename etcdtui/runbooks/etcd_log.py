"""Why etcd failed on a node, in one line, from the end of its log.

A node-side step that fails (etcd exits at once on a taken port, a full disk, a wrong flag)
hands back the end of etcd's log: with the zap logger (etcd 3.5, and 3.4 with
`--logger=zap`), one JSON object per line; with 3.4's default capnslog, lines such as
`2024-01-02 03:04:05.678901 C | etcdmain: listen tcp ...: bind: address already in use`. The
cause is the last line at level error, fatal or panic (C, E or F for capnslog), as
"<msg>: <error>"; the raw output follows it, folded below.
"""

from __future__ import annotations

import json
import re

_LEVELS = frozenset({"error", "dpanic", "panic", "fatal"})
# capnslog: date time LEVEL | package: message. C critical, E error, F fatal (P panic).
_CAPNSLOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? ([CEFP]) \| (.*)$")
MAX_CAUSE = 300  # characters: a cause is one line to read, not a dump
_PANIC = "panic: "  # Go's own line before a stack trace


def _zap_cause(line: str) -> str:
    try:
        entry = json.loads(line)
    except ValueError:
        return ""
    if not isinstance(entry, dict) or str(entry.get("level", "")).lower() not in _LEVELS:
        return ""
    msg = str(entry.get("msg", "")).strip()
    error = str(entry.get("error", "")).strip()
    if msg and error and error not in msg:
        return f"{msg}: {error}"
    return error or msg


def _one_line(cause: str) -> str:
    cause = " ".join(cause.split())  # one line, whatever the log held
    return cause if len(cause) <= MAX_CAUSE else cause[: MAX_CAUSE - 1] + "…"


def failure_cause(output: str) -> str:
    """The last error, fatal or panic line of etcd's log in `output`, in one line ("" when
    there is none); else the message of a Go panic (`panic: ...`, before its stack trace)."""
    lines = [raw.strip() for raw in output.splitlines()]
    for line in reversed(lines):
        # The service's own words may prefix the log line ("...: {json}"): start at the brace.
        brace = line.find("{")
        cause = _zap_cause(line[brace:]) if brace >= 0 else ""
        if not cause and (match := _CAPNSLOG.match(line)):
            cause = match.group(2).strip()
        if cause:
            return _one_line(cause)
    panics = [line.removeprefix(_PANIC) for line in lines if line.startswith(_PANIC)]
    return _one_line(panics[-1]) if panics and panics[-1].strip() else ""


def with_cause(output: str) -> str:
    """`output` with etcd's failure cause as its first line (unchanged when it names none, or
    when its first line already says it)."""
    cause = failure_cause(output)
    if not cause or output.splitlines()[0].strip() == cause:
        return output
    return f"{cause}\n{output}"
