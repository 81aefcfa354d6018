"""`etcdtui repair` against real labs: a corrupted member rebuilt from the majority, and a
repair refused when no majority agrees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from etcdtui.lab import LabInfo
from tests.helpers.consistency import check_json, corrupt, put_values, run_cli, value_of, values_on
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
