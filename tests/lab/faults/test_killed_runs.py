"""etcdtui itself SIGKILLed in the middle of a runbook, then the same command run again: the
rerun finishes the job, the cluster ends healthy and no key is lost.

Each run is the real `etcdtui` process, killed while a known step runs: a node-side command
that holds at a known point (it leaves a `.held` file and waits while a `.hold` file exists),
or the pause between two members. So the kill always lands inside that step, never a little
before or after it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from etcdtui.lab import LabInfo

from .conftest import Lab, Undo
from .helpers import (
    Background,
    audit_entries,
    cause,
    etcdctl,
    etcdtui,
    listed,
    read_keys,
    settled,
    signal_member,
    state_of,
    wait_step,
)
from .inject import (
    AFTER_SNAPSHOT,
    HOLD_SHELL,
    apiserver_marks,
    held_etcdctl,
    node_hold,
    restore_setup,
    write_config,
)

# Each scenario starts and breaks a lab of its own.
pytestmark = pytest.mark.slow

MEMBERS = ("node1", "node2", "node3")


def ran_ok(audit: Path, run_id: str, kind: str) -> list[str]:
    """The targets of `run_id`'s steps whose id starts with `kind` and that succeeded."""
    return [e["target"] for e in audit_entries(audit)
            if e["run_id"] == run_id and e["step_id"].startswith(kind) and e["note"] != "started"
            and e["ok"]]  # fmt: skip


def last_run(audit: Path) -> str:
    """The run that wrote the audit log's last record."""
    return str(audit_entries(audit)[-1]["run_id"])


def step_result(audit: Path, run_id: str, step_id: str) -> dict[str, object] | None:
    """The result record of `run_id`'s step `step_id` (None if it never finished)."""
    return next((e for e in audit_entries(audit) if e["run_id"] == run_id
                 and e["step_id"] == step_id and e["note"] != "started"), None)  # fmt: skip


def test_etcdtui_killed_inside_a_members_defrag_then_rerun_defragments_all(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.5")
    info, tmp = scenario.info, scenario.tmp
    holds = [node_hold(info, n) for n in MEMBERS]
    config = write_config(
        info,
        tmp / "held.toml",
        node_vars={n: {"etcdctl": held_etcdctl(info, n, tmp)} for n in MEMBERS},
    )
    audit = tmp / "audit.log"
    args = ("defrag", "--config", str(config), "--on-node", "--yes", "--wait", "0.2",
            "--audit-log", str(audit))  # fmt: skip
    for hold in holds:
        hold.arm()
        undo(hold.release)
    first = Background(tmp, "first", *args)
    undo(first.stop)
    started = wait_step(audit, "defrag-", run=first, prefix=True)
    member = started["target"]
    node_hold(info, member).wait_held(first)  # its etcdctl defrag is done, the step is not
    assert first.kill() == -signal.SIGKILL
    for hold in holds:
        hold.release()
    assert step_result(audit, started["run_id"], f"defrag-{member}") is None  # cut short

    again = etcdtui(tmp, *args)

    assert again.returncode == 0, again.stdout + again.stderr
    assert cause(again.stdout, again.stderr) == ""
    assert "defrag: DONE" in again.stdout and "[PASS] no key lost" in again.stdout
    assert sorted(ran_ok(audit, last_run(audit), "defrag-")) == list(MEMBERS)
    settled(info, MEMBERS)
    assert read_keys(info) == scenario.keys


def fill_to_nospace(info: LabInfo) -> None:
    """Write 256 KiB values until the quota raises NOSPACE, then delete them: the space is
    free again inside the file, but the alarm stays until someone disarms it."""
    for i in range(64):
        if etcdctl(info, "put", f"fill/{i}", stdin="x" * 256 * 1024, check=False).returncode:
            break
    assert "NOSPACE" in etcdctl(info, "alarm", "list").stdout
    etcdctl(info, "del", "fill/", "--prefix")


def test_nospace_recovery_killed_after_its_compaction_is_finished_by_a_rerun(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.5", quota_bytes=4 * 1024 * 1024)
    info, tmp = scenario.info, scenario.tmp
    fill_to_nospace(info)
    audit = tmp / "audit.log"
    args = ("recover-nospace", "--config", scenario.config, "--yes", "--audit-log", str(audit))
    first = Background(tmp, "first", *args)
    undo(first.stop)
    # Compacted, one member defragmented, now in the 5 s wait before the next: killed there.
    wait_step(audit, "wait-after-", run=first, prefix=True)
    assert first.kill() == -signal.SIGKILL
    assert set(state_of(info).alarms) == {"NOSPACE"}  # still read-only: nothing disarmed it
    compacted = step_result(audit, last_run(audit), "compact")
    assert compacted is not None and compacted["ok"]

    again = etcdtui(tmp, *args)

    assert again.returncode == 0, again.stdout + again.stderr
    assert cause(again.stdout, again.stderr) == ""
    rerun = last_run(audit)
    compact = step_result(audit, rerun, "compact")
    assert compact is not None and "already compacted to revision" in str(compact["output_tail"])
    assert sorted(ran_ok(audit, rerun, "defrag-")) == list(MEMBERS)
    assert "[PASS] no alarm" in again.stdout
    assert settled(info, MEMBERS).alarms == ()
    assert read_keys(info) == scenario.keys
    etcdctl(info, "put", "faults/written-after", "yes")  # writable again


def kill_restore_at_etcd_stop(scenario: Lab, undo: Undo) -> tuple[Path, Path]:
    """Run a restore and SIGKILL it while node2's etcd stop runs (node1's already stopped)."""
    info, tmp = scenario.info, scenario.tmp
    snapshot, config = restore_setup(info, tmp, "node2")
    hold = node_hold(info, "node2")
    undo(hold.release)
    audit = tmp / "audit.log"
    first = Background(tmp, "first", "restore", str(snapshot), "--config", str(config), "--yes",
                       "--audit-log", str(audit))  # fmt: skip
    undo(first.stop)
    wait_step(audit, "etcd-stop-node2", run=first)
    hold.wait_held(first)
    assert first.kill() == -signal.SIGKILL
    hold.release()
    assert info.pid("node1") is None and info.pid("node2") is None  # quorum is gone
    return snapshot, config


def test_etcdtui_killed_mid_restore_then_resumed_restores_every_member(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.5")
    info, tmp = scenario.info, scenario.tmp
    snapshot, config = kill_restore_at_etcd_stop(scenario, undo)
    keys = scenario.keys
    common = ("--config", str(config), "--audit-log", str(tmp / "audit.log"))
    # A new restore is refused while this one is unsettled.
    fresh = etcdtui(tmp, "restore", str(snapshot), *common, "--yes")
    assert fresh.returncode == 2, fresh.stdout + fresh.stderr
    assert "stopped halfway" in cause(fresh.stdout, fresh.stderr)
    assert "[CUT SHORT] etcd-stop-node2" in fresh.stdout
    assert "interrupted (pid gone)" in fresh.stdout  # not "running": its process is dead

    # As the README says it: the journal names the snapshot, FILE is not needed.
    resumed = etcdtui(tmp, "restore", "--resume", *common, "--yes")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert cause(resumed.stdout, resumed.stderr) == ""
    assert settled(info, MEMBERS).alarms == ()
    assert read_keys(info) == keys  # the snapshot's keys, not the one written after it
    for name in MEMBERS:
        assert read_keys(info, node=name, serializable=True) == keys
        kept = list(info.node(name).node_dir.glob("data.etcdtui-before-restore-*"))
        assert len(kept) == 1 and (kept[0] / "member").is_dir(), name
    assert apiserver_marks(info) == ["stopped", "started"]


def test_etcdtui_killed_mid_restore_then_rolled_back_keeps_every_key_of_before(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.4")
    info, tmp = scenario.info, scenario.tmp
    kill_restore_at_etcd_stop(scenario, undo)
    before = {**scenario.keys, AFTER_SNAPSHOT: "gone once restored"}

    back = etcdtui(tmp, "restore", "--rollback", "--config", str(tmp / "restore.toml"),
                   "--audit-log", str(tmp / "audit.log"), "--yes")  # fmt: skip

    assert back.returncode == 0, back.stdout + back.stderr
    assert cause(back.stdout, back.stderr) == ""
    assert settled(info, MEMBERS).alarms == ()
    assert read_keys(info) == before  # rolled back: the write after the snapshot is there
    for name in MEMBERS:  # nothing was restored: every member kept its own data dir
        assert (Path(info.node(name).data_dir) / "member").is_dir()
        assert not list(info.node(name).node_dir.glob("data.etcdtui-before-restore-*"))
    assert apiserver_marks(info) == ["stopped", "started"]


def test_etcdtui_killed_mid_replacement_then_rerun_finishes_it(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.5", spares=1)
    info, tmp = scenario.info, scenario.tmp
    victim = next(n for n in MEMBERS if n != state_of(info).leader)
    survivors = [n for n in MEMBERS if n != victim]
    signal_member(info, victim, signal.SIGKILL)
    profile = {"start": "{service} start && " + HOLD_SHELL}
    config = write_config(info, tmp / "replace.toml", profile=profile)
    hold = node_hold(info, "spare1")
    hold.arm()
    undo(hold.release)
    audit = tmp / "audit.log"
    args = ("replace-member", victim, "--new-node", "spare1", "--config", str(config), "--yes",
            "--audit-log", str(audit))  # fmt: skip
    first = Background(tmp, "first", *args)
    undo(first.stop)
    wait_step(audit, "start", run=first)
    hold.wait_held(first)  # etcd runs on spare1 as a learner; the step has not returned
    assert first.kill() == -signal.SIGKILL
    hold.release()
    between = listed(info, [*survivors, "spare1"], learners=["spare1"])
    assert between.leader in survivors

    again = etcdtui(tmp, *args)

    assert again.returncode == 0, again.stdout + again.stderr
    assert cause(again.stdout, again.stderr) == ""
    assert f"{victim} already removed: continuing" in again.stdout
    settled(info, [*survivors, "spare1"])
    assert read_keys(info) == scenario.keys
    assert read_keys(info, node="spare1", serializable=True) == scenario.keys
