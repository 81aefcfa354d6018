"""The upgrade's read-only checks, each with its reason: the version policy, the cluster's
readiness, the new binary (or image) on every node, the flags, and free space for a copy of
the database. Nothing here stops or changes anything."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from etcdtui.clients.shell import NodeShell
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView, MemberView
from etcdtui.models.runbook import Check, Verdict
from etcdtui.models.text import printable
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.upgrade.policy import (
    Version,
    flag_findings,
    parse_version,
    shown,
)
from etcdtui.runbooks.upgrade.steps import node_command

CHECK_TIMEOUT = 15.0  # seconds for one read-only command on a node
# Where the new etcd is: an absolute path of plain characters (sh and sed read it unquoted).
BINARY_PATH = re.compile(r"^/[A-Za-z0-9._+@/-]+$")
# An image reference: [registry[:port]/]path[:tag][@sha256:digest], plain characters only.
IMAGE_REF = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_REPORTED = re.compile(r"etcd Version:\s*(\S+)")

Shells = Callable[[str], NodeShell]


@dataclass(frozen=True)
class NodeTarget:
    """What one node will run after the upgrade: the version its new binary reports (or its
    image's tag says), or why that is unknown."""

    node: str
    version: Version | None
    problem: str = ""


def ready_check(view: ClusterView) -> Check:
    """Every member healthy, one leader, no alarm, no learner or unstarted member."""
    problems = [f"{m.name}: {m.problem or 'not healthy'}" for m in view.members if not m.healthy]
    problems += [f"{m.name} is a learner" for m in view.members if m.is_learner]
    problems += [
        f"member {m.member.id_hex} has not started"
        for m in view.members
        if m.member is not None and not m.member.started
    ]
    problems += [f"alarm {a.kind} on member {a.member_id:x}" for a in view.alarms]
    leaders = [m for m in view.members if m.is_leader]
    if len(leaders) != 1:
        problems.append(f"{len(leaders)} leaders")
    if problems:
        return Check("cluster ready", Verdict.FAIL, "; ".join(problems))
    said = f"{len(view.members)} members healthy, leader {leaders[0].name}, no alarm"
    return Check("cluster ready", Verdict.PASS, said)


def run_on(shells: Shells, connection: Connection, node: NodeConfig, action: str) -> str:
    """A read-only profile command's output; EtcdtuiError (one line) when it fails."""
    command = node_command(connection, node, action)
    result = shells(node.name).run(command, timeout=CHECK_TIMEOUT, sudo=False)
    text = (result.stdout + result.stderr).strip()
    if not result.ok:
        last = text.splitlines()[-1] if text else f"exit code {result.exit_code}"
        raise EtcdtuiError(f"{command}: {last}")
    return text


def node_target(shells: Shells, connection: Connection, node: NodeConfig) -> NodeTarget:
    """Ask the node's new binary its version, or read its new image's tag."""
    image = str(node.vars.get("upgrade_image", ""))
    if node.profile == "static-pod" or image:
        if not image:
            return NodeTarget(node.name, None, "no vars.upgrade_image for the new image")
        if not IMAGE_REF.match(image):
            return NodeTarget(node.name, None, f"image {printable(image)!r} is not well-formed")
        tag = image.split("@")[0].rpartition(":")[2] if ":" in image.split("/")[-1] else ""
        try:
            return NodeTarget(node.name, parse_version(tag)[0])
        except ValueError:
            return NodeTarget(node.name, None, f"image {image}: no etcd version in its tag")
    binary = str(node.vars.get("upgrade_etcd", ""))
    if not binary:
        return NodeTarget(node.name, None, "no vars.upgrade_etcd for the new etcd binary")
    if not BINARY_PATH.match(binary):
        return NodeTarget(node.name, None, f"{printable(binary)!r} is not a plain absolute path")
    try:
        found = _REPORTED.search(run_on(shells, connection, node, "upgrade_check"))
    except EtcdtuiError as exc:
        return NodeTarget(node.name, None, printable(exc.message))
    if found is None:
        return NodeTarget(node.name, None, f"{binary} --version names no etcd version")
    return NodeTarget(node.name, parse_version(found.group(1))[0])


def binaries_check(targets: list[NodeTarget], wanted: Version, has_patch: bool) -> Check:
    """Every node's new binary (or image) present and on the version asked for."""
    wrong = [f"{t.node}: {t.problem}" for t in targets if t.version is None]
    for t in targets:
        if t.version is not None and (t.version if has_patch else t.version[:2]) != (
            wanted if has_patch else wanted[:2]
        ):
            wrong.append(f"{t.node}: the new etcd is {shown(t.version)}, not {shown(wanted)}")
    found = {t.version for t in targets if t.version is not None}
    if not wrong and len(found) > 1:
        wrong.append("the nodes' new versions differ: " + ", ".join(sorted(map(shown, found))))
    if wrong:
        return Check("new binary on every node", Verdict.FAIL, "; ".join(wrong))
    version = shown(next(iter(found))) if found else "?"
    return Check("new binary on every node", Verdict.PASS,
                 f"{len(targets)} nodes report etcd {version}")  # fmt: skip


def _flags_text(
    shells: Shells, connection: Connection, node: NodeConfig
) -> str | EtcdtuiError | None:
    """The member's configuration as text, or why it could not be read (None: the profile
    has no `upgrade_flags`)."""
    if not connection.has_profile_command(node, "upgrade_flags"):
        return None
    try:
        return run_on(shells, connection, node, "upgrade_flags")
    except EtcdtuiError as exc:
        return exc


def _free_bytes(shells: Shells, node: NodeConfig) -> int | None:
    """Free bytes on the disk of the node's data dir (None: unreadable)."""
    try:
        result = shells(node.name).run(df_command(node), timeout=CHECK_TIMEOUT, sudo=node.sudo)
        return int(result.stdout.strip().splitlines()[-1].split()[3]) * 1024
    except (EtcdtuiError, ValueError, IndexError):
        return None


def df_command(node: NodeConfig) -> str:
    return f"df -Pk {shlex.quote(node.data_dir)}"


@dataclass(frozen=True)
class NodeReads:
    """What the read-only commands on one node said: its new etcd's version, its flags (see
    `_flags_text`) and the free space by its data dir (None: unreadable)."""

    node: NodeConfig
    target: NodeTarget
    flags: str | EtcdtuiError | None
    free: int | None


def read_nodes(shells: Shells, connection: Connection, nodes: list[NodeConfig]) -> list[NodeReads]:
    """Every node's read-only commands at once (each with its own CHECK_TIMEOUT): the whole
    preflight costs about one command's time, not the sum of all."""
    if not nodes:
        return []
    with ThreadPoolExecutor(max_workers=3 * len(nodes), thread_name_prefix="preflight") as pool:
        targets = [pool.submit(node_target, shells, connection, n) for n in nodes]
        flags = [pool.submit(_flags_text, shells, connection, n) for n in nodes]
        free = [pool.submit(_free_bytes, shells, n) for n in nodes]
        return [NodeReads(n, t.result(), f.result(), s.result())
                for n, t, f, s in zip(nodes, targets, flags, free, strict=True)]  # fmt: skip


def flags_check(reads: list[NodeReads], target: Version) -> Check:
    """Flags the new version no longer accepts (FAIL) or accepts with a warning (WARN)."""
    refused, deprecated, unread = [], [], []
    for read in reads:
        name, text = read.node.name, read.flags
        if text is None:
            unread.append(name)
            continue
        if isinstance(text, EtcdtuiError):
            unread.append(f"{name} ({printable(text.message)})")
            continue
        gone, old = flag_findings(text, target[:2])
        refused += [f"{name}: {line}" for line in gone]
        deprecated += [f"{name}: {line}" for line in old]
    if refused:
        return Check("flags", Verdict.FAIL, "no longer accepted: " + "; ".join(refused))
    if deprecated or unread:
        said = ("deprecated: " + "; ".join(deprecated)) if deprecated else ""
        said += ("; " if said else "") + ("not read on " + ", ".join(unread) if unread else "")
        return Check("flags", Verdict.WARN, said)
    return Check("flags", Verdict.PASS, f"every flag valid on {target[0]}.{target[1]}")


def space_check(nodes: list[tuple[NodeReads, MemberView]]) -> Check:
    """Free space on each data dir's disk covers a copy of the member's database."""
    short = []
    for read, m in nodes:
        name, size = read.node.name, m.status.db_size if m.status else 0
        if read.free is None:
            short.append(f"{name}: could not read free space ({df_command(read.node)})")
        elif read.free < size:
            short.append(f"{name}: {human_bytes(read.free)} free < {human_bytes(size)} database")
    if short:
        return Check("free space", Verdict.FAIL, "; ".join(short))
    return Check("free space", Verdict.PASS, "every data dir's disk holds a copy of its database")


def versions_of(view: ClusterView) -> dict[str, Version]:
    """The version each reachable member runs (unparsable ones are left out)."""
    versions = {}
    for m in view.members:
        if m.status is not None:
            try:
                versions[m.name] = parse_version(m.status.version)[0]
            except ValueError:
                continue
    return versions
