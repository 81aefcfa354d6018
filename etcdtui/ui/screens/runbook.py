"""A runbook on screen: preflight, the plan with its exact commands, confirm, live execution
with an abort key between steps, verification. One screen for every runbook.

At 80x24 the status line stays above the plan: "8 steps planned: press x to execute", then
"step 6 of 9: defrag node2 (12 s)" ticking while a step runs, then DONE, ABORTED or FAILED.
The step table follows the running step, and commands wrap in it instead of running off the
screen. With a form (the defrag's rule), the screen opens in the rule: keys type there until
Esc leaves it, and only then does `x` execute; a plan made for another rule never runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, DataTable, Header, Input, Static

from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Plan, RunReport, Step, StepResult
from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import Event, NamedRun, Outcome, Runbook, execute, outcome
from etcdtui.runbooks.render import render_report
from etcdtui.ui.actions import Where, bindings_for
from etcdtui.ui.format import NEWLINE, markup, plain
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.screens.runbook_parts import (
    REFUSED,
    RunbookOptions,
    StepTable,
    confirmation,
    error_text,
    failure_lines,
    final_line,
    preflight,
    progress_line,
    run_header,
)
from etcdtui.ui.widgets.footer import KeyFooter
from etcdtui.ui.widgets.run_log import RunLog

RunbookFactory = Callable[["RunbookScreen"], Runbook]


class RunbookScreen(Screen[None]):
    """Shows a plan, runs it on request, journals every step.

    Targets, commands, output and errors come from the config and the nodes: they are shown
    as Text or Content, never as markup, with control characters made visible.
    """

    CSS_PATH = str(styles_dir() / "runbook.tcss")
    AUTO_FOCUS = "#steps"  # keys act on the plan; with a form, on_mount focuses the rule
    BINDINGS = bindings_for(Where.RUNBOOK)

    def __init__(
        self,
        title: str,
        factory: RunbookFactory,
        audit: AuditLog,
        options: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.factory = factory
        self.audit = audit
        self.with_options = options
        self.clock = clock  # a fixed clock makes a mid-run picture repeatable
        self.plan: Plan | None = None
        self.runbook: Runbook | None = None
        self.running = False
        self.planning = False
        self._plan_seq = 0  # a newer plan request makes an older result stale
        self._planned_options: dict[str, str | bool] | None = None  # the form the plan used
        self.abort_requested = False
        self.plan_ran = False  # a plan runs once: another run needs a new plan
        self.report: RunReport | None = None
        self.states: dict[int, Text] = {}  # step number -> its STATE cell
        self.current: tuple[int, Step, float] | None = None  # the running step, its start
        self._ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(markup("[b]$title[/b]", title=self.title_text), id="runbook-title")
        if self.with_options:
            yield RunbookOptions()
        yield Static("Planning…", id="runbook-status")
        with VerticalScroll(id="runbook-body"):
            yield Static("Preflight: checking…", id="preflight")
            yield StepTable()
            yield RunLog(id="log")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.with_options:
            # Keys go to the rule first: x types an "x" until Esc leaves the input.
            self.set_focus(self.query_one(f"#{RunbookOptions.RULE_ID}", Input))
        self._ticker = self.set_interval(1.0, self._show_progress, pause=True)
        self.action_plan()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            return self.running
        if action in ("plan", "execute"):
            return not self.running
        return True

    def refusal(self, entry: object) -> str | None:
        """Why a key of the action table does nothing now (None when it works)."""
        key = getattr(entry, "id", "")
        if key == "runbook-abort" and not self.running:
            return "nothing is running"
        if key in ("runbook-plan", "runbook-execute") and self.running:
            return "a step is running: a stops the run after it"
        if key == "runbook-back" and self.running:
            return "a step is running: a stops the run after it, then Esc"
        return None

    def _status(self, text: str | Content, state: str = "") -> None:
        """The line above the plan (a str is shown as written); `state` (running, done,
        failed, aborted, refused) is also a CSS class, for colour: the words say it without
        colour too."""
        status = self.query_one("#runbook-status", Static)
        # A str here holds step names and ids from outside: literal text, never markup.
        status.update(Content(printable(text)) if isinstance(text, str) else text)
        for name in ("running", "done", "failed", "aborted", "refused"):
            status.set_class(name == state, f"-{name}")

    # --- plan (read-only) ------------------------------------------------------------------

    def action_plan(self) -> None:
        if self.running:
            return
        self.remove_class("-ran")  # the new preflight takes the screen again
        self.plan_ran, self.current = False, None
        self.query_one("#preflight", Static).update("Preflight: checking…")
        self._status("Planning…")
        self._plan_seq += 1
        self.planning = True
        self._clear_plan()
        self._planned_options = self.option_values()
        try:
            runbook = self.factory(self)  # on the UI thread: it reads the options form
        except EtcdtuiError as exc:
            self._plan_failed(error_text(exc), self._plan_seq)
            return
        self._plan(runbook, self._plan_seq)

    def _clear_plan(self) -> None:
        """No plan on screen and none to execute: a bad rule never leaves an older one."""
        self.plan = None
        self.query_one(StepTable).reset()

    @work(thread=True, exit_on_error=False, group="runbook-plan")
    def _plan(self, runbook: Runbook, seq: int) -> None:
        try:
            plan = runbook.plan()
        except Exception as exc:  # a plan that cannot be made is shown, never a crash
            message = str(exc) if isinstance(exc, EtcdtuiError) else f"{type(exc).__name__}: {exc}"
            self.app.call_from_thread(self._plan_failed, message, seq)
            return
        self.app.call_from_thread(self._show_plan, runbook, plan, seq)

    def _plan_failed(self, message: str, seq: int) -> None:
        if seq != self._plan_seq or self.running:
            return
        self.planning = False
        self._clear_plan()
        self.query_one("#preflight", Static).update(
            markup("[b $error]Cannot plan:[/] $message", message=message, keep_newlines=True)
        )
        first = message.splitlines()[0] if message else "unknown error"
        self._status(markup("[b]CANNOT PLAN:[/b] $why", why=first), "refused")
        self.notify(printable(message, newlines=True), title="Cannot plan", severity="error",
                    markup=False)  # fmt: skip

    def _show_plan(self, runbook: Runbook, plan: Plan, seq: int) -> None:
        if seq != self._plan_seq or self.running:
            return  # a newer plan was asked for, or a run started: this one is stale
        self.planning = False
        self.runbook, self.plan = runbook, plan
        if plan.blocked:
            self._status(Content.styled(REFUSED, "bold"), "refused")
        elif not plan.steps:
            self._status("Nothing to do: no step planned.")
        else:
            run = f" (run {runbook.run_id})" if isinstance(runbook, NamedRun) else ""
            self._status(f"{len(plan.steps)} steps planned{printable(run)}: press x to execute"
                         + (" (Esc leaves the rule first)" if self._in_form() else ""))  # fmt: skip
        self.query_one("#preflight", Static).update(NEWLINE.join(preflight(plan)))
        self.query_one(StepTable).reset(len(plan.steps))
        self._fill_steps()
        self.refresh_bindings()

    def _fill_steps(self) -> None:
        """The step table, its COMMAND column as wide as the screen allows (commands wrap)."""
        # The room inside the body, less the table's scrollbar and each cell's padding (both
        # gutters are stable in runbook.tcss, so a scrollbar appearing changes no width).
        body = self.query_one("#runbook-body", VerticalScroll).scrollable_content_region.width
        room = (body or self.app.size.width - 2) - 2 - 2 * 4
        current = self.current[0] if self.current is not None else None
        self.query_one(StepTable).show(self.plan, room, current)

    def on_resize(self) -> None:
        if self.plan is not None:
            self.call_after_refresh(self._fill_steps)

    # --- execute ---------------------------------------------------------------------------

    def action_execute(self) -> None:
        plan = self.plan
        if self.planning:
            self.notify("Still planning: wait for the plan, then press x.")
            return
        if plan is None or self.running:
            return
        if self.plan_ran:
            self.notify("This plan has run: press p to plan again.", severity="warning")
            return
        if self.option_values() != self._planned_options:
            self.notify("The rule or an option changed since this plan: press p to plan "
                        "with them first.", severity="warning")  # fmt: skip
            return
        if plan.blocked:
            self.notify("The preflight failed: nothing will run.", severity="error")
            return
        if not plan.steps:
            self.notify("Nothing to do.")
            return
        self.app.push_screen(confirmation(plan), self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        if not yes:
            self.notify("Not confirmed: nothing was run.")
            return
        self.running, self.abort_requested, self.plan_ran = True, False, True
        self._status("Starting…", "running")
        if self.with_options:
            self.query_one("#runbook-options").disabled = True  # the form this run used
        # The preflight was read: the steps and the log share the screen now, and the log
        # begins with the preflight, so nothing of it is lost.
        self.add_class("-ran")
        log = self.query_one("#log", RunLog)
        if self.plan is not None:
            run = f" · run {self.runbook.run_id}" if isinstance(self.runbook, NamedRun) else ""
            for line in run_header(f"{self.title_text}{run}", self.plan):
                log.add(line)
        self.query_one("#steps", DataTable).focus()
        self.refresh_bindings()
        self._execute()

    @work(thread=True, exclusive=True, exit_on_error=False, group="runbook")
    def _execute(self) -> None:
        assert self.runbook is not None and self.plan is not None
        try:
            report = execute(
                self.runbook, self.plan, self.audit,
                on_event=lambda event: self.app.call_from_thread(self._on_event, event),
                should_abort=lambda: self.abort_requested,
            )  # fmt: skip
        except Exception as exc:  # the screen must never stay "running" after a failure
            message = str(exc) if isinstance(exc, EtcdtuiError) else f"{type(exc).__name__}: {exc}"
            self.app.call_from_thread(self._finished, None, message)
            return
        self.app.call_from_thread(self._finished, report, "")

    def _set_state(self, index: int, state: Text) -> None:
        self.query_one(StepTable).set_state(index, state)

    def _on_event(self, event: Event) -> None:
        log = self.query_one("#log", RunLog)
        total = len(self.plan.steps) if self.plan else 0
        if event.kind == "step" and event.step is not None:
            self.current = (event.index, event.step, self.clock())
            log.add(plain(f"[{event.index}/{total}] {event.step.target}: {event.step.command}",
                          "bold"))  # fmt: skip
            self._set_state(event.index, Text("running…", style="bold"))
            table = self.query_one("#steps", DataTable)
            table.move_cursor(row=event.index - 1)  # the table follows the running step
            self._show_progress()
            if self._ticker is not None:
                self._ticker.resume()
        elif event.kind == "output":
            log.add(plain(f"    {event.text}"))
        elif event.kind == "result" and event.result is not None:
            self._show_result(event.index, event.result)
        elif event.kind in ("stopped", "aborted", "verify"):
            log.add(Text(printable(event.text, newlines=True)))

    def _show_result(self, index: int, result: StepResult) -> None:
        """A failed step's cause on one line first, its raw output folded below it."""
        log = self.query_one("#log", RunLog)
        if result.ok:
            self._set_state(index, Text(f"ok {result.duration:.1f} s"))
            return
        self._set_state(index, Text("FAILED", style="bold"))
        for line in failure_lines(result):
            log.add(line)

    def refresh_progress(self) -> None:
        """Show the live line now rather than at the next tick."""
        self._show_progress()

    def _show_progress(self) -> None:
        """The live line: "step 6 of 9: defrag node2 (12 s)"."""
        if not self.running or self.current is None or self.plan is None:
            return
        index, step, started = self.current
        line = progress_line(index, len(self.plan.steps), step, self.clock() - started)
        after = "stopping after this step" if self.abort_requested else "a stops after this step"
        self._status(f"{line} · {after}", "running")

    def _finished(self, report: RunReport | None, error: str) -> None:
        self.running = False
        self.report = report
        if self.with_options:
            self.query_one("#runbook-options").disabled = False
        if self._ticker is not None:
            self._ticker.pause()
        self.refresh_bindings()
        log = self.query_one("#log", RunLog)
        if report is None:
            log.add(Text(f"stopped: {printable(error, newlines=True)}"))
            log.add(plain(f"what ran is in the audit log: {self.audit.path}"))
            first = error.splitlines()[0] if error else "unknown error"
            self._status(markup("[b]FAILED:[/b] $why", why=first), "failed")
            self.notify(printable(error, newlines=True), title="Runbook stopped",
                        severity="error", markup=False)  # fmt: skip
            return
        for index in range(len(report.results) + 1, len(report.plan.steps) + 1):
            self._set_state(index, Text("not run"))
        for line in render_report(report).splitlines():
            log.add(Text(line))  # render_report made every line printable
        log.add(plain(f"audit log: {self.audit.path}"))
        result = outcome(report)
        line, title = final_line(report)
        self._status(Content(printable(line)), result.value.lower())
        self.notify(printable(report.stopped or "verified", newlines=True), title=title,
                    severity="error" if result is Outcome.FAILED else "information",
                    markup=False)  # fmt: skip

    def action_abort(self) -> None:
        if self.running:
            self.abort_requested = True
            self._show_progress()
            self.notify("Stopping before the next step (the current one finishes).")

    def action_leave(self) -> None:
        if self._in_form():
            # Esc leaves the rule (or a box): keys act on the plan again. A rule edited but
            # not yet submitted is planned now, so that x never runs a plan made for another.
            self.query_one("#steps", DataTable).focus()
            if not self.running and self.option_values() != self._planned_options:
                self.action_plan()
            return
        if self.running:
            self.notify(
                "A step is running: press a to stop after it, then Esc.", severity="warning"
            )
            return
        close = getattr(self.runbook, "close", None)
        if callable(close):
            close()  # a runbook holding a lock or connections (the restore) lets go of them
        self.dismiss(None)

    # --- the options form (defrag) ---------------------------------------------------------

    def _in_form(self) -> bool:
        focused = self.focused
        return (
            focused is not None
            and focused.parent is not None
            and (focused.parent.id == "runbook-options")
        )

    def option_values(self) -> dict[str, str | bool]:  # by option name; {} without a form
        return self.query_one(RunbookOptions).values() if self.with_options else {}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_plan()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.running or self.planning or event.input.id != RunbookOptions.RULE_ID:
            return
        if self.plan_ran:
            self.notify("This plan has run: press p to plan again.", severity="warning")
            return
        if self.option_values() != self._planned_options:
            self._status("The rule changed: Enter plans with it (x waits for that plan)")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.action_plan()
