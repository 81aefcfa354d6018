"""The keyspace report as JSON (for scripts) and as a plain-text table (for a terminal).

JSON: {"source", "mode", "revision", "groups": [{"prefix", "keys", "bytes", ...}], "total",
...}. Groups are sorted by bytes, then keys; the history fields (history_revisions,
history_bytes, tombstones, share, leased_keys) are present in snapshot mode only.
"""

from __future__ import annotations

import json
from typing import Any

from etcdtui.models.text import printable
from etcdtui.models.units import human_bytes
from etcdtui.services.keyspace import GroupRow, KeyspaceReport

BAR_WIDTH = 20


def _row_json(row: GroupRow, snapshot: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"prefix": row.prefix, "keys": row.keys, "bytes": row.bytes}
    if snapshot:
        out |= {
            "history_revisions": row.history_revisions,
            "history_bytes": row.history_bytes,
            "tombstones": row.tombstones,
            "share": round(row.share or 0.0, 6),
            "leased_keys": row.leased_keys,
        }
    return out


def report_json(report: KeyspaceReport, top: int | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict; `top` keeps the biggest groups only (totals stay)."""
    snapshot = report.snapshot is not None
    rows = report.top(top)
    out: dict[str, Any] = {
        "source": report.source,
        "mode": report.mode,
        "revision": report.revision,
        "prefix": report.prefix,
        "groups": [_row_json(r, snapshot) for r in rows],
        "groups_not_shown": len(report.groups) - len(rows),
        "total": {k: v for k, v in _row_json(report.total, snapshot).items() if k != "prefix"},
    }
    if report.snapshot is not None:
        snap = report.snapshot
        out["file_size"], out["db_size"] = snap.file_size, snap.db_size
        out["leases"] = {
            "count": snap.leases,
            "keys_attached": snap.leased_keys,
            "without_keys": snap.leases_without_keys,
        }
    if report.live is not None:
        live = report.live
        out["live"] = {
            "endpoint": live.endpoint,
            "rate_limit_keys_per_second": live.rate_limit,
            "keys_per_second": round(live.keys_per_second, 1),
            "seconds": round(live.seconds, 3),
            "value_bytes": "exact" if live.sample_size is None else "sampled",
            "sample_size": live.sample_size,
            "complete": live.complete,
        }
    out["checks"] = [
        {"check": f.check, "severity": f.severity.value, "message": f.message, "fix": f.fix}
        for f in report.findings
    ]
    return out


def render_json(report: KeyspaceReport, top: int | None = None) -> str:
    return json.dumps(report_json(report, top), indent=2)


def bar(part: int, whole: int, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells filled in proportion to part/whole (whole: the biggest group)."""
    filled = round(width * part / whole) if whole else 0
    return "█" * filled + "·" * (width - filled)


def _header(report: KeyspaceReport) -> list[str]:
    lines = [f"keyspace of {printable(report.source)} at revision {report.revision}"
             + (f", under {printable(report.prefix)}" if report.prefix else "")]  # fmt: skip
    live = report.live
    if live is not None:
        values = (
            "exact value sizes"
            if live.sample_size is None
            else f"value sizes from a sample of {live.sample_size} keys per group"
        )
        state = "complete" if live.complete else "STOPPED EARLY: partial counts"
        lines.append(
            f"live scan, serializable, {live.keys_per_second:,.0f} keys/s "
            f"(limit {live.rate_limit:,.0f}/s) in {live.seconds:.1f} s; {values}; {state}"
        )
    snap = report.snapshot
    if snap is not None:
        lines.append(
            f"file {human_bytes(snap.file_size)} (database {human_bytes(snap.db_size)}); "
            f"{snap.leases} leases, {snap.leased_keys} keys attached to them, "
            f"{snap.leases_without_keys} without keys"
        )
    return lines


def render_table(report: KeyspaceReport, top: int | None = None) -> str:
    """The report as aligned text: one row per group, a bar of its bytes, then the checks."""
    snapshot = report.snapshot is not None
    head = ["GROUP", "KEYS", "BYTES", "OF ALL", ""]
    if snapshot:
        head += ["HISTORY REVS", "HISTORY BYTES", "TOMBSTONES", "OF FILE"]
    rows: list[list[str]] = [head]
    total_bytes = report.total.bytes
    biggest = report.groups[0].bytes if report.groups else 0  # bars are scaled to it
    shown_rows = [*report.top(top), report.total]
    for row in shown_rows:
        is_total = row is report.total
        cells = [
            "TOTAL" if is_total else printable(row.prefix or "(no prefix)"),
            f"{row.keys:,}",
            human_bytes(row.bytes),
            f"{row.bytes / total_bytes:.1%}" if total_bytes else "-",
            "" if is_total else bar(row.bytes, biggest),
        ]
        if snapshot:
            cells += [f"{row.history_revisions or 0:,}", human_bytes(row.history_bytes or 0),
                      f"{row.tombstones or 0:,}", f"{(row.share or 0.0):.1%}"]  # fmt: skip
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {1, 2, 3, 5, 6, 7, 8}
    lines = [*_header(report), ""]
    for cells in rows:
        padded = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    hidden = len(report.groups) - len(report.top(top))
    if hidden:
        lines.append(f"({hidden} smaller groups not shown: --top)")
    for finding in report.findings:
        lines += ["", f"{finding.severity.tag}: {finding.message}", f"  fix: {finding.fix}"]
    return "\n".join(lines)
