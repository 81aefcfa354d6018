"""The upgrade's steps: their kinds, their typed arguments, how each is built.

A member's node-side steps show the exact command its profile runs (`stop`, `upgrade`,
`start`); a static pod whose profile has no `upgrade` command gets its image switched by a YAML
edit of its manifest (manifest.py), shown as the commands that read and write it. The waits and
health checks say what they read.
"""

from __future__ import annotations

import shlex
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
    SWITCH_IMAGE = "switch-image"
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


@dataclass(frozen=True)
class ImageArgs(MemberArgs):
    """A static pod's switch: its stopped manifest (`stash`), where the old one is kept
    (`backup`) and the image its etcd container is to run."""

    stash: str
    backup: str
    image: str


# The arguments each kind carries.
ARGS: dict[UpgradeKind, type[StepArgs]] = {
    UpgradeKind.BACKUP: BackupArgs,
    UpgradeKind.HEALTH: NoArgs,
    UpgradeKind.STOP: MemberArgs,
    UpgradeKind.SWITCH: MemberArgs,
    UpgradeKind.SWITCH_IMAGE: ImageArgs,
    UpgradeKind.START: MemberArgs,
    UpgradeKind.WAIT: MemberArgs,
}


def node_command(connection: Connection, node: NodeConfig, action: str) -> str:
    """The profile's `action` on `node`, exactly as it runs (through sudo -n if the node says)."""
    return as_run(node, connection.profile_command(node, action))


def as_run(node: NodeConfig, command: str) -> str:
    """`command` as it runs on `node`: through sudo -n if the node says."""
    return quote_sudo(command) if node.sudo else command


def edits_image(connection: Connection, node: NodeConfig) -> bool:
    """True for a static pod whose image the runbook switches itself (its profile has no
    `upgrade` command of its own)."""
    return node.profile == "static-pod" and not connection.has_profile_command(node, "upgrade")


def read_manifest(node: NodeConfig, args: ImageArgs) -> str:
    """The command that prints the stopped member's manifest."""
    return as_run(node, f"cat {shlex.quote(args.stash)}")


def write_manifest(node: NodeConfig, args: ImageArgs) -> str:
    """The command that keeps the old manifest as the backup and replaces it with its stdin
    (through a .part file that keeps its mode: the kubelet never sees half a manifest)."""
    stash, part, backup = (shlex.quote(p) for p in (args.stash, args.stash + ".part", args.backup))
    return as_run(
        node, f"cp -p {stash} {backup} && cp -p {stash} {part} && cat >{part} && mv {part} {stash}"
    )


def _switch_step(connection: Connection, node: NodeConfig, args: MemberArgs) -> Step:
    why = f"point {args.member} at etcd {args.new}, the old one kept beside it as a backup"
    if not edits_image(connection, node):
        command = node_command(connection, node, "upgrade")
        return Step(f"switch-{args.member}", UpgradeKind.SWITCH, node.name, command, why, args=args)
    image = ImageArgs(
        *(args.member, args.node, args.endpoint, args.old, args.new),
        stash=connection.profile_var(node, "manifest_stash"),
        backup=connection.profile_var(node, "upgrade_backup"),
        image=str(node.vars.get("upgrade_image", "")),
    )
    command = (f"{read_manifest(node, image)}  # then the etcd container's image set to "
               f"{image.image} (a YAML edit: nothing else changes), written back with: "
               f"{write_manifest(node, image)}")  # fmt: skip
    return Step(f"switch-{args.member}", UpgradeKind.SWITCH_IMAGE, node.name, command, why,
                args=image)  # fmt: skip


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
    return [
        Step(f"stop-{m.name}", UpgradeKind.STOP, node.name, node_command(connection, node, "stop"),
             f"stop {m.name} ({old}); the others keep quorum", args=args),
        _switch_step(connection, node, args),
        Step(f"start-{m.name}", UpgradeKind.START, node.name,
             node_command(connection, node, "start"),
             f"start {m.name} on {new}; rolled back to {old} if it fails", args=args),
        Step(f"wait-{m.name}", UpgradeKind.WAIT, m.name,
             f"poll {m.endpoint} status and health (at most {wait:g} s)",
             f"{m.name} healthy, on {new}, its applied index caught up with the leader's",
             args=args, read_only=True),
    ]  # fmt: skip
