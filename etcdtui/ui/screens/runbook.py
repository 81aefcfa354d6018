"""A runbook on screen: preflight, the plan with its exact commands, confirm, live execution
with an abort key between steps, verification. One screen for every runbook."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, RichLog, Static

from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Plan, RunReport
from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import Event, Runbook, execute
from etcdtui.runbooks.render import render_checks, render_report
from etcdtui.ui.format import NEWLINE, markup, plain
from etcdtui.ui.screens.confirm import ConfirmScreen

RunbookFactory = Callable[["RunbookScreen"], Runbook]
RULE_HINT = "rule, e.g. dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024 (empty: every member)"


class RunbookScreen(Screen[None]):
    """Shows a plan, runs it on request, journals every step.

    Targets, commands, output and errors come from the config and the nodes: they are shown
    as Text or Content, never as markup, with control characters made visible.
    """

    AUTO_FOCUS = "#steps"  # keys act on the plan; Tab reaches the options

    BINDINGS = [
        Binding("escape", "leave", "Back", id="runbook-back"),
        Binding("p", "plan", "Re-plan", id="runbook-plan"),
        Binding("x", "execute", "Execute", id="runbook-execute"),
        Binding("a", "abort", "Abort", id="runbook-abort"),
    ]

    def __init__(self, title: str, factory: RunbookFactory, audit: AuditLog,
                 options: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.title_text = title
        self.factory = factory
        self.audit = audit
        self.with_options = options
        self.plan: Plan | None = None
        self.runbook: Runbook | None = None
        self.running = False
        self.planning = False
        self._plan_seq = 0  # a newer plan request makes an older result stale
        self.abort_requested = False
        self.report: RunReport | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(markup("[b]$title[/b]", title=self.title_text), id="runbook-title")
        if self.with_options:
            with Horizontal(id="runbook-options"):
                yield Input(placeholder=RULE_HINT, id="rule")
                yield Checkbox("compact first", id="compact")
                yield Checkbox("move leader", id="move-leader")
        with VerticalScroll(id="runbook-body"):
            yield Static("Preflight: checking…", id="preflight")
            table: DataTable[str | Text] = DataTable(id="steps", cursor_type="row")
            for label in ("#", "STATE", "TARGET", "COMMAND"):
                table.add_column(label, key=label)
            yield table
            yield RichLog(id="log", wrap=True, markup=False, max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.action_plan()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            return self.running
        if action in ("plan", "execute"):
            return not self.running
        return True

    # --- plan (read-only) ------------------------------------------------------------------

    def action_plan(self) -> None:
        if self.running:
            return
        self.query_one("#preflight", Static).update("Preflight: checking…")
        self._plan_seq += 1
        self.planning = True
        self.plan = None
        try:
            runbook = self.factory(self)  # on the UI thread: it reads the options form
        except EtcdtuiError as exc:
            self._plan_failed(str(exc), self._plan_seq)
            return
        self._plan(runbook, self._plan_seq)

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
        self.plan = None
        self.query_one("#preflight", Static).update(
            markup("[b $error]Cannot plan:[/] $message", message=message, keep_newlines=True)
        )
        self.notify(printable(message, newlines=True), title="Cannot plan", severity="error",
                    markup=False)  # fmt: skip

    def _show_plan(self, runbook: Runbook, plan: Plan, seq: int) -> None:
        if seq != self._plan_seq or self.running:
            return  # a newer plan was asked for, or a run started: this one is stale
        self.planning = False
        self.runbook, self.plan = runbook, plan
        # render_checks and plain strings in a Content join are literal text, never markup.
        lines: list[Content | str] = [
            Content.styled("Preflight (read-only)", "bold"),
            *render_checks(plan.checks),
        ]
        if plan.notes:
            lines += ["", Content.styled("Now", "bold"), *(f"  {printable(n)}" for n in plan.notes)]
        verdict = (Content.styled("REFUSED: a preflight check failed; nothing will run.",
                                  "bold $error")
                   if plan.blocked else f"{len(plan.steps)} steps; press x to execute")  # fmt: skip
        lines += ["", verdict]
        self.query_one("#preflight", Static).update(NEWLINE.join(lines))
        table = self.query_one("#steps", DataTable)
        table.clear()
        for index, step in enumerate(plan.steps, start=1):
            command = plain(step.command + ("  DESTRUCTIVE" if step.destructive else ""))
            table.add_row(
                Text(str(index)), Text("planned"), plain(step.target), command, key=str(index)
            )
        self.refresh_bindings()

    # --- execute ---------------------------------------------------------------------------

    def action_execute(self) -> None:
        plan = self.plan
        if self.planning:
            self.notify("Still planning: wait for the plan, then press x.")
            return
        if plan is None or self.running:
            return
        if plan.blocked:
            self.notify("The preflight failed: nothing will run.", severity="error")
            return
        if not plan.steps:
            self.notify("Nothing to do.")
            return
        if plan.destructive:
            # Each value made printable on its own: the question's own line breaks stay.
            destructive = "\n".join(
                f"  {printable(s.command)}" for s in plan.steps if s.destructive
            )
            question = (
                f"This plan has DESTRUCTIVE steps on cluster {printable(plan.cluster)}:\n"
                f"{destructive}"
            )
            screen = ConfirmScreen(question, require=plan.cluster)
        else:
            screen = ConfirmScreen(f"Run these {len(plan.steps)} steps on {plan.cluster}?")
        self.app.push_screen(screen, self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        if not yes:
            self.notify("Not confirmed: nothing was run.")
            return
        self.running, self.abort_requested = True, False
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

    def _on_event(self, event: Event) -> None:
        log = self.query_one("#log", RichLog)
        table = self.query_one("#steps", DataTable)
        if event.kind == "step" and event.step is not None:
            log.write(plain(f"[{event.index}] {event.step.target}: {event.step.command}", "bold"))
            table.update_cell(str(event.index), "STATE", Text("running…"))
        elif event.kind == "output":
            log.write(plain(f"    {event.text}"))
        elif event.kind == "result" and event.result is not None:
            state = f"ok {event.result.duration:.1f} s" if event.result.ok else "FAILED"
            table.update_cell(str(event.index), "STATE", Text(state))
        elif event.kind in ("stopped", "verify"):
            log.write(Text(printable(event.text, newlines=True)))

    def _finished(self, report: RunReport | None, error: str) -> None:
        self.running = False
        self.report = report
        self.refresh_bindings()
        log = self.query_one("#log", RichLog)
        if report is None:
            log.write(Text(f"stopped: {printable(error, newlines=True)}"))
            log.write(plain(f"what ran is in the audit log: {self.audit.path}"))
            self.notify(printable(error, newlines=True), title="Runbook stopped",
                        severity="error", markup=False)  # fmt: skip
            return
        for line in render_report(report).splitlines():
            log.write(Text(line))  # render_report made every line printable
        log.write(plain(f"audit log: {self.audit.path}"))
        title = "Runbook done" if report.ok else "Runbook FAILED"
        self.notify(printable(report.stopped or "verified", newlines=True), title=title,
                    severity="information" if report.ok else "error", markup=False)  # fmt: skip

    def action_abort(self) -> None:
        if self.running:
            self.abort_requested = True
            self.notify("Stopping before the next step (the current one finishes).")

    def action_leave(self) -> None:
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

    def option_values(self) -> tuple[str, bool, bool]:
        if not self.with_options:
            return "", False, False
        return (
            self.query_one("#rule", Input).value.strip(),
            self.query_one("#compact", Checkbox).value,
            self.query_one("#move-leader", Checkbox).value,
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_plan()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.action_plan()
