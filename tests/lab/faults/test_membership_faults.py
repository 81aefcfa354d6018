"""Faults during a member replacement: quorum lost while the new member catches up, and the
new member's data dir on a full disk. The run stops saying why, the survivors keep every
key, and once the fault is gone the same replacement, run again, finishes."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Lab, Undo
from .helpers import (
    Background,
    cause,
    etcdtui,
    listed,
    member_status,
    read_keys,
    settled,
    signal_member,
    start_member,
    state_of,
    step_record,
    wait_until,
)
from .inject import (
    HOLD_SHELL,
    mount_tmpfs,
    node_hold,
    unmount,
    write_config,
)

# Each scenario starts and breaks a lab of its own.
pytestmark = pytest.mark.slow

MEMBERS = ("node1", "node2", "node3")


def test_quorum_lost_while_the_new_member_catches_up_stops_the_replacement_at_once(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.5", spares=1)
    info, tmp = scenario.info, scenario.tmp
    leader = state_of(info).leader
    assert leader is not None
    victim, other = (n for n in MEMBERS if n != leader)
    signal_member(info, victim, signal.SIGKILL)
    config = write_config(info, tmp / "replace.toml",
                          profile={"start": "{service} start && " + HOLD_SHELL})  # fmt: skip
    hold = node_hold(info, "spare1")
    hold.arm()
    undo(hold.release)
    audit = tmp / "audit.log"
    args = ("replace-member", victim, "--new-node", "spare1", "--config", str(config), "--yes",
            "--audit-log", str(audit))  # fmt: skip
    first = Background(tmp, "first", *args)
    undo(first.stop)
    hold.wait_held(first)
    # The learner runs; now the second follower dies: 1 of 2 voting members is left. The run
    # goes on only once the leader has stepped down, so every catch-up poll meets no quorum.
    signal_member(info, other, signal.SIGKILL)
    wait_until(lambda: int(member_status(info, leader).get("leader", 0)) == 0, 20,
               f"{leader} stepped down")  # fmt: skip
    hold.release()

    assert first.wait() == 1, first.stdout + first.stderr
    assert cause(first.stdout, first.stderr).startswith(
        "STOPPED after 7 of 9 steps: step 7 (catch-up on spare1) failed: quorum lost: "
    )
    catch_up = step_record(audit, "catch-up", started=False)
    assert catch_up is not None
    assert catch_up["duration"] < 30  # it saw the quorum go instead of waiting 120 s
    start_member(info, other)
    listed(info, [leader, other, "spare1"], learners=["spare1"])  # quorum back, not promoted
    assert read_keys(info) == scenario.keys

    again = etcdtui(tmp, *args)

    assert again.returncode == 0, again.stdout + again.stderr
    assert cause(again.stdout, again.stderr) == ""
    settled(info, [leader, other, "spare1"])
    assert read_keys(info, node="spare1", serializable=True) == scenario.keys


def test_new_members_data_dir_on_a_full_disk_stops_at_its_start_and_a_rerun_finishes(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.4", spares=1)
    info, tmp = scenario.info, scenario.tmp
    leader = state_of(info).leader
    victim = next(n for n in MEMBERS if n != leader)
    survivors = sorted(n for n in MEMBERS if n != victim)
    signal_member(info, victim, signal.SIGKILL)
    data = Path(info.node("spare1").data_dir)
    mount_tmpfs(data, "256k")  # etcd preallocates 64 MB of WAL: no room
    undo(lambda: unmount(data))
    args = ("replace-member", victim, "--new-node", "spare1", "--config", scenario.config,
            "--yes", "--audit-log", str(tmp / "audit.log"))  # fmt: skip

    full = etcdtui(tmp, *args)

    assert full.returncode == 1, full.stdout + full.stderr
    first = cause(full.stdout, full.stderr)
    assert first.startswith("STOPPED after 6 of 9 steps: step 6 (start on spare1) failed: ")
    after = state_of(info)  # the learner is registered, never started: quorum untouched
    assert after.members == tuple(sorted([*survivors, "(unstarted)"]))
    assert after.leader in survivors and after.healthy == tuple(survivors)
    assert read_keys(info) == scenario.keys

    unmount(data)
    again = etcdtui(tmp, *args)

    assert again.returncode == 0, again.stdout + again.stderr
    assert cause(again.stdout, again.stderr) == ""
    settled(info, [*survivors, "spare1"])
    assert read_keys(info, node="spare1", serializable=True) == scenario.keys
    # Checked last, so that the run above is still exercised while this fails.
    assert "no space left on device" in first
