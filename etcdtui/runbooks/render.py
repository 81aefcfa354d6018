"""Plans and reports as text: what `--dry-run` prints and what a run leaves on screen.

Targets, commands, member names and errors come from the config, the cluster and the nodes:
every value goes through `printable`, so no control character reaches the terminal. A value
that should be one line (a name, a command) shows its line breaks as `\\n`, so it cannot forge
a line of the plan; a reason or an error keeps its lines, each indented under the first.
"""

from __future__ import annotations

from etcdtui.models.runbook import Check, Plan, RunReport, Verdict
from etcdtui.models.text import printable
from etcdtui.runbooks.engine import Outcome, outcome

_MARK = {Verdict.PASS: "PASS", Verdict.WARN: "WARN", Verdict.FAIL: "FAIL"}


def block(text: str, indent: str) -> str:
    """Multi-line outside text made printable, its later lines indented by `indent`."""
    return printable(text, newlines=True).replace("\n", "\n" + indent)


def render_checks(checks: list[Check] | tuple[Check, ...]) -> list[str]:
    """One line per check (a reason's own line breaks indented under it), all printable."""
    return [
        f"  [{_MARK[c.verdict]}] {printable(c.name)}: {block(c.reason, '      ')}" for c in checks
    ]


def render_plan(plan: Plan) -> str:
    """Preflight, then every step with its exact command, in order."""
    lines = [
        f"{printable(plan.runbook)} on cluster {printable(plan.cluster)}",
        "",
        "Preflight (read-only):",
    ]
    lines += render_checks(plan.checks)
    if plan.notes:
        lines += ["", "Now:"] + [f"  {block(note, '    ')}" for note in plan.notes]
    lines += ["", f"Plan ({len(plan.steps)} steps, in this order):"]
    for index, step in enumerate(plan.steps, start=1):
        flag = "  DESTRUCTIVE" if step.destructive else ""
        lines.append(f"  {index:>2}. [{printable(step.target)}] {printable(step.command)}{flag}")
        lines.append(f"      why: {block(step.why, '           ')}")
    if plan.blocked:
        lines += ["", "REFUSED: a preflight check failed; nothing will run."]
    return "\n".join(lines)


def untouched_targets(report: RunReport) -> list[str]:
    """Targets of the steps a stopped run never reached that changes nothing elsewhere: not
    one a step that ran (or failed, maybe half done) acted on, such as a learner added before
    its promotion was reached."""
    ran = len(report.results)
    acted = {t for r in report.results if not r.step.read_only
             for t in r.step.target.split(",")}  # fmt: skip
    later = {t for s in report.plan.steps[ran:] if not s.read_only
             for t in s.target.split(",")}  # fmt: skip
    return sorted(later - acted)


def render_report(report: RunReport) -> str:
    """Where the run ended, the before/after figures and the verification."""
    lines = [""]
    ran = len(report.results)
    total = len(report.plan.steps)
    result = outcome(report)
    if report.stopped:
        head = "ABORTED" if result is Outcome.ABORTED else "STOPPED"
        lines.append(f"{head} after {ran} of {total} steps: {block(report.stopped, '  ')}")
        if untouched := untouched_targets(report):
            lines.append("not run, left untouched: " + printable(", ".join(untouched)))
    else:
        lines.append(f"ran all {total} steps")
    if report.summary:
        lines += ["", "Before -> after:"] + [f"  {block(line, '    ')}" for line in report.summary]
    lines += ["", "Verify:", *render_checks(report.verification)]
    lines += [
        "",
        f"{printable(report.plan.runbook)}: {result.value} (run {printable(report.run_id)})",
    ]
    return "\n".join(lines)
