"""Reading what etcdctl prints: Go durations, its last line, and its error line and cause."""

from __future__ import annotations

import json
import re

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|μs|ns)")
_GO_UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}


def seconds(duration: str) -> float:
    """A Go duration as etcdctl prints it ("3.5ms", "1m2.5s", "850µs") in seconds."""
    parts = _GO_DURATION.findall(duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def error_line(stderr: str) -> tuple[str, str]:
    """(etcdctl's error line, the innermost cause in its JSON log lines) from its stderr.

    etcdctl logs retries as JSON lines before the line that says what failed (``Error: ...``,
    or ``Failed to ... (...)`` for per-endpoint commands); after a deadline only the log has
    the reason (``connection refused``, a certificate problem).
    """
    plain: list[str] = []
    cause = ""
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line:
            continue
        try:
            record = json.loads(line) if line.startswith("{") else None
        except ValueError:
            record = None
        if isinstance(record, dict):
            text = str(record.get("error") or record.get("msg") or "")
            # "rpc error: code = X desc = latest balancer error: ... desc = \"transport: ...\""
            text = text.rsplit("desc = ", 1)[-1].strip('" ')
            text = text.removeprefix("latest balancer error: ").removeprefix("transport: ")
            cause = text.removeprefix("Error while dialing ") or cause
        else:
            plain.append(line)
    errors = [line for line in plain if line.startswith("Error:")]
    return (errors[-1] if errors else plain[-1] if plain else ""), cause
