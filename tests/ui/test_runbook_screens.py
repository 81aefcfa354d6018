"""The runbook screens at 80x24, driven with keys: focus in the rule form, the live progress
line, ABORTED, the confirmation that fits, the audit log's one row per step.

The runbook is the defrag's real plan for the fixed sample cluster, run by a script (fixed
output, a step it waits at, a clock the test sets): what is tested here is the screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.defrag.rule import parse_rule
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.runbook_samples import (
    RUN_ID,
    SampleClock,
    ScriptedDefrag,
    sample_restore_confirmation,
)
from etcdtui.ui.samples import sample_app
from etcdtui.ui.screens.audit import AuditScreen, AuditStepScreen
from etcdtui.ui.screens.confirm import ConfirmScreen
from etcdtui.ui.screens.runbook import RunbookScreen
from etcdtui.ui.widgets.run_log import RunLog
from etcdtui.ui.widgets.tickbox import TickBox

SIZE = (80, 24)


def status(screen: RunbookScreen) -> str:
    return str(screen.query_one("#runbook-status", Static).render())


def states(screen: RunbookScreen) -> list[str]:
    table = screen.query_one("#steps", DataTable)
    return [str(table.get_row(key)[1]) for key in table.rows]


async def until(pilot, done: Callable[[], bool], seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def defrag_screen(runbook: ScriptedDefrag, audit: AuditLog, clock: SampleClock) -> RunbookScreen:
    """The defrag screen with its form; the rule is parsed as the app's factory parses it."""

    def factory(screen: RunbookScreen) -> ScriptedDefrag:
        rule = screen.option_values()["rule"]
        if rule:
            parse_rule(rule)  # a bad rule raises here, as in the app
        return runbook

    return RunbookScreen("Defragmentation · prod", factory, audit, options=True, clock=clock)


async def opened(app: EtcdtuiApp, pilot, screen: RunbookScreen) -> RunbookScreen:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await app.push_screen(screen)
    await until(pilot, lambda: screen.plan is not None)
    await pilot.pause()
    return screen


async def run_it(app: EtcdtuiApp, pilot) -> None:  # type: ignore[no-untyped-def]
    """From the plan: leave the rule, x, type the cluster's name."""
    await pilot.press("escape", "x")
    await pilot.pause()
    assert isinstance(app.screen, ConfirmScreen)
    await pilot.press(*"prod", "enter")
    await pilot.pause()


async def test_defrag_opens_in_the_rule_and_x_types_there_until_esc(tmp_path: Path) -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(
            ScriptedDefrag(), AuditLog(tmp_path / "a.log"), SampleClock()))  # fmt: skip
        rule = screen.query_one("#rule", Input)
        assert app.focused is rule
        assert "Esc leaves the rule first" in status(screen)
        await pilot.press("x")
        assert rule.value == "x" and isinstance(app.screen, RunbookScreen)
        await pilot.press("backspace", "escape")
        assert app.focused is screen.query_one("#steps", DataTable)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        # NO_COLOR: the name to type is not shown as greyed text that reads as typed.
        assert not app.screen.query_one("#confirm-input", Input).placeholder
        await pilot.press("escape")


async def test_a_bad_rule_clears_the_plan_so_x_never_runs_the_old_one(tmp_path: Path) -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(
            ScriptedDefrag(), AuditLog(tmp_path / "a.log"), SampleClock()))  # fmt: skip
        assert screen.query_one("#steps", DataTable).row_count == 9
        await pilot.press(*"dbSze > 1", "enter")
        await pilot.pause()
        assert screen.plan is None and screen.query_one("#steps", DataTable).row_count == 0
        assert status(screen).startswith("CANNOT PLAN: bad rule at column 1: unknown variable")
        preflight = str(screen.query_one("#preflight", Static).render()).splitlines()
        caret = next(line for line in preflight if line.strip() == "^")
        rule_line = preflight[preflight.index(caret) - 1]
        assert rule_line.strip() == "dbSze > 1" and caret.index("^") == rule_line.index("d")
        await pilot.press("escape", "x")
        await pilot.pause()
        assert isinstance(app.screen, RunbookScreen) and not screen.running


async def test_an_edited_rule_is_planned_before_x_can_run(tmp_path: Path) -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(
            ScriptedDefrag(), AuditLog(tmp_path / "a.log"), SampleClock()))  # fmt: skip
        await pilot.press(*"dbSize > 1")  # typed, not submitted
        assert status(screen).startswith("The rule changed")
        screen.set_focus(screen.query_one("#steps", DataTable))  # a click away, say
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, RunbookScreen)  # refused: the plan is for no rule
        screen.set_focus(screen.query_one("#rule", Input))
        await pilot.press("escape")  # leaving the rule plans with it
        await until(pilot, lambda: screen.plan is not None)
        assert screen.option_values()["rule"] == "dbSize > 1"
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)


async def test_progress_line_names_the_step_and_its_time_and_the_table_follows(
    tmp_path: Path,
) -> None:
    runbook, clock = ScriptedDefrag(hold_at=6), SampleClock()
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(
            runbook, AuditLog(tmp_path / "a.log"), clock))  # fmt: skip
        assert status(screen) == (
            f"9 steps planned (run {RUN_ID}): press x to execute (Esc leaves the rule first)"
        )
        await run_it(app, pilot)
        await until(pilot, runbook.holding.is_set)
        await pilot.pause()
        assert status(screen) == "step 6 of 9: defrag node3 (0 s) · a stops after this step"
        clock.now += 12
        await until(pilot, lambda: "(12 s)" in status(screen), seconds=3)  # it ticks
        table = screen.query_one("#steps", DataTable)
        assert table.cursor_row == 5 and states(screen)[5] == "running…"
        assert table.scroll_y > 0  # scrolled to the running step
        assert states(screen)[:5] == ["ok 1.2 s"] * 5
        runbook.release.set()
        await until(pilot, lambda: not screen.running)
        assert status(screen) == (
            f"DONE: all 9 steps ran and the verification passed · run {RUN_ID}"
        )


async def test_an_abort_ends_aborted_not_failed(tmp_path: Path) -> None:
    runbook = ScriptedDefrag(hold_at=3)
    audit = AuditLog(tmp_path / "a.log")
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(runbook, audit, SampleClock()))
        await run_it(app, pilot)
        await until(pilot, runbook.holding.is_set)
        await pilot.press("a")
        assert "stopping after this step" in status(screen)
        runbook.release.set()
        await until(pilot, lambda: not screen.running)
        assert status(screen) == f"ABORTED after 3 of 9 steps (by you) · run {RUN_ID}"
        assert screen.query_one("#runbook-status").has_class("-aborted")
        assert states(screen)[3:] == ["not run"] * 6
        lines = screen.query_one("#log", RunLog).plain_lines
        assert f"defrag: ABORTED (run {RUN_ID})" in lines and not any("FAILED" in x for x in lines)
        await pilot.press("x")  # a plan runs once
        await pilot.pause()
        assert isinstance(app.screen, RunbookScreen)


async def test_a_failed_step_shows_etcds_cause_then_its_output(tmp_path: Path) -> None:
    runbook = ScriptedDefrag(fail_at=3)
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(
            runbook, AuditLog(tmp_path / "a.log"), SampleClock()))  # fmt: skip
        await run_it(app, pilot)
        await until(pilot, lambda: screen.report is not None)
        cause = "discovery failed: listen tcp 10.0.0.12:2380: bind: address already in use"
        lines = screen.query_one("#log", RunLog).plain_lines
        failed = lines.index(f"    FAILED: {cause}")
        assert lines[failed + 1].startswith("      │ etcd on node2: etcd exited at once")
        assert status(screen).startswith("FAILED after 3 of 9 steps: step 3 (defrag-node2")
        assert status(screen).endswith(cause)


async def test_log_lines_wrap_at_80_columns_without_losing_a_character(tmp_path: Path) -> None:
    runbook = ScriptedDefrag(hold_at=3)
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(
            runbook, AuditLog(tmp_path / "a.log"), SampleClock()))  # fmt: skip
        await run_it(app, pilot)
        await until(pilot, runbook.holding.is_set)
        await pilot.pause()
        log = screen.query_one("#log", RunLog)
        width = log.scrollable_content_region.width
        shown = [strip.text for strip in log.lines]
        assert all(len(line.rstrip()) <= width for line in shown)
        written = "".join("".join(line.split()) for line in log.plain_lines)
        assert "".join("".join(line.split()) for line in shown) == written
        assert "(timeout60s)" in written and "endpointhealth" in written
        runbook.release.set()
        await until(pilot, lambda: not screen.running)


async def test_restore_confirmation_fits_80x24_its_warning_stays_and_paths_break_at_slashes() -> (
    None
):
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await app.push_screen(sample_restore_confirmation())
        await pilot.pause()
        dialog = app.screen
        warning = dialog.query_one("#confirm-warning")
        prompt, field = dialog.query_one("#confirm-prompt"), dialog.query_one("#confirm-input")
        for widget in (warning, prompt, field):
            region = widget.region
            assert region.y >= 0 and region.bottom <= SIZE[1] and region.height > 0
        assert app.focused is field
        body = dialog.query_one("#confirm-body")
        assert body.max_scroll_y > 0
        await pilot.press("pagedown")
        assert body.scroll_y > 0 and warning.region.y >= 0  # scrolls; the warning stays
        lines = dialog.query_one("#confirm-commands").broken(72)  # type: ignore[attr-defined]
        run = "20251124T160000Z-3f2a"
        # No ID broken inside: every piece holding part of a run's name holds all of it.
        assert all(run in line for line in lines if "etcdtui-" in line and "20251124" in line)
        assert any(line.rstrip().endswith("/") for line in lines)  # broken after a slash


async def test_checkboxes_read_ticked_or_not_without_colour() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        box = TickBox("compact first")
        await app.screen.mount(box)
        assert box.render().plain.startswith("[ ] compact first")
        box.toggle()
        await pilot.pause()
        assert box.render().plain.startswith("[x] compact first")


async def test_audit_screen_shows_one_row_per_step_with_abort_and_output(tmp_path: Path) -> None:
    runbook = ScriptedDefrag(hold_at=3)
    audit = AuditLog(tmp_path / "a.log")
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(app, pilot, defrag_screen(runbook, audit, SampleClock()))
        await run_it(app, pilot)
        await until(pilot, runbook.holding.is_set)
        await pilot.press("a")
        runbook.release.set()
        await until(pilot, lambda: not screen.running)
        # Then a run that began and never ended (its process killed, say).
        audit.record(cluster="prod", runbook="defrag", run_id="later", step=1,
                     step_id="defrag-node2", target="node2", command="defrag", exit_code=-1,
                     duration=0.0, note="started")  # fmt: skip
        await app.push_screen(AuditScreen(audit))
        await pilot.pause()
        table = app.screen.query_one("#audit", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        # Newest first: the step still open, the abort, steps 3, 2, 1, the plan.
        assert [r[3] for r in rows] == ["running", "aborted", "ok", "ok", "ok", "plan"]
        assert [r[4] for r in rows[1:5]] == ["4 abort", "3 defrag-node2", "2 health-before-node2",
                                             "1 compact"]  # fmt: skip
        assert all(r[1] != "—" for r in rows[1:]) and rows[0][1] == "—"
        assert not any("-1" in r[3] for r in rows)
        table.move_cursor(row=2)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AuditStepScreen)
        shown = str(app.screen.query_one("#audit-step-output", Static).render())
        assert "node2: defragmented" in shown or "defragmented" in shown
        await pilot.press("escape")
        assert isinstance(app.screen, AuditScreen)
