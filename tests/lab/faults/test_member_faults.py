"""Members SIGKILLed or frozen (SIGSTOP) in the middle of a defrag run, and the leader moved
while the run waits between members: the run stops at its next health step, saying why, and
no key is lost.

The fault is injected from the engine's own event for the end of the first member's defrag
(synchronously: the next step cannot start before the fault is in place), and, when the
leader is the victim, only once the survivors have elected another: the health step then
always meets the same cluster.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import load_connection
from etcdtui.lab import LabInfo
from etcdtui.models.runbook import RunReport
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook
from etcdtui.runbooks.engine import Event, execute

from .conftest import Lab, Undo
from .helpers import (
    Background,
    cause,
    etcdctl,
    member_status,
    read_keys,
    settled,
    signal_member,
    start_member,
    state_of,
    wait_new_leader,
    wait_step,
)

# Each scenario starts and breaks a lab of its own.
pytestmark = pytest.mark.slow

MEMBERS = ("node1", "node2", "node3")


@contextmanager
def defrag_runbook(info: LabInfo) -> Iterator[DefragRunbook]:
    """Defrag of every member, in-process, 0.2 s between members."""
    connection = load_connection(info.config_path, info.cluster)
    client = ClusterClient(connection)
    try:
        yield DefragRunbook(connection, client, DefragOptions(wait=0.2))
    finally:
        client.close()


def run_with_fault(
    lab: Lab, fault: Callable[[list[str]], object]
) -> tuple[RunReport, list[str], str]:
    """Defragment every member; `fault(order)` runs when the first member's defrag is done.
    The report, the planned order (leader last) and the leader before the run."""
    with defrag_runbook(lab.info) as runbook:
        plan = runbook.plan()
        order = [s.target for s in plan.steps if s.kind == "defrag"]
        leader = order[-1]

        def on_event(event: Event) -> None:
            step = event.step
            if event.kind == "result" and step is not None and step.id == f"defrag-{order[0]}":
                fault(order)

        report = execute(runbook, plan, AuditLog(lab.tmp / "audit.log"), on_event=on_event)
    return report, order, leader


def defragmented(report: RunReport) -> list[str]:
    """The members the run defragmented, in order."""
    return [r.step.target for r in report.results if r.step.kind == "defrag" and r.ok]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["SIGKILL", "SIGSTOP"])
def test_follower_lost_mid_defrag_stops_at_the_health_step_and_loses_nothing(
    lab: Callable[..., Lab], undo: Undo, sig: signal.Signals
) -> None:
    scenario = lab(etcd_version="3.5")
    info = scenario.info
    victims: list[str] = []

    def fault(order: list[str]) -> None:
        victims.append(order[1])  # the follower whose turn is next
        pid = signal_member(info, order[1], sig)
        if sig == signal.SIGSTOP:
            undo(lambda: os.kill(pid, signal.SIGCONT))

    report, order, leader = run_with_fault(scenario, fault)
    (victim,) = victims
    assert not report.ok
    problem = "connection refused" if sig == signal.SIGKILL else "timed out after 2.0 s"
    assert report.stopped.splitlines()[0] == (
        f"step 4 (health-before-{victim} on {victim}) failed: unhealthy now: {victim} "
        f"({info.node(victim).client_url}: {problem}): stopping"
    )
    assert defragmented(report) == [order[0]]  # the victim and the leader never paused
    after = state_of(info)
    assert after.members == MEMBERS and after.leader == leader
    assert after.healthy == tuple(sorted(set(MEMBERS) - {victim}))
    assert read_keys(info) == scenario.keys
    # Back again, the member has every key too.
    if sig == signal.SIGSTOP:
        os.kill(info.pid(victim), signal.SIGCONT)  # type: ignore[arg-type]
    else:
        start_member(info, victim)
    assert settled(info, MEMBERS).leader == leader
    assert read_keys(info, node=victim, serializable=True) == scenario.keys


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["SIGKILL", "SIGSTOP"])
def test_leader_lost_mid_defrag_stops_because_the_leader_changed(
    lab: Callable[..., Lab], undo: Undo, sig: signal.Signals
) -> None:
    scenario = lab(etcd_version="3.4")
    info = scenario.info
    elected: list[str] = []

    def fault(order: list[str]) -> None:
        pid = signal_member(info, order[-1], sig)
        if sig == signal.SIGSTOP:
            undo(lambda: os.kill(pid, signal.SIGCONT))
        elected.append(wait_new_leader(info, order[-1], order[:-1]))

    report, order, leader = run_with_fault(scenario, fault)
    (new_leader,) = elected
    assert not report.ok
    assert report.stopped.splitlines()[0] == (
        f"step 4 (health-before-{order[1]} on {order[1]}) failed: the leader changed to "
        f"{new_leader} since the plan: plan again"
    )
    assert defragmented(report) == [order[0]]
    after = state_of(info)
    assert after.members == MEMBERS and after.leader == new_leader
    assert leader not in after.healthy and len(after.healthy) == 2
    assert read_keys(info) == scenario.keys
    if sig == signal.SIGSTOP:
        os.kill(info.pid(leader), signal.SIGCONT)  # type: ignore[arg-type]
    else:
        start_member(info, leader)
    settled(info, MEMBERS)
    assert read_keys(info, node=leader, serializable=True) == scenario.keys


def test_leader_moved_during_the_wait_stops_the_run_at_its_health_step(
    lab: Callable[..., Lab], undo: Undo, tmp_path: Path
) -> None:
    scenario = lab(etcd_version="3.5")
    info = scenario.info
    before = state_of(info)
    assert before.leader is not None
    audit = tmp_path / "audit.log"
    run = Background(tmp_path, "defrag", "defrag", "--config", scenario.config, "--yes",
                     "--wait", "2", "--audit-log", str(audit))  # fmt: skip
    undo(run.stop)
    # The first wait between members: its target is the follower just defragmented.
    first = wait_step(audit, "wait-after-", run=run, prefix=True)["target"]
    target = next(n for n in MEMBERS if n not in (before.leader, first))
    target_id = int(member_status(info, target)["header"]["member_id"])
    # Frozen while leadership moves, so the wait cannot end before the move is done.
    os.kill(run.proc.pid, signal.SIGSTOP)
    undo(lambda: os.kill(run.proc.pid, signal.SIGCONT))
    etcdctl(info, "move-leader", f"{target_id:x}", node=before.leader)
    os.kill(run.proc.pid, signal.SIGCONT)

    assert run.wait() == 1, run.stdout + run.stderr
    assert cause(run.stdout, run.stderr) == (
        f"STOPPED after 4 of 8 steps: step 4 (health-before-{target} on {target}) failed: "
        f"the leader changed to {target} since the plan: plan again"
    )
    assert "defrag: FAILED" in run.stdout
    assert settled(info, MEMBERS).leader == target
    assert read_keys(info) == scenario.keys
