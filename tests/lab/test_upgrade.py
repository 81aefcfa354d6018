"""The rolling upgrade on real 3.4 labs: to 3.5 with a snapshot first, followers before the
leader, resumed after a kill, rolled back when the new binary cannot start, refused in
preflight when the new binary is missing or the target skips a minor."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from etcdtui.lab import LabInfo
from etcdtui.snapshots.catalogue import entry
from tests.helpers.upgrade import (
    audit_rows,
    member_versions,
    point_at_new_etcd,
    put_keys,
    run_upgrade,
    set_node_var,
    upgrade_argv,
    user_keys,
)

KEYS = 200


@pytest.fixture
def lab34(make_lab, tmp_path: Path) -> LabInfo:  # type: ignore[no-untyped-def]
    """A 3-member etcd 3.4 lab whose config names the 3.5 binary, with KEYS keys."""
    info: LabInfo = make_lab(etcd_version="3.4")
    point_at_new_etcd(info, tmp_path / "snapshots")
    put_keys(info, KEYS)
    return info


def leader_of(info: LabInfo) -> str:
    from etcdtui.clients.cluster import ClusterClient
    from tests.helpers.labs import connection_of

    client = ClusterClient(connection_of(info))
    try:
        leader = client.read(metrics=False).leader
    finally:
        client.close()
    assert leader is not None
    return leader.name


def started_order(audit: Path, kind: str = "stop") -> list[str]:
    """The members whose `kind` step started, in the audit log's order."""
    return [r["step_id"].removeprefix(f"{kind}-") for r in audit_rows(audit)
            if r["runbook"] == "upgrade" and r["step_id"].startswith(f"{kind}-")
            and r["note"] == "started"]  # fmt: skip


def test_upgrade_moves_every_member_to_35_followers_first(lab34: LabInfo, tmp_path: Path) -> None:
    leader = leader_of(lab34)
    audit = tmp_path / "audit.log"
    result = run_upgrade(lab34, audit, "--to", "3.5", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(member_versions(lab34).values()) == {"3.5.1"}
    assert "[PASS] cluster version: 3.5" in result.stdout
    assert user_keys(lab34) == KEYS
    saved = list((tmp_path / "snapshots").glob("*-pre-upgrade.db"))
    assert len(saved) == 1 and entry(saved[0], None).problem == ""
    order = started_order(audit)
    assert len(order) == 3 and order[-1] == leader, order


def test_upgrade_killed_after_the_second_member_finishes_on_rerun(
    lab34: LabInfo, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.log"
    proc = subprocess.Popen(upgrade_argv(lab34, audit, "--to", "3.5", "--yes"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the health re-check after the second member: kill it there
        seen.append(line)
        if line.startswith("[11/16]"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    versions = member_versions(lab34)
    assert sorted(versions.values()) == ["3.4.23", "3.5.1", "3.5.1"], versions
    rerun = run_upgrade(lab34, audit, "--to", "3.5", "--yes")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("already runs 3.5.1: skipped") == 2
    assert set(member_versions(lab34).values()) == {"3.5.1"}
    assert user_keys(lab34) == KEYS


def test_missing_new_binary_is_caught_in_preflight_and_nothing_stops(
    lab34: LabInfo, tmp_path: Path
) -> None:
    set_node_var(lab34, "node2", "upgrade_etcd", str(tmp_path / "no-such-etcd"))
    pids = {n.name: lab34.pid(n.name) for n in lab34.members()}
    result = run_upgrade(lab34, tmp_path / "audit.log", "--to", "3.5", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[FAIL] new binary on every node: node2:" in result.stdout
    assert {n.name: lab34.pid(n.name) for n in lab34.members()} == pids
    assert set(member_versions(lab34).values()) == {"3.4.23"}


def test_new_binary_that_exits_is_rolled_back_and_the_run_stops(
    lab34: LabInfo, tmp_path: Path
) -> None:
    broken = tmp_path / "etcd-broken"
    broken.write_text(
        '#!/bin/sh\nif [ "$1" = --version ]; then echo "etcd Version: 3.5.1"; exit 0; fi\n'
        'echo "simulated: the new etcd cannot start" >&2\nexit 1\n'
    )
    broken.chmod(0o755)
    point_at_new_etcd(lab34, tmp_path / "snapshots", str(broken))
    audit = tmp_path / "audit.log"
    result = run_upgrade(lab34, audit, "--to", "3.5.1", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "simulated: the new etcd cannot start; rolled back to 3.4.23" in result.stdout
    assert len(started_order(audit)) == 1  # the run stopped at its first member
    assert set(member_versions(lab34).values()) == {"3.4.23"}
    health = subprocess.run(  # the whole cluster serves again
        ["etcdctl", "endpoint", "health"], env=lab34_env(lab34), capture_output=True,
        text=True, timeout=30, check=False,
    )  # fmt: skip
    assert health.returncode == 0, health.stdout + health.stderr
    assert user_keys(lab34) == KEYS


def lab34_env(info: LabInfo) -> dict[str, str]:
    import os

    return {**os.environ, **info.etcdctl_env()}


def test_skipping_a_minor_is_refused_in_preflight(lab34: LabInfo, tmp_path: Path) -> None:
    pids = {n.name: lab34.pid(n.name) for n in lab34.members()}
    result = run_upgrade(lab34, tmp_path / "audit.log", "--to", "3.6", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[FAIL] version policy: " in result.stdout
    assert "skips a minor version" in result.stdout
    assert {n.name: lab34.pid(n.name) for n in lab34.members()} == pids
