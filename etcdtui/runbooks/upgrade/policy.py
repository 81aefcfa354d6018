"""etcd's version policy and the flags a new version no longer accepts: one table each.

Version policy, from etcd's upgrade guides (https://etcd.io/docs/latest/upgrades/, "Upgrade
policy" and each "Upgrade etcd from X to Y" page): patch upgrades are allowed; minor upgrades
one minor at a time; before a minor upgrade every member must run at least the patch the guide
names; a downgrade is not an upgrade (3.6 and later have a downgrade API for it).

Flag changes, from etcd's own flag definitions (server/etcdmain/config.go: the 3.5 flags
marked "decommissioned in v3.6", and 3.6's `deprecatedFlags` table, "decommissioned in 3.7").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from etcdtui.models.runbook import Check, Verdict

Version = tuple[int, int, int]
Minor = tuple[int, int]

GUIDES = "https://etcd.io/docs/latest/upgrades/"


@dataclass(frozen=True)
class MinorUpgrade:
    """A supported minor upgrade: the least patch of the old minor that may take it."""

    to: Minor
    least: Version
    source: str


# The one table of minor upgrades etcdtui knows. Moving to a minor version not listed here is
# refused (a skipped minor, or a version newer than this table).
MINOR_UPGRADES: dict[Minor, MinorUpgrade] = {
    (3, 5): MinorUpgrade((3, 5), (3, 4, 0), GUIDES + "upgrade_3_5/"),
    # The 3.6 guide asked for 3.5.20 at first; its current text asks for 3.5.26 ("patch
    # releases 3.5.24 through 3.5.26 fix several potential upgrade blockers").
    (3, 6): MinorUpgrade((3, 6), (3, 5, 26), GUIDES + "upgrade_3_6/"),
    (3, 7): MinorUpgrade((3, 7), (3, 6, 0), GUIDES + "upgrade_3_7/"),
}
DOWNGRADE_API = "etcdctl downgrade validate|enable VERSION (etcd 3.6 and later)"

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]*)?$")


def parse_version(text: str) -> tuple[Version, bool]:
    """(version, has_patch) of "3.5", "3.5.1" or "v3.5.1-0"; ValueError otherwise."""
    found = _VERSION.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not an etcd version (3.5 or 3.5.1)")
    major, minor, patch = found.groups()
    return (int(major), int(minor), int(patch or 0)), patch is not None


def shown(version: Version) -> str:
    return ".".join(str(part) for part in version)


def step_verdict(old: Version, new: Version) -> tuple[Verdict, str]:
    """Whether etcd's policy allows moving a member from `old` to `new`, and why."""
    if old == new:
        return Verdict.PASS, f"already on {shown(new)}"
    if new < old:
        return Verdict.FAIL, (
            f"{shown(old)} -> {shown(new)} is a downgrade: not done by an upgrade; "
            f"use etcd's downgrade API ({DOWNGRADE_API})"
        )
    if new[:2] == old[:2]:
        return Verdict.PASS, f"{shown(old)} -> {shown(new)} is a patch upgrade"
    step = MINOR_UPGRADES.get(new[:2])
    if new[0] != old[0] or new[1] != old[1] + 1 or step is None:
        return Verdict.FAIL, (
            f"{shown(old)} -> {shown(new)} skips a minor version or leaves what etcd's guide "
            f"covers: upgrade one minor at a time ({GUIDES})"
        )
    if old < step.least:
        return Verdict.FAIL, (
            f"{shown(old)} -> {shown(new)}: every member must run {shown(step.least)} or later "
            f"first ({step.source})"
        )
    return Verdict.PASS, f"{shown(old)} -> {shown(new)}: one minor up, as {step.source} allows"


def policy_check(versions: dict[str, Version], target: Version) -> Check:
    """The version policy for every member (name -> the version it runs) to `target`."""
    refused = []
    moves = set()
    for name, version in sorted(versions.items()):
        verdict, reason = step_verdict(version, target)
        if verdict is Verdict.FAIL:
            refused.append(f"{name}: {reason}")
        elif version != target:
            moves.add(reason)
    if refused:
        return Check("version policy", Verdict.FAIL, "; ".join(refused))
    return Check("version policy", Verdict.PASS, "; ".join(sorted(moves)) or "nothing to upgrade")


@dataclass(frozen=True)
class FlagChange:
    """A flag a version no longer accepts (`gone_in`), or accepts with a warning
    (`deprecated_in`), and what replaces it ("" when nothing does)."""

    flag: str
    gone_in: Minor
    replacement: str
    deprecated_in: Minor | None = None

    @property
    def env(self) -> str:
        """The flag as an ETCD_* variable (etcd reads every flag from one)."""
        return "ETCD_" + self.flag.removeprefix("--").upper().replace("-", "_")


_V2_GONE = "nothing: the v2 store is gone (`etcdutl check v2store` first, then drop the flag)"
_RENAMED = {
    "compact-hash-check-enabled": "--feature-gates=CompactHashCheck=true",
    "compact-hash-check-time": "--compact-hash-check-time",
    "txn-mode-write-with-shared-buffer": "--feature-gates=TxnModeWriteWithSharedBuffer=true",
    "corrupt-check-time": "--corrupt-check-time",
    "compaction-batch-limit": "--compaction-batch-limit",
    "watch-progress-notify-interval": "--watch-progress-notify-interval",
    "warning-apply-duration": "--warning-apply-duration",
    "bootstrap-defrag-threshold-megabytes": "--bootstrap-defrag-threshold-megabytes",
    "memory-mlock": "--memory-mlock",
    "snapshot-catchup-entries": "--snapshot-catchup-entries",
    "compaction-sleep-interval": "--compaction-sleep-interval",
    "downgrade-check-time": "--downgrade-check-time",
    "enable-distributed-tracing": "--enable-distributed-tracing",
    "distributed-tracing-address": "--distributed-tracing-address",
    "distributed-tracing-service-name": "--distributed-tracing-service-name",
    "distributed-tracing-instance-id": "--distributed-tracing-instance-id",
    "distributed-tracing-sampling-rate": "--distributed-tracing-sampling-rate",
}
# The one table of flag changes.
FLAG_CHANGES: tuple[FlagChange, ...] = (
    FlagChange("--enable-v2", (3, 6), _V2_GONE),
    FlagChange("--experimental-enable-v2v3", (3, 6), _V2_GONE),
    *(
        FlagChange(f"--experimental-{old}", (3, 7), new, deprecated_in=(3, 6))
        for old, new in _RENAMED.items()
    ),
)


def flag_findings(config_text: str, target: Minor) -> tuple[list[str], list[str]]:
    """(refused, deprecated): the flags in a member's configuration (its command line, unit,
    manifest or ETCD_* variables, as text) that `target` no longer accepts, or accepts with a
    warning, each with its replacement."""
    refused, deprecated = [], []
    for change in FLAG_CHANGES:
        used = re.search(rf"(?<![\w-]){re.escape(change.flag)}(?![\w-])", config_text) or (
            re.search(rf"(?<!\w){change.env}=", config_text)
        )
        if not used:
            continue
        line = f"{change.flag} -> {change.replacement or 'removed'}"
        if target >= change.gone_in:
            refused.append(line)
        elif change.deprecated_in is not None and target >= change.deprecated_in:
            deprecated.append(line)
    return refused, deprecated
