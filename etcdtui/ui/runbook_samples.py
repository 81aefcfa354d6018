"""Runbook screens fed with fixed data, for screenshots and snapshot tests: a defrag stopped
mid-run at a known step, and the defrag's and the restore's confirmations.

Nothing here talks to a cluster or a node. The scripted defrag runs its steps with fixed
output, waits at the step it is told to (until released), and reads a clock the caller sets,
so a picture of it never drifts.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Plan, Step, StepResult, Verdict
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.restore.journal import NodePaths, RestoreOptions, SnapshotFacts
from etcdtui.runbooks.restore.steps import restore_steps
from etcdtui.services import samples
from etcdtui.ui.samples import sample_connection
from etcdtui.ui.screens.confirm import ConfirmScreen
from etcdtui.ui.screens.runbook import RunbookScreen
from etcdtui.ui.screens.runbook_parts import confirmation

RUN_ID = "20251124T160000Z-3f2a"
_OUTPUT = {
    "health": "healthy: 3 members, leader node1",
    "defrag": "defragmented: 409 MB -> 322 MB",
    "wait": "waited 5 s",
    "compact": "compacted to revision 48213907",
}


class SampleClock:
    """A clock that stands still until told: `now` seconds."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedDefrag:
    """The defrag's plan for the healthy sample cluster (compaction first: 9 steps), run with
    fixed output. `hold_at` (a step number) waits for `release` before that step ends;
    `fail_at` fails that step with etcd's own JSON log lines, as a node would hand them back.
    """

    name = "defrag"
    cluster = "prod"
    run_id = RUN_ID

    def __init__(self, hold_at: int = 0, fail_at: int = 0) -> None:
        self.hold_at = hold_at
        self.fail_at = fail_at
        self.release = threading.Event()
        self.holding = threading.Event()  # set once the held step has started

    def plan(self) -> Plan:
        options = DefragOptions(compact=True)
        runbook = DefragRunbook(sample_connection(), None, options)  # type: ignore[arg-type]
        view = samples.healthy()
        members = tuple(
            replace(m, status=replace(m.status, revision=48_213_907)) if m.status else m
            for m in view.members
        )
        return runbook.plan_from(replace(view, members=members))  # no I/O: a fixed view

    def run_step(self, step: Step, output: Output) -> StepResult:
        index = next(i for i, s in enumerate(self.plan().steps, start=1) if s.id == step.id)
        if index == self.fail_at:
            text = (
                "etcd on node2: etcd exited at once; the end of /var/log/etcd.log:\n"
                '{"level":"warn","msg":"failed to start etcd",'
                '"error":"listen tcp 10.0.0.12:2380: bind: address already in use"}\n'
                '{"level":"fatal","msg":"discovery failed",'
                '"error":"listen tcp 10.0.0.12:2380: bind: address already in use"}'
            )
            raise EtcdtuiError(text)
        line = _OUTPUT.get(step.kind, "done")
        output(f"{step.target}: {line}")
        if index == self.hold_at:
            self.holding.set()
            self.release.wait(timeout=60)
        return StepResult(step, True, 0, line, 1.2)

    def verify(self) -> list[Check]:
        return [Check("cluster healthy", Verdict.PASS, "every member healthy, one leader")]

    def summary(self) -> list[str]:
        return ["node2: 409 MB -> 322 MB in 1.2 s"]

    def cluster_lock(self) -> None:
        return None  # a sample takes no lock


def sample_audit() -> AuditLog:
    """A fresh audit log in a private temporary folder (the engine records every step)."""
    return AuditLog(Path(tempfile.mkdtemp(prefix="etcdtui-sample-")) / "audit.log")


class ScriptedScreen(RunbookScreen):
    """The defrag screen (with its rule form) over a scripted run; closing it lets a held
    step end, so that no worker outlives the picture."""

    def __init__(self, runbook: ScriptedDefrag, audit: AuditLog, clock: SampleClock) -> None:
        super().__init__("Defragmentation · prod · followers first, leader last",
                         lambda screen: runbook, audit, options=True, clock=clock)  # fmt: skip
        self.scripted = runbook

    def on_unmount(self) -> None:
        self.scripted.release.set()


def scripted_screen(
    runbook: ScriptedDefrag, audit: AuditLog | None = None, clock: SampleClock | None = None
) -> RunbookScreen:
    """The defrag screen (with its rule form) over a scripted run."""
    return ScriptedScreen(runbook, audit or sample_audit(), clock or SampleClock())


async def defrag_mid_run(pilot: Pilot[Any]) -> RunbookScreen:
    """Open the scripted defrag on `pilot`'s app, execute it, and leave it running step 6 of
    9 (defrag node3) for 12 seconds: the screenshot of a runbook mid-run."""
    runbook, clock = ScriptedDefrag(hold_at=6), SampleClock()
    screen = scripted_screen(runbook, clock=clock)
    await pilot.app.push_screen(screen)
    while screen.plan is None:
        await pilot.pause(0.05)
    await pilot.press("escape", "x")  # leave the rule, execute
    await pilot.pause()
    await pilot.press(*screen.plan.cluster, "enter")  # the name the confirmation asks for
    while not runbook.holding.is_set():
        await pilot.pause(0.05)
    clock.now += 12
    await pilot.pause(0.2)
    screen.refresh_progress()
    await pilot.pause()
    return screen


def sample_defrag_confirmation() -> ConfirmScreen:
    """The defrag's confirmation with compaction (a destructive step): the name to type."""
    return confirmation(ScriptedDefrag().plan())


def sample_restore_plan() -> Plan:
    """Every member of the sample cluster restored from a fixed snapshot (static pods, sudo,
    a kube-apiserver on each node)."""
    base = sample_connection()
    connection = replace(base, nodes=tuple(replace(n, apiserver=True) for n in base.nodes))
    nodes = connection.nodes
    facts = SnapshotFacts(
        path="/var/backups/etcd/prod-20251124-020000.db", sha256="9f" * 32, size=1_845_493_760,
        revision=48_213_907, total_keys=1_204_873, live_keys=190_412, hash=0x8F3A21C4,
        cluster_version="3.5.0", digest="ok", encrypted=False,
    )  # fmt: skip
    paths = {
        n.name: NodePaths.for_run(n.name, n.member_name, n.data_dir, RUN_ID, True, True)
        for n in nodes
    }
    token = f"etcdtui-restore-{RUN_ID}"
    steps = restore_steps(connection, RestoreOptions(), nodes, nodes, paths, {}, facts, token,
                          1_000_000_000)  # fmt: skip
    return Plan("restore", connection.cluster, tuple(steps), notes=(f"run {RUN_ID}",))


def sample_restore_confirmation() -> ConfirmScreen:
    """The restore's confirmation: long commands and paths, a warning that stays in view."""
    return confirmation(sample_restore_plan())
