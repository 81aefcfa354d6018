"""The repair's own step: disarming the CORRUPT alarm that names the rebuilt member, or the one
etcd's own corruption check raised. Every other step is a member-change step
(runbooks/membership/steps.py), reused as it is.

etcd's periodic check (--experimental-corrupt-check-time) raises CORRUPT with member ID 0:
3.4 and 3.5 before 3.5.5 by a bug (a peer's HashKV answer carries no member ID), later ones on
purpose (the leader cannot tell whether its own data or a follower's is wrong). That alarm
names no member, so it is disarmed only once a new reading finds every hash in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from etcdtui.models.runbook import Step, StepArgs


class RepairKind(StrEnum):
    """What a repair step does beyond the member change; each has one handler."""

    DISARM_CORRUPT = "disarm_corrupt"


@dataclass(frozen=True)
class DisarmCorruptArgs(StepArgs):
    member_id: int  # the member the alarm names: the one rebuilt (its old ID), or UNNAMED


# The member ID of a CORRUPT alarm raised by etcd's own corruption check.
UNNAMED = 0


ARGS: dict[RepairKind, type[StepArgs]] = {RepairKind.DISARM_CORRUPT: DisarmCorruptArgs}


def disarm_step(name: str, member_id: int) -> Step:
    """Disarm the CORRUPT alarm naming `member_id`, once its member is rebuilt; for the
    UNNAMED alarm, once every member's hash agrees."""
    if member_id == UNNAMED:
        step_id, why = (
            "disarm-corrupt-unnamed",
            (
                f"etcd's corruption check raised it, naming no member; disarmed only if a new "
                f"reading finds every hash in agreement now that {name} is rebuilt"
            ),
        )
    else:
        step_id, why = (
            "disarm-corrupt",
            (f"the alarm named {name}'s old data; it was rebuilt from the majority"),
        )
    return Step(
        step_id,
        RepairKind.DISARM_CORRUPT,
        name,
        f'POST /v3/maintenance/alarm {{"action": "DEACTIVATE", "memberID": "{member_id}", '
        f'"alarm": "CORRUPT"}}  # etcdctl alarm disarm',
        why,
        args=DisarmCorruptArgs(member_id),
    )
