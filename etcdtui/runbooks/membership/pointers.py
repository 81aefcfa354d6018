"""After a member change, what points at the members: every kube-apiserver's --etcd-servers
(through the node profile's apiserver_etcd_servers command), and the config file's endpoints and
node/member mapping, edited in place.

Only the lines that change are touched (the single-line ``endpoints = [...]`` array of the
cluster, the nodes' ``member = "..."`` lines), the result is parsed and compared with what the
change should give, and the file is replaced atomically after a backup copy. A layout this
cannot edit safely (a multi-line array, inline node tables, dotted keys) is left alone: the
lines to change are reported instead.
"""

from __future__ import annotations

import os
import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etcdtui.config import NodeConfig, load_connection, normalise_endpoint, toml_value
from etcdtui.errors import EtcdtuiError
from etcdtui.models import Member, MemberView
from etcdtui.models.runbook import Check, Step
from etcdtui.models.urls import url_problem
from etcdtui.runbooks.apiservers import wait_apiservers
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.membership.change import MemberChange
from etcdtui.runbooks.membership.steps import ApiserverArgs, ConfigArgs, MemberKind
from etcdtui.toml_io import HEADER, replace_file, table_key

APISERVER_TIMEOUT = 120.0  # for kube-apiserver to serve again after its manifest changed
# For the new member to show as a healthy voter before an apiserver is pointed at it: one read
# can miss it on a loaded machine (a health read past the cluster's timeout).
VOTER_WAIT = 15.0
_ENDPOINTS = re.compile(r"^(?P<indent>\s*)endpoints\s*=\s*(?P<value>\[.*\])\s*(?P<comment>#.*)?$")
_MEMBER = re.compile(r'^(?P<indent>\s*)member\s*=\s*"[^"\\]*"\s*(#.*)?$')


@dataclass(frozen=True)
class ConfigChange:
    """What a member change means for the config: endpoints out and in, member names."""

    cluster: str
    drop: tuple[str, ...]  # client URLs of the removed member
    add: str  # the new member's client URL
    new_node: str
    new_member: str
    old_node: str = ""  # the replaced member's node: its `member` line is removed

    def instructions(self, endpoints: list[str]) -> str:
        """The lines to change by hand."""
        table = f"[clusters.{self.cluster}"
        lines = [f"{table}] endpoints = {toml_value(endpoints)}",
                 f'{table}.nodes.{self.new_node}] member = "{self.new_member}"']  # fmt: skip
        if self.old_node and self.old_node != self.new_node:
            lines.append(f"{table}.nodes.{self.old_node}] remove `member`")
        return "; ".join(lines)


def servers_sed(servers: list[str]) -> str:
    """The sed expression that sets --etcd-servers to `servers` in a manifest. Every URL must
    pass the strict check first: then none holds '|', '&', a backslash or a new line, the only
    characters that could change what the expression does. The expression is filled into the
    command as one quoted word."""
    for url in servers:
        problem = url_problem(url)
        if problem:
            raise EtcdtuiError(f"refusing to write {url!r} into --etcd-servers: {problem}")
    return f's|--etcd-servers=[^ "]*|--etcd-servers={",".join(servers)}|'


def new_endpoints(current: list[str], change: ConfigChange) -> list[str]:
    tls = change.add.startswith("https")

    def norm(url: str) -> str:
        try:
            return normalise_endpoint(url, tls)
        except EtcdtuiError:
            return url

    kept = [u for u in current if norm(u) not in change.drop]
    if change.add not in {norm(u) for u in kept}:
        kept.append(change.add)
    return kept


def _expected(data: dict[str, Any], change: ConfigChange) -> dict[str, Any]:
    """The parsed file as the change should leave it."""
    cluster = data["clusters"][change.cluster]
    cluster["endpoints"] = new_endpoints(cluster["endpoints"], change)
    nodes = cluster["nodes"]
    if change.old_node and change.old_node != change.new_node:
        nodes[change.old_node].pop("member", None)
    nodes[change.new_node]["member"] = change.new_member
    return data


def edit_text(text: str, change: ConfigChange) -> str | None:
    """The file with only the changed lines rewritten; None if its layout is not safe to edit."""
    try:
        before = tomllib.loads(text)
        expected = _expected(tomllib.loads(text), change)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError):
        return None
    lines = text.splitlines(keepends=True)
    table: tuple[str, ...] | None = ()
    cluster_key = ("clusters", change.cluster)
    new_key = (*cluster_key, "nodes", change.new_node)
    old_key = (*cluster_key, "nodes", change.old_node) if change.old_node else None
    out: list[str] = []
    done = {"endpoints": False, "member": False}
    for line in lines:
        header = HEADER.match(line)
        if header:
            table = table_key(header["key"])
            out.append(line)
            if table == new_key:
                # Right after the header; a `member` line of its own is dropped below.
                out.append(f'member = "{change.new_member}"\n')
                done["member"] = True
            continue
        stripped = line.strip()
        if table == cluster_key and stripped.startswith("endpoints"):
            match = _ENDPOINTS.match(line.rstrip("\r\n"))
            if match is None:
                return None
            urls = new_endpoints(before["clusters"][change.cluster]["endpoints"], change)
            comment = f"  {match['comment']}" if match["comment"] else ""
            out.append(f"{match['indent']}endpoints = {toml_value(urls)}{comment}\n")
            done["endpoints"] = True
            continue
        if table in (new_key, old_key) and stripped.startswith("member"):
            if _MEMBER.match(line.rstrip("\r\n")) is None:
                return None
            continue  # dropped: the new node's line was written under its header
        out.append(line)
    result = "".join(out)
    if not all(done.values()):
        return None
    try:
        if tomllib.loads(result) != expected:
            return None
    except tomllib.TOMLDecodeError:
        return None
    return result


def write_config(path: Path, change: ConfigChange, stamp: str) -> tuple[bool, str]:
    """Back up, then atomically rewrite `path` with `change`; or say which lines to change."""
    real = Path(os.path.realpath(path))
    text = real.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    current = list(data["clusters"][change.cluster].get("endpoints", []))
    edited = edit_text(text, change)
    if edited is None:
        return True, (
            f"{path}: not a layout etcdtui edits safely (left untouched); change by hand: "
            + change.instructions(new_endpoints(current, change))
        )
    if edited == text:
        return True, f"{path} already lists {change.add} and {change.new_node}'s member"
    backup = replace_file(real, edited, stamp)
    loaded = load_connection(real, change.cluster)
    if change.add not in loaded.endpoints or set(change.drop) & set(loaded.endpoints):
        return False, f"{path}: rewritten but its endpoints are {', '.join(loaded.endpoints)}"
    return True, f"wrote {path} (backup {backup}): endpoints {', '.join(loaded.endpoints)}"


class PointerSteps:
    """What points at the members besides etcd itself: every kube-apiserver's --etcd-servers
    and the config file's endpoints. `verify` is the runbook's verification, which the config
    rewrite waits on; `config_dropped` the endpoints the config file no longer lists."""

    def __init__(self, change: MemberChange, verify: Callable[[], list[Check]]) -> None:
        self.change = change
        self.verify = verify
        self.config_dropped: tuple[str, ...] = ()

    def with_pointers(
        self,
        steps: list[Step],
        old: MemberView | None,
        ours: Member | None,
        members: tuple[Member, ...],
    ) -> tuple[list[Step], list[str]]:
        """The apiserver steps around the member change, and the config rewrite last."""
        change = self.change
        gone = {old.member_id} if old is not None else set()
        mine = {ours.id} if ours is not None else set()
        survivors = [self.server_url(m) for m in members if m.id not in gone | mine]
        survivors = [url for url in survivors if url]
        old_node = change.old_node() if change.old_name else None
        notes: list[str] = []
        if old is not None:
            drop, more = self.apiserver_steps("drop", survivors, skip=change.new_node)
            at = next((i for i, s in enumerate(steps) if s.kind == MemberKind.REMOVE), len(steps))
            steps[at:at] = drop
            notes += more
        add, more = self.apiserver_steps(
            "add", [*survivors, change.new_node.client_urls[0]], skip=old_node
        )
        steps += add
        notes += more
        dropped = set(old.member.client_urls) if old is not None and old.member else set()
        dropped |= set(old_node.client_urls) if old_node is not None else set()
        config = self.config_step(tuple(sorted(dropped)), old_node)
        if config is not None:
            steps.append(config)
        return steps, notes

    def server_url(self, member: Member) -> str:
        """The client URL kube-apiserver should use for `member`: its node's in the config
        (what the operator wrote), else what the member advertises if that passes the strict
        URL check; "" for an unstarted member. A member advertising a URL that fails the check
        and is not in the config stops the run: nothing of it is written anywhere."""
        node = next(
            (n for n in self.change.connection.nodes
             if n.client_urls and (n.member_name == member.name
                                   or set(n.peer_urls) & set(member.peer_urls))),
            None,
        )  # fmt: skip
        if node is not None:
            return node.client_urls[0]
        if not member.client_urls:
            return ""
        url = member.client_urls[0]
        problem = url_problem(url)
        if problem:
            raise EtcdtuiError(
                f"member {member.id:x} advertises a suspicious client URL {url!r} ({problem}): "
                "it is not written into any --etcd-servers",
                "describe its node in the config with client_urls, or remove the member",
            )
        return url

    def apiserver_steps(
        self, phase: Literal["drop", "add"], servers: list[str], skip: NodeConfig | None
    ) -> tuple[list[Step], list[str]]:
        """For every `apiserver = true` node but `skip`: a step setting --etcd-servers to
        `servers`, or a note when its profile has no apiserver_etcd_servers command."""
        change = self.change
        connection = change.connection
        steps: list[Step] = []
        notes: list[str] = []
        listed = ",".join(servers)
        for node in connection.nodes:
            if not node.apiserver or (skip is not None and node.name == skip.name):
                continue
            if not connection.has_profile_command(node, "apiserver_etcd_servers"):
                notes.append(
                    f"{node.name}: set kube-apiserver's --etcd-servers={listed} by hand "
                    f"{'before the removal' if phase == 'drop' else 'after the promotion'} "
                    f"(profile {node.profile!r} has no apiserver_etcd_servers command)"
                )
                continue
            backup_dir = connection.profile_var(node, "apiserver_backup_dir")
            extra = {
                "servers": listed,
                "servers_sed": servers_sed(servers),
                "stamp": change.run_stamp,
                "apiserver_backup": f"{backup_dir}/kube-apiserver.yaml.etcdtui-{change.run_stamp}",
            }
            command = connection.profile_command(node, "apiserver_etcd_servers", extra)
            why = (
                f"kube-apiserver stops using {change.old_name} before it is removed"
                if phase == "drop"
                else f"kube-apiserver uses {change.new_name} too, now that it votes"
            )
            steps.append(
                Step(f"apiserver-{phase}-{node.name}", MemberKind.APISERVER_SERVERS, node.name,
                     command, why, destructive=True,
                     args=ApiserverArgs(node.name, phase, tuple(servers)))
            )  # fmt: skip
        return steps, notes

    def config_step(self, drop: tuple[str, ...], old_node: NodeConfig | None) -> Step | None:
        """The config file rewrite, the last step; None when the connection came from flags."""
        change = self.change
        source = change.connection.source
        if not source or source == "flags" or not Path(source).is_file():
            return None
        add = change.new_node.client_urls[0]
        edit = f"endpoints {' '.join('-' + u for u in drop)} +{add}".replace("  ", " ")
        old = f"; {old_node.name}: no member" if old_node and old_node.member else ""
        return Step(
            "config", MemberKind.CONFIG, source,
            f"edit {source}: {edit}; {change.new_node.name}: member = \"{change.new_name}\"{old}",
            f"writes {source} (backup {source}.etcdtui-{change.run_stamp}.bak) once the "
            "verification's checks pass",
            destructive=False,
            args=ConfigArgs(drop, old_node.name if old_node else ""),
        )  # fmt: skip

    def set_servers(self, step: Step, output: Output) -> tuple[bool, str]:
        """The apiserver step: --etcd-servers set on one node, done once it serves again."""
        change = self.change
        args = step.params(ApiserverArgs)
        node = change.connection.node(args.node)
        if args.phase == "add" and not self._new_member_votes():
            url = change.new_node.client_urls[0]
            return False, f"{change.new_name} is not a healthy voting member: not adding {url}"
        try:
            result = change.shells.shell(node.name).run(step.command, timeout=90, sudo=node.sudo)
        except EtcdtuiError as exc:
            if node.member_name == change.old_name:  # the failed node itself may be down
                return True, f"{node.name} does not answer over SSH ({exc}): skipped"
            raise
        if not result.ok:
            text = (result.stdout + result.stderr).strip() or f"exit code {result.exit_code}"
            return False, f"setting --etcd-servers failed: {text}"
        # The kubelet restarts kube-apiserver on the changed manifest: done once it serves.
        (ready,) = wait_apiservers(change.connection, change.shells, [node], APISERVER_TIMEOUT)
        output(f"{ready.name}: {ready.reason}")
        if ready.failed:
            return False, f"{node.name}: --etcd-servers set, but {ready.name}: {ready.reason}"
        return True, f"{node.name}: --etcd-servers={','.join(args.servers)}"

    def _new_member_votes(self) -> bool:
        """Whether the new member shows as a healthy voter within VOTER_WAIT seconds."""
        change = self.change
        url = change.new_node.client_urls[0]
        deadline = time.monotonic() + VOTER_WAIT
        while True:
            voting = [m for m in change.client.read(metrics=False).voting_members if m.healthy]
            if any(url in (m.member.client_urls if m.member else ()) for m in voting):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    def rewrite_config(self, step: Step, output: Output) -> tuple[bool, str]:
        """The config step: the file rewritten once the verification passes."""
        failed = [c for c in self.verify() if c.failed]
        if failed:
            reasons = "; ".join(f"{c.name}: {c.reason}" for c in failed)
            return False, f"{step.target} not written: the verification fails: {reasons}"
        args = step.params(ConfigArgs)
        change = self.change
        edit = ConfigChange(
            cluster=change.connection.cluster,
            drop=args.drop,
            add=change.new_node.client_urls[0],
            new_node=change.new_node.name,
            new_member=change.new_name,
            old_node=args.old_node,
        )
        ok, text = write_config(Path(step.target), edit, change.run_stamp)
        if ok:
            self.config_dropped = edit.drop  # the verify after this step knows
        return ok, text
