"""`etcdtui repair` against real labs: a corrupted member rebuilt from the majority, and a
repair refused when no majority agrees."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from etcdtui.lab import LabInfo
from etcdtui.runbooks.audit import AuditLog
from tests.helpers.consistency import (
    activate_corrupt_alarm,
    check_json,
    corrupt,
    enable_corrupt_check,
    put_values,
    repair_argv,
    repair_stopped_after,
    run_cli,
    value_of,
    values_on,
    wait_corrupt_alarm,
)
from tests.helpers.membership import etcdctl


def member_ids(info: LabInfo) -> dict[str, str]:
    out = etcdctl(info, "member", "list", "-w", "simple")
    return {line.split(", ")[2]: line.split(", ")[0] for line in out.splitlines() if line}


def test_repair_rebuilds_the_corrupted_member_with_every_value(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab()
    written = put_values(info)
    corrupt(info, "node3", value_of(11))
    assert values_on(info.node("node3").client_url, [b"consistency/0011"]) != {
        b"consistency/0011": value_of(11)
    }
    before = member_ids(info)
    code, out = run_cli(
        "repair",
        "node3",
        "--config",
        str(info.config_path),
        "--cluster",
        info.cluster,
        "--yes",
        "--audit-log",
        str(tmp_path / "audit.log"),
    )
    assert code == 0, out
    assert "every member's hash agrees" in out
    after = member_ids(info)
    assert after["node3"] != before["node3"] and after["node1"] == before["node1"]
    code, data = check_json(info)
    assert code == 0, data
    for node in info.members():
        assert values_on(node.client_url, list(written)) == written, node.name
    data_dir = Path(info.node("node3").data_dir)
    assert any(p.name.startswith("data.etcdtui-removed-") for p in data_dir.parent.iterdir())


def test_repair_without_a_majority_is_refused_and_changes_nothing(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab()
    put_values(info)
    corrupt(info, "node2", value_of(3), b"X")
    corrupt(info, "node3", value_of(5), b"Y")
    before = member_ids(info)
    code, out = run_cli(
        "repair",
        "node2",
        "--config",
        str(info.config_path),
        "--cluster",
        info.cluster,
        "--yes",
        "--audit-log",
        str(tmp_path / "audit.log"),
    )
    assert code == 1, out
    assert "no majority agrees" in out and "restoring from a snapshot" in out
    assert member_ids(info) == before
    assert (
        not (tmp_path / "audit.log").exists()
        or "disarm" not in (tmp_path / "audit.log").read_text()
    )
    node_dir = Path(info.node("node2").data_dir).parent
    assert not any(p.name.startswith("data.etcdtui-") for p in node_dir.iterdir())


def test_repair_of_an_agreeing_member_is_refused(make_lab: Callable[..., LabInfo]) -> None:
    info = make_lab()
    put_values(info)
    code, out = run_cli("repair", "node1", "--config", str(info.config_path), "--cluster",
                        info.cluster, "--dry-run")  # fmt: skip
    assert code == 1
    assert "agrees with the majority: nothing to repair" in out


def test_repair_stopped_after_member_remove_continues_on_rerun(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab()
    written = put_values(info)
    corrupt(info, "node3", value_of(7))
    before = member_ids(info)
    audit = tmp_path / "audit.log"
    stopped = repair_stopped_after(info, "node3", "remove", audit)
    assert "aborted" in stopped
    assert "node3" not in member_ids(info)
    # The member list no longer names node3: the audit log says a repair removed it.
    code, out = run_cli(*repair_argv(info, "node3", audit, "--dry-run"))
    assert code == 0, out
    assert f"node3 ({before['node3']}) was removed by an earlier repair" in out
    assert "member/remove" not in out and "stop-old" not in out
    code, out = run_cli(*repair_argv(info, "node3", audit, "--yes"))
    assert code == 0, out
    assert "every member's hash agrees" in out
    after = member_ids(info)
    assert set(after) == {"node1", "node2", "node3"} and after["node3"] != before["node3"]
    code, data = check_json(info)
    assert code == 0, data
    for node in info.members():
        assert values_on(node.client_url, list(written)) == written, node.name


def test_a_member_missing_without_an_earlier_repair_is_a_usage_error(
    make_lab: Callable[..., LabInfo], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = make_lab()
    node3 = member_ids(info)["node3"]
    # Right after the lab starts, etcd refuses a removal for a few seconds ("unhealthy").
    deadline = time.monotonic() + 30
    while True:
        try:
            etcdctl(info, "member", "remove", node3)
            break
        except subprocess.CalledProcessError as exc:
            # etcdctl retries a call that timed out: a retry that finds the member gone
            # means an earlier try removed it.
            if "member not found" in exc.stderr:
                break
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    code, _ = run_cli(*repair_argv(info, "node3", tmp_path / "audit.log", "--dry-run"))
    assert code == 2
    assert "no earlier repair removed it" in capsys.readouterr().err


def test_repair_disarms_the_corrupt_alarm_etcd_raised_for_the_member(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab()
    written = put_values(info)
    enable_corrupt_check(info)
    corrupt(info, "node3", value_of(11))
    before = member_ids(info)
    # etcd's own periodic check (the leader compares its peers' HashKV) raises CORRUPT
    # naming no member (ID 0); some etcd releases name the member: that one through the API.
    assert wait_corrupt_alarm(info.node("node1").client_url) == {0}
    activate_corrupt_alarm(info.node("node1").client_url, int(before["node3"], 16))
    audit = tmp_path / "audit.log"
    code, out = run_cli(*repair_argv(info, "node3", audit, "--dry-run"))
    assert code == 0, out
    assert f'"memberID": "{int(before["node3"], 16)}", "alarm": "CORRUPT"' in out
    assert '"memberID": "0", "alarm": "CORRUPT"' in out
    code, out = run_cli(*repair_argv(info, "node3", audit, "--yes"))
    assert code == 0, out
    said = {e.step_id: e.output_tail for e in AuditLog(audit).recent() if e.exit_code == 0}
    assert said["disarm-corrupt"] == f"disarmed CORRUPT on {before['node3']}"
    assert said["disarm-corrupt-unnamed"] == "disarmed CORRUPT on 0"
    assert "every member's hash agrees" in out
    for node in info.members():
        assert etcdctl(info, "alarm", "list", endpoint=node.client_url).strip() == "", node.name
        assert values_on(node.client_url, list(written)) == written, node.name
    etcdctl(info, "put", "consistency/after-repair", "writes are taken again")
    code, data = check_json(info)
    assert code == 0, data
