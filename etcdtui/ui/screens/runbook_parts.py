"""The parts of the runbook screen: its options form, its step table, and what it writes
(the preflight, the live and final status lines, the confirmation) as functions of the plan
and the report.

Targets, commands and output come from the config and the nodes: they become Text or
Content here, never markup, with control characters made visible.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Checkbox, DataTable, Input

from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Plan, RunReport, Step, StepResult
from etcdtui.models.text import printable
from etcdtui.runbooks.defrag.options import RULE, SHARED_OPTIONS, OptionKind
from etcdtui.runbooks.defrag.rule import RuleError
from etcdtui.runbooks.engine import Outcome, outcome
from etcdtui.runbooks.render import render_checks
from etcdtui.ui.format import plain
from etcdtui.ui.screens.confirm import ConfirmScreen
from etcdtui.ui.widgets.tickbox import TickBox
from etcdtui.ui.wrap import break_line

STATE_WIDTH = 9  # "planned", "running…", "ok 12.3 s", "FAILED", "not run"
_TARGET_MAX = 16  # wider targets wrap in their column
REFUSED = "REFUSED: a preflight check failed; nothing will run."


def step_label(step: Step) -> str:
    """A step in a few words: `defrag node2`, `health before node2`, `compact (node1)`."""
    suffix = f"-{step.target}"
    if step.id.endswith(suffix) and len(step.id) > len(suffix):
        return f"{step.id[: -len(suffix)].replace('-', ' ')} {step.target}"
    return f"{step.id.replace('-', ' ')} ({step.target})"


def took(seconds: float) -> str:
    """`12 s`, `2 min 05 s`."""
    whole = int(seconds)
    return f"{whole} s" if whole < 120 else f"{whole // 60} min {whole % 60:02d} s"


class RunbookOptions(Horizontal):
    """The defrag's form: which members (a rule), compact first, move the leader; a field for
    each of the options `etcdtui defrag` offers as flags too."""

    RULE_ID = RULE.widget_id  # the rule's field, which keys go to first

    def __init__(self) -> None:
        super().__init__(id="runbook-options")

    def compose(self) -> ComposeResult:
        for option in SHARED_OPTIONS:
            if option.kind is OptionKind.FLAG:
                yield TickBox(option.label, id=option.widget_id)
            else:
                yield Input(placeholder=option.label, id=option.widget_id)

    def values(self) -> dict[str, str | bool]:
        """Each option's value as the form says now (a rule's text stripped), by name."""
        values: dict[str, str | bool] = {}
        for option in SHARED_OPTIONS:
            if option.kind is OptionKind.FLAG:
                values[option.name] = self.query_one(f"#{option.widget_id}", Checkbox).value
            else:
                values[option.name] = self.query_one(f"#{option.widget_id}", Input).value.strip()
        return values


class StepTable(DataTable[str | Text]):
    """The plan's steps: number, STATE, TARGET and the exact COMMAND, wrapped to fit."""

    def __init__(self) -> None:
        super().__init__(id="steps", cursor_type="row")
        self.states: dict[int, Text] = {}  # step number -> its STATE cell

    def reset(self, steps: int = 0) -> None:
        """Empty, and every one of `steps` steps "planned" once shown."""
        self.states = {i: Text("planned") for i in range(1, steps + 1)}
        self.clear(columns=True)

    def show(self, plan: Plan | None, room: int, current: int | None) -> None:
        """Fill the table with `plan`, its COMMAND column as wide as `room` allows, the
        cursor on step `current`."""
        self.clear(columns=True)
        if plan is None:
            return
        columns = step_columns(plan, room)
        for label, size in columns:
            self.add_column(label, width=size, key=label)
        width = columns[-1][1]
        for index, step in enumerate(plan.steps, start=1):
            state = self.states.get(index, Text("planned"))
            self.add_row(*step_cells(index, step, state, width), key=str(index), height=None)
        if current is not None:
            self.move_cursor(row=current - 1, animate=False)

    def set_state(self, index: int, state: Text) -> None:
        self.states[index] = state
        if str(index) in self.rows:
            self.update_cell(str(index), "STATE", state, update_width=False)


def preflight(plan: Plan) -> list[Content | str]:
    """The preflight checks, the plan's notes and, when a check failed, the refusal."""
    # render_checks and plain strings in a Content join are literal text, never markup.
    lines: list[Content | str] = [
        Content.styled("Preflight (read-only)", "bold"),
        *render_checks(plan.checks),
    ]
    if plan.notes:
        lines += ["", Content.styled("Now", "bold"), *(f"  {printable(n)}" for n in plan.notes)]
    if plan.blocked:
        lines += ["", Content.styled(REFUSED, "bold $error")]
    return lines


def step_columns(plan: Plan, room: int) -> list[tuple[str, int]]:
    """(label, width) of the step table's columns, COMMAND as wide as `room` allows."""
    number = len(str(len(plan.steps)))
    target = min(_TARGET_MAX, max([6, *(cell_len(printable(s.target)) for s in plan.steps)]))
    command = max(20, room - (number + STATE_WIDTH + target))
    return [("#", number), ("STATE", STATE_WIDTH), ("TARGET", target), ("COMMAND", command)]


def step_cells(index: int, step: Step, state: Text, width: int) -> tuple[Text, ...]:
    """A step's row: its number, state, target and command wrapped to `width`."""
    # Broken at spaces or after a separator, never inside an ID when it need not be.
    line = Text("\n".join(break_line(printable(step.command), width, "  ")))
    if step.destructive:
        line.append("  DESTRUCTIVE", style="bold")
    return Text(str(index)), state, plain(step.target), line


def final_line(report: RunReport) -> tuple[str, str]:
    """The status line and the notification's title once a run has ended."""
    ran, total = len(report.results), len(report.plan.steps)
    result = outcome(report)
    if result is Outcome.DONE:
        line = f"DONE: all {total} steps ran and the verification passed · run {report.run_id}"
    elif result is Outcome.ABORTED:
        line = f"ABORTED after {ran} of {total} steps (by you) · run {report.run_id}"
    elif report.stopped:
        line = f"FAILED after {ran} of {total} steps: {report.stopped.splitlines()[0]}"
    else:
        failed = next((c for c in report.verification if c.failed), None)
        why = f"{failed.name}: {failed.reason}" if failed else "verification failed"
        line = f"FAILED: all {total} steps ran, the verification did not pass: {why}"
    title = {Outcome.DONE: "Runbook done", Outcome.ABORTED: "Runbook ABORTED",
             Outcome.FAILED: "Runbook FAILED"}[result]  # fmt: skip
    return line, title


def progress_line(index: int, total: int, step: Step, seconds: float) -> str:
    """The live line: "step 6 of 9: defrag node2 (12 s)"."""
    return f"step {index} of {total}: {printable(step_label(step))} ({took(seconds)})"


def run_header(title: str, plan: Plan) -> list[Text]:
    """What the run's log begins with: its title, then the preflight, so that nothing of the
    preflight is lost once the log takes its place."""
    return [
        plain(f"── {title} ──", "bold"),
        Text("Preflight (read-only)", style="bold"),
        *(Text(line) for line in render_checks(plan.checks)),
        *(plain(f"  {note}") for note in plan.notes),
    ]


def failure_lines(result: StepResult) -> list[Text]:
    """A failed step's cause on one line first, its raw output folded below it."""
    lines = printable(result.output, newlines=True).splitlines() or ["(no output)"]
    return [
        Text(f"    FAILED: {lines[0]}", style="bold"),
        *(Text(f"      │ {line}", style="dim") for line in lines[1:]),
    ]


def error_text(exc: EtcdtuiError) -> str:
    """The error, and for a rule a caret under the column at fault (columns count from 1)."""
    if isinstance(exc, RuleError) and exc.text:
        return f"{exc}\n  {exc.pointer().replace(chr(10), chr(10) + '  ')}"
    return str(exc)


def confirmation(plan: Plan) -> ConfirmScreen:
    """y/n for a plan that changes nothing irreversible; the cluster's name typed for one with
    destructive steps, which are listed under a warning that stays in view."""
    if not plan.destructive:
        return ConfirmScreen(f"Run these {len(plan.steps)} steps on cluster {plan.cluster}?")
    destructive = [s for s in plan.steps if s.destructive]
    warning = (f"DESTRUCTIVE: {len(destructive)} of the {len(plan.steps)} steps change "
               f"cluster {plan.cluster} in a way that cannot simply be undone")  # fmt: skip
    question = f"Run all {len(plan.steps)} steps on cluster {plan.cluster}? The destructive ones:"
    commands = [
        f"{index}. [{s.target}] {s.command}"
        for index, s in enumerate(plan.steps, start=1)
        if s.destructive
    ]
    return ConfirmScreen(question, require=plan.cluster, warning=warning, commands=commands)
