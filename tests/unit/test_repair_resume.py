"""A repair rerun after `member remove` finds the member it removed in the audit log."""

from __future__ import annotations

from pathlib import Path

from etcdtui.models.runbook import Step, StepResult
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.membership.steps import MemberKind, RemoveArgs
from etcdtui.runbooks.repair.resume import removal_note, removed_earlier


def record(log: AuditLog, runbook: str, target: str, note: str, exit_code: int = 0) -> None:
    log.record(cluster="prod", runbook=runbook, run_id="r", step=2, step_id="remove",
               target=target, command="POST /v3/cluster/member/remove", exit_code=exit_code,
               duration=0.1, note=note)  # fmt: skip


def test_the_newest_successful_removal_of_the_member_by_a_repair_is_found(
    tmp_path: Path,
) -> None:
    step = Step("remove", MemberKind.REMOVE, "node3", "POST", "why", args=RemoveArgs(0xABC))
    note = removal_note(StepResult(step, True, 0, "", 0.1))
    assert note == '{"member_id": "2748"}'
    log = AuditLog(tmp_path / "audit.log")
    record(log, "repair", "node3", '{"member_id": "1"}')
    record(log, "repair", "node3", note)
    record(log, "repair", "node3", '{"member_id": "2"}', exit_code=1)  # failed: not removed
    record(log, "replace-member", "node3", '{"member_id": "3"}')  # another runbook
    record(log, "repair", "node2", '{"member_id": "4"}')  # another member
    record(log, "repair", "node3", "not json")
    assert removed_earlier(log.path, "prod", "node3") == 0xABC
    assert removed_earlier(log.path, "prod", "node1") is None
    assert removed_earlier(tmp_path / "none.log", "prod", "node3") is None


def test_only_a_remove_step_leaves_a_note() -> None:
    step = Step("add", MemberKind.ADD, "node3", "POST", "why")
    assert removal_note(StepResult(step, True, 0, "", 0.1)) == ""
