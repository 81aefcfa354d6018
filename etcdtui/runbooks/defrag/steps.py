"""The defrag and NOSPACE-recovery steps: their kinds, their typed arguments, how each is built.

A step shows the exact API call (or, with --on-node, the exact etcdctl command line) it makes;
its arguments (`args`) are what its handler needs to make that call.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import StrEnum

from etcdtui.clients.shell import quote_sudo
from etcdtui.config import Connection, NodeConfig
from etcdtui.models import MemberView
from etcdtui.models.runbook import NoArgs, Step, StepArgs
from etcdtui.models.units import human_bytes

WRITE_CHECK_KEY = b"etcdtui/nospace-recovery-check"


class DefragKind(StrEnum):
    """What a step does; the values are the kinds the audit log and older runs know."""

    HEALTH = "health"
    WAIT = "wait"
    COMPACT = "compact"
    MOVE_LEADER = "move_leader"
    DEFRAG = "defrag"
    DEFRAG_SSH = "defrag_ssh"
    DISARM = "disarm"
    WRITE_CHECK = "write_check"


@dataclass(frozen=True)
class WaitArgs(StepArgs):
    seconds: float


@dataclass(frozen=True)
class CompactArgs(StepArgs):
    endpoint: str
    revision: int


@dataclass(frozen=True)
class MoveLeaderArgs(StepArgs):
    endpoint: str  # the current leader, which hands leadership over
    target: int  # the member id of the new leader
    target_name: str


@dataclass(frozen=True)
class DefragArgs(StepArgs):
    """The member a defrag step (through the API or on its node) defragments and measures."""

    member: str
    endpoint: str


@dataclass(frozen=True)
class DisarmArgs(StepArgs):
    endpoint: str
    member_id: int
    alarm: str


@dataclass(frozen=True)
class WriteCheckArgs(StepArgs):
    endpoint: str


# The arguments each kind carries.
ARGS: dict[DefragKind, type[StepArgs]] = {
    DefragKind.HEALTH: NoArgs,
    DefragKind.WAIT: WaitArgs,
    DefragKind.COMPACT: CompactArgs,
    DefragKind.MOVE_LEADER: MoveLeaderArgs,
    DefragKind.DEFRAG: DefragArgs,
    DefragKind.DEFRAG_SSH: DefragArgs,
    DefragKind.DISARM: DisarmArgs,
    DefragKind.WRITE_CHECK: WriteCheckArgs,
}


def health_step(m: MemberView) -> Step:
    return Step(
        f"health-before-{m.name}",
        DefragKind.HEALTH,
        m.name,
        "status and a linearizable read of every member  # etcdctl endpoint health",
        f"stop unless the cluster is healthy before pausing {m.name}",
        read_only=True,
    )


def wait_step(m: MemberView, seconds: float) -> Step:
    return Step(f"wait-after-{m.name}", DefragKind.WAIT, m.name, f"sleep {seconds:g}",
                "let the member catch up before the next one",
                args=WaitArgs(seconds), read_only=True)  # fmt: skip


def move_leader_step(leader: MemberView, target: MemberView, target_id: int) -> Step:
    return Step(
        f"move-leader-{target.name}", DefragKind.MOVE_LEADER, leader.name,
        f"POST {leader.endpoint}/v3/maintenance/transfer-leadership targetID={target_id:x}"
        f"  # etcdctl move-leader {target_id:x}",
        f"hand leadership to {target.name} (already defragmented) first",
        args=MoveLeaderArgs(leader.endpoint, target_id, target.name),
    )  # fmt: skip


def api_defrag_step(m: MemberView, timeout: float) -> Step:
    return Step(
        f"defrag-{m.name}", DefragKind.DEFRAG, m.name,
        f"POST {m.endpoint}/v3/maintenance/defragment (timeout {timeout:g} s)"
        f"  # etcdctl --endpoints={m.endpoint} --command-timeout={timeout:g}s defrag",
        f"give back {human_bytes(m.status.db_size_free if m.status else 0)} of free pages",
        args=DefragArgs(m.name, m.endpoint),
    )  # fmt: skip


def node_defrag_step(
    connection: Connection, m: MemberView, node: NodeConfig | None, timeout: float
) -> Step:
    command = etcdctl_on_node(connection, m, node, f"--command-timeout={timeout:g}s defrag")
    if node is not None and node.sudo:
        command = quote_sudo(command)  # shown and journaled exactly as it runs
    return Step(f"defrag-{m.name}", DefragKind.DEFRAG_SSH, node.name if node else m.name,
                command, f"defragment {m.name} on its own node",
                args=DefragArgs(m.name, m.endpoint))  # fmt: skip


def etcdctl_on_node(
    connection: Connection, m: MemberView, node: NodeConfig | None, tail: str
) -> str:
    """An etcdctl command line for `m` as run on its node, every word shell-quoted."""
    variables = dict(node.vars) if node is not None else {}
    tls = connection.node_tls(node)
    # The member as the node reaches it (kubeadm's https://127.0.0.1:2379, say).
    endpoint = (node.client_url_on_node if node is not None else "") or m.endpoint
    parts = [variables.get("etcdctl", "etcdctl"), f"--endpoints={endpoint}"]
    for flag, value in (("--cacert", tls.cacert), ("--cert", tls.cert), ("--key", tls.key)):
        if value:
            parts.append(f"{flag}={value}")
    return "ETCDCTL_API=3 " + " ".join(shlex.quote(p) for p in parts) + " " + tail


def compaction_step(leader: MemberView, revision: int, confirm: str) -> Step:
    return Step(
        "compact", DefragKind.COMPACT, leader.name,
        f"POST {leader.endpoint}/v3/kv/compaction revision={revision} physical=true"
        f"  # etcdctl compact {revision} --physical",
        f"drop the history before revision {revision} ({confirm})",
        destructive=True, args=CompactArgs(leader.endpoint, revision),
    )  # fmt: skip


def disarm_step(endpoint: str, member_id: int, alarm: str) -> Step:
    return Step(
        f"disarm-{member_id:x}", DefragKind.DISARM, f"{member_id:x}",
        f"POST {endpoint}/v3/maintenance/alarm action=DEACTIVATE "
        f"memberID={member_id:x} alarm={alarm}  # etcdctl alarm disarm",
        "writes are refused while the alarm is armed",
        args=DisarmArgs(endpoint, member_id, alarm),
    )  # fmt: skip


def write_check_step(endpoint: str) -> Step:
    return Step(
        "write-check", DefragKind.WRITE_CHECK, "cluster",
        f"PUT {WRITE_CHECK_KEY.decode()} then DELETE it",
        "prove that writes succeed again", args=WriteCheckArgs(endpoint),
    )  # fmt: skip
