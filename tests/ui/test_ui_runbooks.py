"""Runbooks in the TUI, driven with keys against real labs: plan, confirm, run, abort, audit."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from etcdtui.clients.cluster import ClusterClient
from etcdtui.lab import LabInfo
from etcdtui.models import ClusterView
from etcdtui.runbooks.audit import AuditLog
from etcdtui.ui.actions import BY_ID
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.audit import AuditScreen
from etcdtui.ui.screens.confirm import ConfirmScreen
from etcdtui.ui.screens.runbook import RunbookScreen
from tests.helpers.dashboard import first_refresh
from tests.helpers.etcd import etcdctl, fragment, sizes
from tests.helpers.labs import connection_of
from tests.helpers.pilot import run_destructive, wait_done


def states(screen: RunbookScreen) -> list[str]:
    table = screen.query_one("#steps", DataTable)
    return [str(table.get_row(key)[1]) for key in table.rows]


async def open_defrag(app: EtcdtuiApp, pilot) -> RunbookScreen:  # type: ignore[no-untyped-def]
    """The defrag screen, planned, its rule left (Esc) so that keys act on the plan."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("d")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, RunbookScreen)
    assert app.focused is screen.query_one("#rule", Input)  # the screen opens in the rule
    while screen.plan is None:
        await pilot.pause(0.05)
    await pilot.press("escape")
    assert isinstance(app.screen, RunbookScreen)
    return screen


def read_cluster(info: LabInfo) -> ClusterView:
    """One refresh of the lab's cluster, as the dashboard would read it."""
    client = ClusterClient(connection_of(info))
    try:
        return client.read(metrics=False)
    finally:
        client.close()


async def test_defrag_runs_after_confirmation_and_journals_each_step(
    make_lab,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    info: LabInfo = make_lab()
    fragment(info)
    before = sizes(info)
    audit = AuditLog(tmp_path / "audit.log")
    app = EtcdtuiApp(connection_of(info), refresh=60, audit=audit)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_defrag(app, pilot)
        assert not screen.plan.blocked  # type: ignore[union-attr]
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_done(screen, pilot)
        assert screen.report is not None and screen.report.ok, screen.report
        assert all(state.startswith("ok") for state in states(screen))
        await pilot.press("escape", "l")
        await pilot.pause()
        assert isinstance(app.screen, AuditScreen)
        rows = app.screen.query_one("#audit", DataTable).row_count
        assert rows == len(screen.plan.steps) + 1  # type: ignore[union-attr]  # the plan, each step
    after = sizes(info)
    assert all(after[n] < before[n] for n in before)
    lines = [json.loads(line) for line in audit.path.read_text().splitlines()]
    steps = [entry["step"] for entry in lines if entry["note"] != "started"]
    assert steps == list(range(len(steps)))


async def test_destructive_plan_needs_the_cluster_name_typed(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info: LabInfo = make_lab()
    audit = AuditLog(tmp_path / "audit.log")
    app = EtcdtuiApp(connection_of(info), refresh=60, audit=audit)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_defrag(app, pilot)
        screen.query_one("#compact").toggle()  # type: ignore[attr-defined]
        await pilot.pause()
        while screen.plan is None or not screen.plan.destructive:
            await pilot.pause(0.05)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y", "e", "s", "enter")  # not the cluster's name
        await pilot.pause()
        assert not screen.running and not audit.path.exists()
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#confirm-input", Input).value = "lab"
        await pilot.press("enter")
        await wait_done(screen, pilot)
        assert screen.report is not None and screen.report.ok
        assert screen.report.results[0].step.kind == "compact"


async def test_bad_rule_is_a_notification_and_nothing_is_planned(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60, audit=AuditLog(Path("/nonexistent/a")))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_defrag(app, pilot)
        screen.set_focus(screen.query_one("#rule", Input))
        await pilot.press(*"dbSze > 1", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = str(screen.query_one("#preflight", Static).render())
        assert "unknown variable" in text and "column" in text
        assert screen.plan is None
        await pilot.press("escape", "x")  # nothing to execute: no confirmation appears
        await pilot.pause()
        assert isinstance(app.screen, RunbookScreen)


async def test_abort_stops_before_the_next_step_and_ends_aborted(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info: LabInfo = make_lab()
    app = EtcdtuiApp(connection_of(info), refresh=60, audit=AuditLog(tmp_path / "audit.log"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_defrag(app, pilot)
        await pilot.press("x", "y")
        while not states(screen)[0].startswith("ok"):
            await pilot.pause(0.05)
        assert str(screen.query_one("#runbook-status", Static).render()).startswith("step ")
        await pilot.press("q")  # refused while a runbook runs
        await pilot.pause()
        assert app.is_running
        await pilot.press("a")
        await wait_done(screen, pilot)
        status = str(screen.query_one("#runbook-status", Static).render())
    report = screen.report
    assert report is not None and "aborted by the user" in report.stopped
    assert len(report.results) < len(report.plan.steps)
    assert status.startswith(f"ABORTED after {len(report.results)} of {len(report.plan.steps)}")


async def test_nospace_recovery_is_offered_only_with_the_alarm(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info: LabInfo = make_lab(quota_bytes=4 * 1024 * 1024)
    app = EtcdtuiApp(connection_of(info), refresh=60, audit=AuditLog(tmp_path / "audit.log"))
    async with app.run_test(size=(120, 40)) as pilot:
        await first_refresh(app, pilot)
        nospace = BY_ID["recover-nospace"]
        assert app.refusal(nospace) == "no NOSPACE alarm is active: nothing to recover"
        for i in range(64):
            if etcdctl(info, "put", f"/fill/{i}", stdin="x" * 256 * 1024).returncode != 0:
                break
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.refusal(nospace) is None
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, RunbookScreen) and "NOSPACE" in app.screen.title_text


async def test_a_killed_member_is_replaced_from_its_detail(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal

    from etcdtui.ui.screens.detail import MemberDetailScreen
    from etcdtui.ui.screens.picker import ChoicePicker
    from tests.helpers.labs import follower

    info: LabInfo = make_lab(etcd_version="3.5", spares=1)
    victim = follower(info)
    pid = info.pid(victim)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    app = EtcdtuiApp(connection_of(info), refresh=60, audit=AuditLog(tmp_path / "audit.log"))
    async with app.run_test(size=(130, 45)) as pilot:
        await first_refresh(app, pilot)
        table = app.screen.query_one("#members", DataTable)
        names = [str(table.get_row(key)[1]) for key in table.rows]
        table.move_cursor(row=names.index(victim))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemberDetailScreen)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ChoicePicker) and app.screen.choices == ["spare1"]
        await pilot.press("enter")
        await pilot.pause()
        await run_destructive(app, pilot)
    view = read_cluster(info)
    # The removed member's URL stays in the config's endpoints (unreachable, in no member).
    assert sorted(m.name for m in view.voting_members) == sorted(
        [n.name for n in info.members() if n.name != victim] + ["spare1"]
    )
    assert all(m.healthy for m in view.voting_members)


async def test_a_member_added_but_never_started_is_removed_from_its_detail(  # type: ignore[no-untyped-def]
    make_lab, tmp_path: Path
) -> None:
    from etcdtui.clients.etcd import GatewayClient
    from etcdtui.ui.screens.detail import MemberDetailScreen

    info: LabInfo = make_lab(etcd_version="3.5", spares=1)
    import time

    from etcdtui.errors import EtcdError

    gateway = GatewayClient(info.endpoints[0])
    deadline = time.monotonic() + 20
    while True:  # etcd refuses membership changes for a few seconds after the lab starts
        try:
            stuck = gateway.member_add("spare1", (info.node("spare1").peer_url,), False)
            break
        except EtcdError as exc:
            if "unhealthy cluster" not in exc.message or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    gateway.close()
    app = EtcdtuiApp(connection_of(info), refresh=60, audit=AuditLog(tmp_path / "audit.log"))
    async with app.run_test(size=(130, 45)) as pilot:
        await first_refresh(app, pilot)
        table = app.screen.query_one("#members", DataTable)
        keys = [key.value for key in table.rows]
        table.move_cursor(row=keys.index(format(stuck.id, "x")))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemberDetailScreen)
        assert "never started" in str(app.screen.query_one("#detail", Static).render())
        await pilot.press("X")
        await pilot.pause()
        await run_destructive(app, pilot)
    view = read_cluster(info)
    assert stuck.id not in {m.member_id for m in view.members}
    assert len(view.voting_members) == 3 and view.healthy
