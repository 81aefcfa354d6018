"""The member-change steps: their kinds, each kind's typed arguments, and how a plan's steps
are made from the member list (the apiserver and config steps are made in pointers.py).

The kinds' values are the strings audit logs have always held; `ARGS` says which arguments
each kind carries, so steps written out as text (`encode_args`) read back (`decode_args`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from etcdtui.models import Member, MemberView
from etcdtui.models.runbook import NoArgs, Step, StepArgs
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.membership.change import MemberChange

Outcome = tuple[bool, str]
Handler = Callable[[Step, Output], Outcome]


class MemberKind(StrEnum):
    """What a member-change step does; each has one handler."""

    STOP_OLD = "stop_old"
    REMOVE = "remove"
    PREPARE = "prepare"
    ADD = "add"
    ENV = "env"
    START = "start"
    CATCH_UP = "catch_up"
    PROMOTE = "promote"
    APISERVER_SERVERS = "apiserver_servers"
    CONFIG = "config"


@dataclass(frozen=True)
class StopOldArgs(StepArgs):
    node: str  # the replaced member's node


@dataclass(frozen=True)
class RemoveArgs(StepArgs):
    member_id: int


@dataclass(frozen=True)
class ApiserverArgs(StepArgs):
    node: str
    phase: Literal["drop", "add"]  # before the removal, or after the promotion
    servers: tuple[str, ...]  # --etcd-servers, in order


@dataclass(frozen=True)
class ConfigArgs(StepArgs):
    drop: tuple[str, ...]  # client URLs of the removed member
    old_node: str  # its node, whose `member` line goes ("" when adding)


ARGS: dict[MemberKind, type[StepArgs]] = {
    MemberKind.STOP_OLD: StopOldArgs,
    MemberKind.REMOVE: RemoveArgs,
    MemberKind.PREPARE: NoArgs,
    MemberKind.ADD: NoArgs,
    MemberKind.ENV: NoArgs,
    MemberKind.START: NoArgs,
    MemberKind.CATCH_UP: NoArgs,
    MemberKind.PROMOTE: NoArgs,
    MemberKind.APISERVER_SERVERS: ApiserverArgs,
    MemberKind.CONFIG: ConfigArgs,
}


def removal_steps(change: MemberChange, old: MemberView) -> list[Step]:
    """Stop the failed member's etcd and move its data aside (when its node is configured),
    then `member remove`."""
    assert old.member_id is not None
    steps: list[Step] = []
    old_node = change.old_node()
    if old_node is not None:
        stop = change.connection.profile_command(old_node, "stop")
        aside = f"{old_node.data_dir}.etcdtui-removed-{change.run_stamp}"
        steps.append(
            Step(
                "stop-old",
                MemberKind.STOP_OLD,
                old_node.name,
                f"{stop} && mv {shlex.quote(old_node.data_dir)} {shlex.quote(aside)}"
                "  (skipped if SSH is down)",
                f"{change.old_name} must never come back with its old data",
                destructive=True,
                args=StopOldArgs(old_node.name),
            )
        )
    endpoint = "POST /v3/cluster/member/remove"
    steps.append(
        Step(
            "remove",
            MemberKind.REMOVE,
            change.old_name,
            f"{endpoint} ID={old.member_id}  # etcdctl member remove {old.member_id:x}",
            f"take {change.old_name} out of the cluster (and of every apiserver's --etcd-servers)",
            destructive=True,
            args=RemoveArgs(old.member_id),
        )
    )
    return steps


def addition_steps(change: MemberChange, ours: Member | None) -> list[Step]:
    """Empty the data dir and `member add` as a learner (unless added before), write the
    flags (unless started before), start, catch up, promote."""
    node = change.new_node
    steps: list[Step] = []
    if ours is None:
        peers = ",".join(node.peer_urls)
        aside = f"{node.data_dir}.etcdtui-moved-{change.run_stamp}"
        steps.append(
            Step(
                "prepare",
                MemberKind.PREPARE,
                node.name,
                f"mv {shlex.quote(node.data_dir)} {shlex.quote(aside)}  (only if it holds data)",
                "a new member must start from an empty data dir",
            )
        )
        steps.append(
            Step(
                "add",
                MemberKind.ADD,
                change.new_name,
                f'POST /v3/cluster/member/add {{"peerURLs": ["{peers}"], "isLearner": true}}'
                f"  # etcdctl member add {change.new_name} --peer-urls={peers} --learner",
                "a learner first: it does not count for quorum until it has caught up",
            )
        )
    if ours is None or not ours.started:
        steps.append(_env_step(change))
    return steps + _start_steps(change)


def _env_step(change: MemberChange) -> Step:
    """Writing the new member's flags: an env file, or a kubeadm node's etcd.yaml."""
    node, name = change.new_node, change.new_name
    peers = ",".join(node.peer_urls)
    env_file = node.vars.get("env_file")
    target = env_file or f"(profile {node.profile}: set by hand)"
    what = (
        f"ETCD_NAME={name} ETCD_INITIAL_CLUSTER=<members>,"
        f"{name}={peers} ETCD_INITIAL_CLUSTER_STATE=existing"
    )
    if node.profile == "static-pod":
        stash = change.connection.profile_var(node, "manifest_stash")
        target = f"{stash} (a running member's etcd.yaml)"
        what = (
            f"--name={name} --initial-cluster=<members>,"
            f"{name}={peers} --initial-cluster-state=existing"
        )
    return Step(
        "env",
        MemberKind.ENV,
        node.name,
        f"write {target}: {what}",
        "the new member joins the existing cluster with the same token",
    )


def _start_steps(change: MemberChange) -> list[Step]:
    node, name = change.new_node, change.new_name
    start = change.connection.profile_command(node, "start")
    return [
        Step("start", MemberKind.START, node.name, start, f"start etcd as {name}"),
        Step(
            "catch-up",
            MemberKind.CATCH_UP,
            name,
            f"GET status of {node.client_urls[0]} until its applied index is close to the leader's",
            "promote only a learner in sync",
            read_only=True,
        ),
        Step(
            "promote",
            MemberKind.PROMOTE,
            name,
            "POST /v3/cluster/member/promote  # etcdctl member promote <ID>",
            "make it a voting member",
        ),
    ]
