"""The restore's preflight: what each node has (asked over SSH in one command), and the
checks a new run must pass before any step runs.

Every step's `command` (steps.py) is what runs on the node (sudo included), so the plan a
person confirms is the plan that runs. Steps that act on a node first look at what is already
done there (a run resumed after a crash repeats nothing and deletes nothing): the handlers in
handlers.py do that, with the raw commands the steps carry in their typed `args` (kinds.py).
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView
from etcdtui.models.runbook import Check, Verdict
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.restore.state import NodePaths, SnapshotFacts
from etcdtui.runbooks.restore.steps import restore_tools

WAL_BYTES = 64 << 20  # etcd preallocates its first WAL file at this size
_VERSION = re.compile(r"version:?\s*v?(\d+)\.(\d+)\.(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class NodeProbe:
    """What one node has, asked over SSH in one command."""

    node: str
    error: str = ""  # SSH failed: nothing else is known
    free_bytes: int | None = None
    has_member: bool = False  # its data dir holds member/
    existing: tuple[str, ...] = ()  # paths of this run that exist already
    tool: str = ""  # the restore tool's command prefix, "" when none works
    tool_name: str = ""  # etcdutl or etcdctl
    tool_version: str = ""
    bump: bool = False  # the tool has --bump-revision and --mark-compacted
    etcd_version: str = ""  # the node's etcd binary (vars.etcd), when given
    sha256sum: bool = False
    tool_problem: str = ""  # why no tool works


def major_minor(version: str) -> str:
    match = _VERSION.search(f"version: {version}") if version else None
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def probe_script(node: NodeConfig, paths: NodePaths) -> str:
    """One shell command printing @@sections: disk, data dir, tools, versions, help."""
    q = shlex.quote
    parent = posixpath.dirname(paths.data_dir) or "/"
    ours = " ".join(q(p) for p in (paths.snapshot, paths.restored, paths.before))
    lines = [
        f"echo @@df; df -Pk {q(parent)} 2>&1 | tail -n 1",
        f"echo @@member; if [ -d {q(paths.data_dir + '/member')} ]; then echo yes; fi",
        f'echo @@exists; for p in {ours}; do if [ -e "$p" ]; then echo "$p"; fi; done',
        "echo @@sha256sum; if command -v sha256sum >/dev/null; then echo yes; fi",
    ]
    for name, tool in restore_tools(node):
        lines.append(f'echo @@{name}; {tool} version 2>&1; echo "@@rc=$?"')
        lines.append(f"echo @@{name}-help; {tool} snapshot restore --help 2>&1")
    if node.vars.get("etcd"):
        lines.append(f"echo @@etcd; {q(node.vars['etcd'])} --version 2>&1")
    return "; ".join(lines)


def _sections(text: str) -> tuple[dict[str, str], dict[str, int]]:
    sections: dict[str, list[str]] = {}
    codes: dict[str, int] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith("@@rc="):
            codes[name] = int(line[5:]) if line[5:].isdigit() else 1
        elif line.startswith("@@"):
            name = line[2:].strip()
            sections[name] = []
        elif name:
            sections[name].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}, codes


def parse_probe(node: NodeConfig, text: str) -> NodeProbe:
    found, codes = _sections(text)
    free = None
    fields = found.get("df", "").split()
    if len(fields) >= 4 and fields[3].isdigit():
        free = int(fields[3]) * 1024
    chosen = ("", "", "", False)
    tried = []
    for name, tool in restore_tools(node):
        version = _VERSION.search(found.get(name, ""))
        if codes.get(name) == 0 and version:
            help_text = found.get(f"{name}-help", "")
            bump = "--bump-revision" in help_text and "--mark-compacted" in help_text
            chosen = (tool, name, ".".join(version.groups()), bump)
            break
        first = (found.get(name, "").strip().splitlines() or ["no output"])[-1]
        tried.append(f"{tool}: {first.strip()[:120]}")
    etcd = _VERSION.search(found.get("etcd", ""))
    return NodeProbe(
        node=node.name,
        free_bytes=free,
        has_member=found.get("member", "").strip() == "yes",
        existing=tuple(p for p in found.get("exists", "").splitlines() if p.strip()),
        tool=chosen[0],
        tool_name=chosen[1],
        tool_version=chosen[2],
        bump=chosen[3],
        etcd_version=".".join(etcd.groups()) if etcd else "",
        sha256sum=found.get("sha256sum", "").strip() == "yes",
        tool_problem="" if chosen[0] else "; ".join(tried),
    )


def probe_nodes(
    shells: ShellPool,
    connection: Connection,
    paths: dict[str, NodePaths],
    timeout: float,
) -> dict[str, NodeProbe]:
    """Probe every node in `paths` at once: a member node fully, any other with `true`."""

    def one(name: str) -> NodeProbe:
        node = connection.node(name)
        node_paths = paths[name]
        try:
            shell = shells.shell(name)
            if not node_paths.member:
                result = shell.run("true", timeout=timeout, sudo=False)
                return NodeProbe(name, "" if result.ok else f"`true` exited {result.exit_code}")
            result = shell.run(probe_script(node, node_paths), timeout=timeout)
        except EtcdtuiError as exc:
            return NodeProbe(name, error=str(exc))
        return parse_probe(node, result.stdout)

    if not paths:
        return {}
    with ThreadPoolExecutor(max_workers=len(paths), thread_name_prefix="probe") as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))


# --- which nodes --------------------------------------------------------------------------


def choose_nodes(
    connection: Connection, view: ClusterView, asked: Sequence[str]
) -> tuple[list[NodeConfig], Check]:
    """The nodes whose members are restored, and the check that says why these."""
    name = "nodes to restore"
    if asked:
        try:
            nodes = [connection.node(n) for n in asked]
        except EtcdtuiError as exc:
            return [], Check(name, Verdict.FAIL, str(exc))
        return nodes, Check(name, Verdict.PASS, "as asked: " + ", ".join(asked))
    members = [m.member for m in view.members if m.member is not None]
    if members:
        by_member = {n.member_name: n for n in connection.nodes}
        lost = [m.name or m.id_hex for m in members if m.name not in by_member]
        nodes = [by_member[m.name] for m in members if m.name in by_member]
        if lost:
            reason = (
                "no node in the config for member " + ", ".join(lost) + ": restoring without it "
                "would shrink the cluster; name the nodes to restore to do that on purpose"
            )
            return nodes, Check(name, Verdict.FAIL, reason)
        learners = [m.name for m in members if m.is_learner]
        text = "the current members: " + ", ".join(n.name for n in nodes)
        if learners:
            text += f" (learners {', '.join(learners)} come back as voting members)"
            return nodes, Check(name, Verdict.WARN, text)
        return nodes, Check(name, Verdict.PASS, text)
    named = [n for n in connection.nodes if n.member]
    nodes = named or list(connection.nodes)
    why = "whose config names a member" if named else "in the config"
    text = f"etcd does not answer: every node {why}: " + ", ".join(n.name for n in nodes)
    if not nodes:
        return [], Check(name, Verdict.FAIL, "the config lists no nodes to restore")
    return nodes, Check(name, Verdict.WARN, text)


def profile_check(
    connection: Connection, members: Iterable[NodeConfig], apiservers: Iterable[NodeConfig]
) -> Check:
    """Every command the plan needs exists and can be filled in, and peer URLs are known."""
    problems = []
    for node in members:
        if not node.peer_urls:
            problems.append(f"{node.name}: no peer_urls (needed for --initial-cluster)")
        for action in ("stop", "start", "is_active"):
            try:
                connection.profile_command(node, action)
            except EtcdtuiError as exc:
                problems.append(str(exc))
    for node in apiservers:
        for action in ("apiserver_stop", "apiserver_start"):
            try:
                connection.profile_command(node, action)
            except EtcdtuiError as exc:
                problems.append(f"{exc} (the node has apiserver = true)")
    if problems:
        return Check("node profiles", Verdict.FAIL, "; ".join(problems))
    return Check("node profiles", Verdict.PASS, "stop, start and status commands for every node")


def foreign_check(
    facts: SnapshotFacts | None, connection: Connection, view: ClusterView, force: bool
) -> Check:
    """Whether the snapshot comes from this cluster: at least one of its members has a peer URL
    that the config or the live member list gives a member of this cluster. Names alone prove
    nothing (every kubeadm cluster has a member named after its first node)."""
    name = "snapshot from this cluster"
    if facts is None:
        return Check(name, Verdict.FAIL, "the snapshot could not be read")
    if not facts.members:
        return Check(name, Verdict.WARN, "the snapshot records no members: cannot tell")
    ours = {f"{n.member_name}={u}" for n in connection.nodes for u in n.peer_urls}
    ours |= {f"{m.member.name}={u}" for m in view.members if m.member for u in m.member.peer_urls}
    ours_urls = {entry.split("=", 1)[1] for entry in ours}
    theirs_urls = {entry.split("=", 1)[1] for entry in facts.members}
    if theirs_urls & ours_urls:
        return Check(name, Verdict.PASS, "members: " + ", ".join(facts.members))
    difference = (
        f"the snapshot's members ({', '.join(facts.members)}) share no peer URL with this "
        f"cluster's ({', '.join(sorted(ours)) or 'none known'})"
    )
    if force:
        return Check(
            name, Verdict.WARN, f"{difference}; restoring anyway (--force-foreign-snapshot)"
        )
    return Check(
        name,
        Verdict.FAIL,
        f"{difference}: a snapshot of another cluster; --force-foreign-snapshot restores it anyway",
    )


def node_checks(
    members: Sequence[NodeConfig],
    probes: dict[str, NodeProbe],
    facts: SnapshotFacts | None,
    view: ClusterView,
) -> list[Check]:
    """SSH, disk, restore tool and versions, as the probes found them."""
    checks = []
    # SSH errors name their node already ("node2: host key ..."): not twice.
    down = [f"{name}: {p.error.removeprefix(f'{name}: ')}" for name, p in probes.items() if p.error]
    checks.append(
        Check(
            "SSH to every node",
            Verdict.FAIL if down else Verdict.PASS,
            "; ".join(down) if down else f"{len(probes)} nodes answered",
        )
    )
    up = [probes[n.name] for n in members if not probes[n.name].error]
    if facts is not None:
        need = 2 * facts.size + WAL_BYTES
        short = [
            f"{p.node}: {human_bytes(p.free_bytes) if p.free_bytes is not None else 'unknown'}"
            for p in up
            if p.free_bytes is None or p.free_bytes < need
        ]
        reason = (
            f"need {human_bytes(need)} beside each data dir (the copy, the restored database "
            f"and its first WAL file)"
        )
        checks.append(
            Check(
                "free disk",
                Verdict.FAIL if short else Verdict.PASS,
                f"{reason}; too little on " + ", ".join(short) if short else reason,
            )
        )
    no_tool = [f"{p.node}: {p.tool_problem}" for p in up if not p.tool]
    no_sum = [p.node for p in up if not p.sha256sum]
    tools = ", ".join(f"{p.node}: {p.tool_name} {p.tool_version}" for p in up if p.tool)
    if no_tool or no_sum:
        bad = no_tool + [f"{n}: no sha256sum" for n in no_sum]
        checks.append(Check("restore tool", Verdict.FAIL, "; ".join(bad)))
    else:
        checks.append(Check("restore tool", Verdict.PASS, tools or "no node answered"))
    checks.append(version_check(up, facts, view))
    taken = [f"{p.node}: {', '.join(p.existing)}" for p in up if p.existing]
    if taken:
        checks.append(Check("paths of this run are free", Verdict.FAIL, "; ".join(taken)))
    empty = [p.node for p in up if not p.has_member]
    checks.append(
        Check(
            "old data dirs",
            Verdict.WARN if empty else Verdict.PASS,
            "no member/ in the data dir of " + ", ".join(empty) + ": nothing to keep there"
            if empty
            else "each is moved aside and kept, never deleted",
        )
    )
    return checks


def version_check(
    probes: Sequence[NodeProbe], facts: SnapshotFacts | None, view: ClusterView
) -> Check:
    """The snapshot's major.minor against every tool, etcd binary and live member."""
    name = "etcd version matches the snapshot"
    found = [(f"{p.node} {p.tool_name}", p.tool_version) for p in probes if p.tool]
    found += [(f"{p.node} etcd", p.etcd_version) for p in probes if p.etcd_version]
    found += [(f"member {m.name}", m.status.version) for m in view.members if m.status]
    wanted = major_minor(facts.cluster_version) if facts else ""
    if not wanted:
        kinds = sorted({major_minor(v) for _, v in found if major_minor(v)})
        if len(kinds) > 1:
            return Check(name, Verdict.FAIL, "the nodes disagree: " + ", ".join(kinds))
        return Check(
            name,
            Verdict.WARN,
            "the snapshot records no cluster version; nodes: " + (", ".join(kinds) or "unknown"),
        )
    wrong = [f"{who} is {v}" for who, v in found if major_minor(v) != wanted]
    if wrong:
        reason = f"the snapshot is etcd {facts.cluster_version if facts else ''}, but " + ", ".join(
            wrong
        )
        return Check(name, Verdict.FAIL, reason)
    return Check(name, Verdict.PASS, f"{wanted} everywhere ({len(found)} tools and members)")


def apiserver_check(connection: Connection, apiservers: Sequence[NodeConfig]) -> Check:
    """A plain warning either way: the restore stops every apiserver the config names, and
    waits to see it stopped where the node's profile says how to ask (`apiserver_ready`)."""
    if apiservers:
        names = ", ".join(n.name for n in apiservers)
        reason = f"every kube-apiserver is stopped first and started last: {names}"
        unasked = [n.name for n in apiservers
                   if not connection.has_profile_command(n, "apiserver_ready")]  # fmt: skip
        if unasked:
            reason += (f"; not seen stopped before etcd stops (no apiserver_ready in the "
                       f"profile): check {', '.join(unasked)} yourself")  # fmt: skip
        return Check("kube-apiservers", Verdict.WARN, reason)
    return Check(
        "kube-apiservers",
        Verdict.WARN,
        "the config names none (apiserver = true): stop every kube-apiserver yourself "
        "before going on; never restore under a running apiserver",
    )


def revision_bump(
    members: Sequence[NodeConfig], probes: dict[str, NodeProbe], asked: int
) -> tuple[int, Check]:
    """The --bump-revision to give: only when every node's tool has it (the members' data
    must be identical), else 0 and a warning about what that means for watchers."""
    name = "revision bump"
    usable = [probes[n.name] for n in members if n.name in probes and probes[n.name].tool]
    if not asked:
        return 0, Check(name, Verdict.WARN, "not asked for: the revision goes back")
    if usable and all(p.bump for p in usable):
        reason = f"--bump-revision {asked} --mark-compacted: watchers see the revision move on"
        return asked, Check(name, Verdict.PASS, reason)
    lacking = ", ".join(f"{p.node} ({p.tool_name} {p.tool_version})" for p in usable if not p.bump)
    return 0, Check(
        name,
        Verdict.WARN,
        f"not supported by the restore tool on {lacking or 'no node'}: the revision goes back "
        "to the snapshot's, so restart every apiserver (done here), controller and kubelet, "
        "whose watches would otherwise miss changes",
    )


def live_check(
    client: ClusterClient, view: ClusterView, facts: SnapshotFacts | None
) -> tuple[int | None, int | None, Check]:
    """What the cluster holds now (revision, keys): lost to it after the restore, and kept
    only in the old data dirs; a rollback is checked against them."""
    leader = view.leader
    if leader is None or leader.status is None:
        return None, None, Check("etcd now", Verdict.WARN, "no leader answers: nothing to lose")
    revision = leader.status.revision
    keys = None
    with contextlib.suppress(EtcdtuiError):
        keys = client.client(leader.endpoint).key_count()
    target = facts.revision if facts else 0
    reason = (
        f"answers at revision {revision} with {'?' if keys is None else keys} keys: the restore "
        f"takes it back to revision {target}; what was written since stays only in the old "
        "data dirs"
    )
    return revision, keys, Check("etcd now", Verdict.WARN, reason)
