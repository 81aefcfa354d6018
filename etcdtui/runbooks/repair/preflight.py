"""The repair's preflight beyond the member change's: a majority agrees on the hash, and the
member to rebuild is not in it.

The reading comes from services/consistency.py, which the runbooks do not import (they are
siblings): the front door passes its `read`, and these protocols say what is used of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from etcdtui.models.runbook import Check, Verdict


class MemberReading(Protocol):
    """One member's hash in a consistency reading."""

    @property
    def name(self) -> str: ...
    @property
    def hash(self) -> int | None: ...
    @property
    def revision(self) -> int: ...
    @property
    def consistent(self) -> bool | None: ...
    @property
    def error(self) -> str: ...


class Reading(Protocol):
    """A consistency reading: every member's hash and the verdict."""

    @property
    def members(self) -> Sequence[MemberReading]: ...
    @property
    def consistent(self) -> bool: ...
    @property
    def verdict(self) -> str: ...
    @property
    def no_majority(self) -> bool: ...
    @property
    def revision(self) -> int: ...


ReadConsistency = Callable[[], Reading]

RESTORE_ADVICE = (
    "no majority to copy from: restoring from a snapshot is then the way (etcdtui restore)"
)


def majority_check(reading: Reading, member: str) -> Check:
    """A majority agrees on the hash, without `member`: it is the one to rebuild from."""
    name = "a majority agrees without " + member
    if reading.no_majority or not reading.members:
        return Check(name, Verdict.FAIL, f"{reading.verdict}: refused: {RESTORE_ADVICE}")
    ours = next((m for m in reading.members if m.name == member), None)
    if ours is None:
        return Check(name, Verdict.FAIL, f"{member} was not in the consistency reading")
    if ours.consistent is True:
        return Check(name, Verdict.FAIL, f"{member} agrees with the majority: nothing to repair "
                     f"(hash {ours.hash} at revision {ours.revision})")  # fmt: skip
    if ours.hash is None:
        return Check(name, Verdict.FAIL, f"{member} gave no hash ({ours.error}): cannot tell it "
                     "diverged; replace-member rebuilds a member that failed")  # fmt: skip
    if ours.consistent is None:
        return Check(name, Verdict.FAIL, f"{member} could not be compared: {ours.error}")
    agree = [m.name for m in reading.members if m.consistent is True]
    return Check(name, Verdict.PASS, f"{', '.join(agree)} agree at revision {reading.revision}; "
                 f"{member} differs (hash {ours.hash})")  # fmt: skip
