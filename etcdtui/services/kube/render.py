"""`etcdtui kube-check`'s output: the Kubernetes report as plain text or JSON."""

from __future__ import annotations

import json
from typing import Any

from etcdtui.models.severity import Severity
from etcdtui.models.text import printable
from etcdtui.services.kube.report import KubeReport
from etcdtui.services.kube.wiring import KubeFinding


def _word(severity: Severity) -> str:
    # The plain report writes a passed check in lower case: only problems shout.
    return "ok" if severity is Severity.OK else severity.tag


def _finding_lines(findings: tuple[KubeFinding, ...]) -> list[str]:
    lines = []
    for f in sorted(findings, key=lambda f: f.severity, reverse=True):  # stable: ties keep order
        # Messages quote node files and etcd's answers: one line each, control characters
        # made visible, so a value cannot fake a line of the report.
        lines.append(f"  {_word(f.severity):8} {f.check:17} {printable(f.message)}")
        if f.fix:
            lines.append(f"  {'':8} {'':17} fix: {printable(f.fix)}")
    return lines


def render_text(report: KubeReport, cluster: str) -> str:
    """Worst first in every section, one line per finding, the fix under it."""
    title = f"cluster {printable(cluster)}: Kubernetes checks {_word(report.worst)}"
    lines = [title, "", "API server wiring"]
    lines += _finding_lines(report.wiring) or ["  (no kube-apiserver settings read)"]
    lines += ["", "Certificates"]
    for cert in sorted(report.certs, key=lambda c: (-c.severity.rank, c.days_left)):
        lines.append(f"  {_word(cert.severity):8} {printable(cert.message)}")
    if not report.certs:
        lines.append("  (no certificates read)")
    lines += ["", "Security checks", *_finding_lines(report.security)]
    notes = [f"  {printable(f.node)}: {printable(n)}" for f in report.facts for n in f.notes]
    if notes:
        lines += ["", "Notes", *notes]
    return "\n".join(lines)


def render_json(report: KubeReport, cluster: str) -> str:
    """The same as JSON, for scripts and monitoring."""

    def finding(f: KubeFinding) -> dict[str, Any]:
        return {"node": f.node, "check": f.check, "ok": f.ok, "severity": f.severity.value,
                "message": f.message, "fix": f.fix}  # fmt: skip

    data = {
        "cluster": cluster,
        "worst": report.worst.value,
        "wiring": [finding(f) for f in report.wiring],
        "certificates": [
            {
                "node": c.node,
                "role": c.role,
                "path": c.path,
                "not_after": c.not_after.isoformat() if c.not_after else None,
                "days_left": round(c.days_left, 2) if c.not_after else None,
                "severity": c.severity.value,
                "message": c.message,
            }
            for c in report.certs
        ],
        "security": [finding(f) for f in report.security],
        "notes": [{"node": f.node, "note": n} for f in report.facts for n in f.notes],
    }
    return json.dumps(data, indent=2)
