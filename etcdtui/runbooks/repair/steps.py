"""The repair's own step: disarming the CORRUPT alarm that names the rebuilt member. Every other
step is a member-change step (runbooks/membership/steps.py), reused as it is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from etcdtui.models.runbook import Step, StepArgs


class RepairKind(StrEnum):
    """What a repair step does beyond the member change; each has one handler."""

    DISARM_CORRUPT = "disarm_corrupt"


@dataclass(frozen=True)
class DisarmCorruptArgs(StepArgs):
    member_id: int  # the member the alarm names: the one rebuilt, under its old ID


ARGS: dict[RepairKind, type[StepArgs]] = {RepairKind.DISARM_CORRUPT: DisarmCorruptArgs}


def disarm_step(name: str, member_id: int) -> Step:
    """Disarm the CORRUPT alarm naming `member_id`, once its member is rebuilt."""
    return Step(
        "disarm-corrupt",
        RepairKind.DISARM_CORRUPT,
        name,
        f'POST /v3/maintenance/alarm {{"action": "DEACTIVATE", "memberID": "{member_id}", '
        f'"alarm": "CORRUPT"}}  # etcdctl alarm disarm',
        f"the alarm named {name}'s old data; it was rebuilt from the majority",
        args=DisarmCorruptArgs(member_id),
    )
