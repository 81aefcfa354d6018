"""Every screen fed hostile text from fixed data: no crash, no markup read, no terminal codes;
and a runbook's output on the command line, the same.

The real-etcd side (member names from a running cluster) is in test_hostile_names.py; these
cover what a lab cannot easily produce: errors, notes, alarms, command output, node files,
the audit log and the pickers.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest
from textual.content import Content
from textual.widgets import DataTable, RichLog, Static

from etcdtui.cli import run_runbook
from etcdtui.errors import EtcdtuiError
from etcdtui.models import Alarm, ClusterView, MemberHealth, MemberView
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.models.severity import Severity
from etcdtui.models.text import printable
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import Output
from etcdtui.services import samples
from etcdtui.services.kube.certs import unreadable
from etcdtui.services.kube.inspect import NodeFacts
from etcdtui.services.kube.wiring import KubeFinding
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.samples import sample_app, sample_connection, sample_kube_report
from etcdtui.ui.screens.audit import AuditScreen
from etcdtui.ui.screens.confirm import ConfirmScreen
from etcdtui.ui.screens.detail import MemberDetailScreen
from etcdtui.ui.screens.kube import KubeScreen
from etcdtui.ui.screens.picker import ChoicePicker
from etcdtui.ui.screens.runbook import RunbookScreen
from tests.helpers.dashboard import settle
from tests.helpers.terminal import assert_no_foreign_codes, frame

# Markup that crashes a parser ([/]), markup that styles ([bold]), a variable ($error), an OSC
# title, a clear screen, a bidi override and a trailing backslash.
EVIL = "[/][bold]$error\x1b]0;pwned\x07\x1b[2J\u202e\\"
SHOWN = printable(EVIL)


def hostile_view() -> ClusterView:
    """The NOSPACE sample, every outside string in it made hostile."""
    view = samples.nospace()
    members = []
    for index, member in enumerate(view.members):
        assert member.member is not None
        named = replace(member.member, name=f"{EVIL}{index}",
                        client_urls=(f"http://[fd00::{index + 1}]:2379",))  # fmt: skip
        members.append(replace(member, member=named))
    first = members[0]
    members[0] = replace(first, health=MemberHealth(first.endpoint, False, 0.002, EVIL))
    # An unreachable member with an error from outside.
    members[2] = MemberView(members[2].endpoint, members[2].member, error=f"dial: {EVIL}")
    return replace(view, cluster=EVIL, members=tuple(members), notes=(EVIL,), via="ssh",
                   alarms=(*view.alarms, Alarm(view.members[1].member_id or 0, EVIL)))  # fmt: skip


def hostile_app() -> EtcdtuiApp:
    connection = replace(sample_connection("nospace"), cluster=EVIL)
    return EtcdtuiApp(connection, refresh=3600, source=samples.FixedSource(hostile_view()))


async def test_dashboard_shows_hostile_errors_notes_and_alarms_as_written() -> None:
    app = hostile_app()
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        summary = app.query_one("#summary", Static).render()
        assert isinstance(summary, Content)
        assert f" {SHOWN} · " in summary.plain and f"note: {SHOWN}" in summary.plain
        quota = app.query_one("#quota", Static).render()
        assert isinstance(quota, Content) and f"ALARM {SHOWN} on {SHOWN}1" in quota.plain
        table = app.query_one("#members", DataTable)
        cells = [[str(c) for c in table.get_row(key)] for key in table.rows]
        assert [row[1] for row in cells] == [f"{SHOWN}0", f"{SHOWN}1", f"{SHOWN}2"]
        assert cells[0][10] == "http://[fd00::1]:2379"
        assert cells[2][12] == f"dial: {SHOWN}"
        assert SHOWN in app.sub_title
        assert_no_foreign_codes(frame(app))


async def test_member_detail_of_a_hostile_member_shows_its_error_as_written() -> None:
    app = hostile_app()
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(pilot)
        app.query_one("#members", DataTable).move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MemberDetailScreen)
        detail = app.screen.query_one("#detail", Static).render()
        assert isinstance(detail, Content)
        assert detail.plain.startswith(f"{SHOWN}0  ")
        assert f"Health read     2.0 ms  {SHOWN}" in detail.plain
        assert_no_foreign_codes(frame(app))


class HostileRunbook:
    """A runbook whose plan, output, result and verification all carry hostile text."""

    name = "hostile"
    cluster = EVIL

    def plan(self) -> Plan:
        step = Step("probe", "health", EVIL, f"etcdctl endpoint health {EVIL}", f"why {EVIL}")
        return Plan(self.name, EVIL, (step,), (Check(EVIL, Verdict.PASS, EVIL),), (EVIL,))

    def run_step(self, step: Step, output: Output) -> StepResult:
        output(f"out {EVIL}")
        return StepResult(step, True, 0, f"done {EVIL}", 0.01)

    def verify(self) -> list[Check]:
        return [Check(EVIL, Verdict.PASS, f"fine {EVIL}")]

    def summary(self) -> list[str]:
        return [EVIL]

    def cluster_lock(self) -> None:
        return None  # nothing to lock: it changes nothing


async def test_runbook_screen_plans_and_runs_hostile_text_without_codes(tmp_path: Path) -> None:
    app = sample_app("healthy")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        audit = AuditLog(tmp_path / "audit.log")
        await app.push_screen(RunbookScreen(EVIL, lambda screen: HostileRunbook(), audit))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunbookScreen) and screen.plan is not None
        title = screen.query_one("#runbook-title", Static).render()
        assert isinstance(title, Content) and title.plain == SHOWN
        steps = screen.query_one("#steps", DataTable)
        row = [str(c) for c in steps.get_row_at(0)]
        assert row[2:] == [SHOWN, f"etcdctl endpoint health {SHOWN}"]
        assert_no_foreign_codes(frame(app))
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert_no_foreign_codes(frame(app))
        await pilot.press("y")
        await pilot.pause()
        for _ in range(400):  # the run is a thread worker: done when the screen says so
            if not screen.running:
                break
            await pilot.pause(0.05)
        await settle(pilot)
        log = "\n".join(strip.text for strip in screen.query_one("#log", RichLog).lines)
        assert screen.report is not None and screen.report.ok, log
        squeezed = "".join(log.split())  # the log wraps long lines
        assert f"out{SHOWN}" in squeezed and f"fine{SHOWN}" in squeezed
        assert "\x1b" not in log and "\u202e" not in log
        assert_no_foreign_codes(frame(app))


async def test_a_plan_that_fails_with_hostile_text_is_reported_not_crashed() -> None:
    def fail(screen: RunbookScreen) -> HostileRunbook:
        raise EtcdtuiError(f"no plan: {EVIL}")

    app = sample_app("healthy")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.push_screen(RunbookScreen("t", fail, AuditLog(Path("/nonexistent/a.log"))))
        await settle(pilot)
        preflight = app.screen.query_one("#preflight", Static).render()
        assert isinstance(preflight, Content)
        assert preflight.plain == f"Cannot plan: no plan: {SHOWN}"
        await pilot.pause(0.2)  # the toast is drawn
        assert_no_foreign_codes(frame(app))


async def test_kube_screen_shows_hostile_node_files_as_written() -> None:
    report = sample_kube_report()
    facts = (NodeFacts(EVIL, error=f"cat: {EVIL}"), *report.facts[1:])
    wiring = (KubeFinding(EVIL, "etcd-servers", Severity.CRITICAL, f"{EVIL}: bad", f"fix {EVIL}"),)
    certs = (unreadable(EVIL, EVIL, f"/etc/{EVIL}", f"denied {EVIL}"),)
    hostile = replace(report, facts=facts, wiring=wiring, certs=certs)
    app = sample_app("healthy")
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        connection = replace(sample_connection(), cluster=EVIL)
        await app.push_screen(KubeScreen(connection, lambda: hostile))
        await settle(pilot)
        table = app.screen.query_one("#kube-wiring", DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[0] == SHOWN and first[4] == f"bad\n→ fix {SHOWN}"  # node prefix cut
        certs_table = app.screen.query_one("#kube-certs", DataTable)
        assert f"/etc/{SHOWN}" in str(certs_table.get_row_at(0)[2])
        assert SHOWN in str(app.screen.sub_title)
        assert_no_foreign_codes(frame(app))


async def test_pickers_and_confirmations_show_hostile_names_as_text() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.push_screen(ChoicePicker(f"Replace {EVIL} with which node?", [EVIL, "cp2"]))
        await settle(pilot)
        assert_no_foreign_codes(frame(app))
        await pilot.press("escape")
        await settle(pilot)
        await app.push_screen(ConfirmScreen(f"Run on {EVIL}?\nsecond line", require=EVIL))
        await settle(pilot)
        question = app.screen.query_one("#confirm-question", Static).render()
        assert isinstance(question, Content)
        assert question.plain == f"Run on {SHOWN}?\nsecond line"
        assert_no_foreign_codes(frame(app))
        await pilot.press("n", "o", "enter")  # a wrong answer: a notification quoting the name
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)
        assert_no_foreign_codes(frame(app))


async def test_audit_screen_shows_hostile_commands_as_text(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    audit.record(cluster=EVIL, runbook="defrag", run_id="r1", step=1, step_id="s1",
                 target=EVIL, command=f"etcdctl {EVIL}", exit_code=0, duration=0.1)  # fmt: skip
    app = sample_app("healthy")
    app.audit = audit
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        table = app.screen.query_one("#audit", DataTable)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[2] == SHOWN and row[5] == SHOWN and row[8] == f"etcdctl {SHOWN}"
        assert_no_foreign_codes(frame(app))


def test_cli_runbook_output_holds_no_control_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--yes` on the command line: plan, live output, report, all printable."""
    args = argparse.Namespace(
        dry_run=False, yes=True, break_lock=False, audit_log=str(tmp_path / "audit.log")
    )
    assert run_runbook(HostileRunbook(), args) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert f"[1/1] {SHOWN}: etcdctl endpoint health {SHOWN}" in out
    assert f"    out {SHOWN}" in out
