"""A repair cut short after `member remove`, continued by running the same command again.

Once the member is removed, nothing in the cluster says it was ever there: the audit log
does. The remove step's audit line carries its arguments (the removed member's ID) as a note,
so a rerun knows that this member was taken out by a repair, and which CORRUPT alarm named
it. The rerun then adds the member back (or goes on with the learner an earlier run added),
after checking that the members left all agree on the hash.
"""

from __future__ import annotations

import json
from pathlib import Path

from etcdtui.models.runbook import Check, StepResult, Verdict, decode_args, encode_args
from etcdtui.runbooks.audit import AuditLog, AuditLogError
from etcdtui.runbooks.membership.steps import MemberKind, RemoveArgs
from etcdtui.runbooks.repair.preflight import RESTORE_ADVICE, Reading

RUNBOOK = "repair"
# How far back in the audit log an earlier run's removal is looked for.
AUDIT_LINES = 5000


def removal_note(result: StepResult) -> str:
    """The audit note of a remove step: its arguments as JSON, read back by a rerun."""
    if result.step.kind != MemberKind.REMOVE or not isinstance(result.step.args, RemoveArgs):
        return ""
    return json.dumps(encode_args(result.step.params(RemoveArgs)))


def removed_earlier(audit_path: Path | None, cluster: str, member: str) -> int | None:
    """The member ID that the newest earlier repair of `member` removed, or None."""
    try:
        entries = AuditLog(audit_path).recent(AUDIT_LINES)
    except AuditLogError:
        return None
    for entry in reversed(entries):
        if (entry.cluster, entry.runbook, entry.step_id, entry.target) != (
            cluster, RUNBOOK, "remove", member,
        ) or not entry.ok:  # fmt: skip
            continue
        try:
            text = json.loads(entry.note)
            if isinstance(text, dict):
                return decode_args(RemoveArgs, {str(k): str(v) for k, v in text.items()}).member_id
        except ValueError:  # json.JSONDecodeError is one
            continue
    return None


def others_agree_check(reading: Reading, member: str) -> Check:
    """On a rerun, `member` is gone or a learner catching up: every other member must agree
    on the hash, or there is nothing sound to copy from."""
    name = "the members left agree without " + member
    others = [m for m in reading.members if m.name != member]
    if reading.no_majority or not others:
        return Check(name, Verdict.FAIL, f"{reading.verdict}: refused: {RESTORE_ADVICE}")
    differ = [m.name for m in others if m.consistent is not True]
    if differ:
        return Check(name, Verdict.FAIL, f"{', '.join(differ)} disagree or could not be "
                     f"compared ({reading.verdict}): refused: {RESTORE_ADVICE}")  # fmt: skip
    agree = ", ".join(m.name for m in others)
    return Check(name, Verdict.PASS, f"{agree} agree at revision {reading.revision}")
