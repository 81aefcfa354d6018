"""The upgrade's steps: their kinds, their typed arguments, how each is built.

A member's node-side steps show the exact command its profile runs (`stop`, `upgrade`,
`start`); the waits and health checks say what they read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from etcdtui.clients.shell import quote_sudo
from etcdtui.config import Connection, NodeConfig
from etcdtui.models import MemberView
from etcdtui.models.runbook import NoArgs, Step, StepArgs


class UpgradeKind(StrEnum):
    """What a step does; the values are what the audit log records."""

    BACKUP = "backup"
    HEALTH = "health"
    STOP = "stop"
    SWITCH = "switch"
    START = "start"
    WAIT = "wait"


@dataclass(frozen=True)
class BackupArgs(StepArgs):
    """Where the pre-upgrade snapshot goes (a file in the catalogue's folder)."""

    path: str


@dataclass(frozen=True)
class MemberArgs(StepArgs):
    """The member a node-side step or a wait acts on: its node, its client URL, the version it
    ran (`old`, what a rollback returns to) and the version it must come up on (`new`)."""

    member: str
    node: str
    endpoint: str
    old: str
    new: str


# The arguments each kind carries.
ARGS: dict[UpgradeKind, type[StepArgs]] = {
    UpgradeKind.BACKUP: BackupArgs,
    UpgradeKind.HEALTH: NoArgs,
    UpgradeKind.STOP: MemberArgs,
    UpgradeKind.SWITCH: MemberArgs,
    UpgradeKind.START: MemberArgs,
    UpgradeKind.WAIT: MemberArgs,
}


def node_command(connection: Connection, node: NodeConfig, action: str) -> str:
    """The profile's `action` on `node`, exactly as it runs (through sudo -n if the node says)."""
    command = connection.profile_command(node, action)
    return quote_sudo(command) if node.sudo else command


def backup_step(path: str, member_count: int) -> Step:
    return Step(
        "backup", UpgradeKind.BACKUP, "cluster", f"snapshot save {path}, then check it",
        f"a verified snapshot to restore {member_count} members from if the upgrade goes wrong",
        args=BackupArgs(path), read_only=True,
    )  # fmt: skip


def health_step(after: str) -> Step:
    return Step(
        f"health-after-{after}", UpgradeKind.HEALTH, "cluster",
        "status and a linearizable read of every member  # etcdctl endpoint health",
        f"stop unless the whole cluster is healthy after {after}", read_only=True,
    )  # fmt: skip


def member_steps(
    connection: Connection, m: MemberView, node: NodeConfig, new: str, wait: float
) -> list[Step]:
    """Stop, switch, start and wait for one member: its node-side commands as they run."""
    old = m.status.version if m.status else ""
    args = MemberArgs(m.name, node.name, m.endpoint, old, new)
    kept = "the old one kept beside it as a backup"
    return [
        Step(f"stop-{m.name}", UpgradeKind.STOP, node.name, node_command(connection, node, "stop"),
             f"stop {m.name} ({old}); the others keep quorum", args=args),
        Step(f"switch-{m.name}", UpgradeKind.SWITCH, node.name,
             node_command(connection, node, "upgrade"),
             f"point {m.name} at etcd {new}, {kept}", args=args),
        Step(f"start-{m.name}", UpgradeKind.START, node.name,
             node_command(connection, node, "start"),
             f"start {m.name} on {new}; rolled back to {old} if it fails", args=args),
        Step(f"wait-{m.name}", UpgradeKind.WAIT, m.name,
             f"poll {m.endpoint} status and health (at most {wait:g} s)",
             f"{m.name} healthy, on {new}, its applied index caught up with the leader's",
             args=args, read_only=True),
    ]  # fmt: skip
