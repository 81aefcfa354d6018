"""The restore's steps: each with the exact command it runs on its node (sudo included).

A step carries in `args` the raw commands its handler needs, typed by its kind (kinds.py);
the handlers (handlers.py, upload.py) look at what is already done on the node before acting, so
a step run twice is harmless.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from etcdtui.clients.shell import quote_sudo
from etcdtui.config import Connection, NodeConfig
from etcdtui.models.runbook import Step
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.restore.kinds import (
    ChecksumArgs,
    CommandArgs,
    CopyArgs,
    EtcdStopArgs,
    NodeArgs,
    NodeStart,
    RestoreArgs,
    RestoreKind,
    StartAllArgs,
    WaitHealthyArgs,
    WaitStoppedArgs,
)
from etcdtui.runbooks.restore.state import NodePaths, RestoreOptions, SnapshotFacts

APISERVER_STOP = "apiserver-stop-"  # + the node: the step that stopped its kube-apiserver
CONTROL_PLANE_RESTART = "control-plane-restart-"  # + the node


def shown(node: NodeConfig, command: str) -> str:
    """The command as it is sent: wrapped in sudo where the node says so."""
    return quote_sudo(command) if node.sudo else command


def restore_tools(node: NodeConfig) -> tuple[tuple[str, str], tuple[str, str]]:
    """(name, command prefix) of etcdutl, then etcdctl: the node's vars, else on its PATH."""
    variables = node.vars
    etcdutl = shlex.quote(variables.get("etcdutl", "etcdutl"))
    etcdctl = "ETCDCTL_API=3 " + shlex.quote(variables.get("etcdctl", "etcdctl"))
    return ("etcdutl", etcdutl), ("etcdctl", etcdctl)


def _q(path: str) -> str:
    return shlex.quote(path)


def restarts_control_plane(steps: Sequence[Step], nodes: Sequence[NodePaths]) -> bool:
    """Whether the plan restarts the other control-plane components itself (the profile has a
    control_plane_restart command), or leaves that to a person."""
    ids = {CONTROL_PLANE_RESTART + n.node for n in nodes if n.apiserver}
    return any(step.id in ids for step in steps)


def copy_step(node: NodeConfig, paths: NodePaths, source: str, facts: SnapshotFacts) -> Step:
    return Step(
        f"copy-{node.name}",
        RestoreKind.COPY,
        node.name,
        f"sftp put {source} {node.name}:{paths.snapshot} (mode 0600)",
        f"the restore reads the snapshot on the node ({human_bytes(facts.size)})",
        args=CopyArgs(node.name, paths.snapshot, facts.sha256),
    )


def checksum_step(node: NodeConfig, paths: NodePaths, facts: SnapshotFacts) -> Step:
    raw = f"sha256sum {_q(paths.snapshot)}"
    return Step(
        f"checksum-{node.name}",
        RestoreKind.CHECKSUM,
        node.name,
        shown(node, raw),
        f"the copy must be byte for byte the snapshot (sha256 {facts.sha256[:16]}...)",
        args=ChecksumArgs(node.name, raw, facts.sha256),
        read_only=True,
    )


def profile_step(
    connection: Connection,
    node: NodeConfig,
    action: str,
    step_id: str,
    why: str,
    destructive: bool = False,
) -> Step:
    """A command of the node's profile: etcd's `stop` (which counts as done when etcd is
    inactive already), or any other action run as it is."""
    raw = connection.profile_command(node, action)
    if action == "stop":
        is_active = connection.profile_command(node, "is_active")
        stop = EtcdStopArgs(node.name, raw, is_active)
        return Step(step_id, RestoreKind.ETCD_STOP, node.name, shown(node, raw), why,
                    destructive, stop)  # fmt: skip
    command = CommandArgs(node.name, raw)
    return Step(step_id, RestoreKind.COMMAND, node.name, shown(node, raw), why, destructive,
                command)  # fmt: skip


def wait_stopped_step(members: Sequence[NodeConfig], timeout: float, step_id: str) -> Step:
    names = ",".join(n.name for n in members)
    return Step(
        step_id,
        RestoreKind.WAIT_STOPPED,
        "cluster",
        f"poll every member's /v3/maintenance/status until none answers and is_active fails "
        f"on {names.replace(',', ', ')} (at most {timeout:g} s)",
        "no etcd may hold a data dir while it is moved",
        args=WaitStoppedArgs(tuple(n.name for n in members), timeout),
        read_only=True,
    )


def wait_apiservers_down_step(
    c: Connection, apiservers: Sequence[NodeConfig], timeout: float, step_id: str
) -> Step | None:
    """Until every kube-apiserver that can be asked stops answering `apiserver_ready`; None
    when no node's profile has that command (the preflight's warning names those nodes)."""
    asked = [n for n in apiservers if c.has_profile_command(n, "apiserver_ready")]
    if not asked:
        return None
    commands = sorted({c.profile_command(n, "apiserver_ready") for n in asked})
    names = ", ".join(n.name for n in asked)
    return Step(
        step_id,
        RestoreKind.WAIT_APISERVERS_DOWN,
        "cluster",
        f"run {' or '.join(commands)} on {names} until it fails on each (at most {timeout:g} s)",
        "the kubelet stops a pod a while after its manifest moves: no apiserver may still "
        "write when etcd stops",
        args=WaitStoppedArgs(tuple(n.name for n in asked), timeout),
        read_only=True,
    )


def restore_command(
    tool: str,
    node: NodeConfig,
    paths: NodePaths,
    initial: str,
    token: str,
    bump: int,
    skip_hash: bool,
) -> str:
    tool = tool or restore_tools(node)[0][1]
    parts = [
        f"{tool} snapshot restore {_q(paths.snapshot)}",
        f"--name {_q(node.member_name)}",
        f"--initial-cluster {_q(initial)}",
        f"--initial-cluster-token {_q(token)}",
        f"--initial-advertise-peer-urls {_q(','.join(node.peer_urls))}",
        f"--data-dir {_q(paths.restored)}",
    ]
    if bump:
        parts.append(f"--bump-revision {bump} --mark-compacted")
    if skip_hash:
        parts.append("--skip-hash-check")
    return " ".join(parts)


def restore_step(node: NodeConfig, paths: NodePaths, raw: str) -> Step:
    return Step(
        f"restore-{node.name}",
        RestoreKind.RESTORE,
        node.name,
        shown(node, raw),
        f"write {node.member_name}'s new data dir from the snapshot (beside the old one)",
        destructive=True,
        args=RestoreArgs(node.name, raw, paths.restored),
    )


def swap_step(node: NodeConfig, paths: NodePaths) -> Step:
    d, b, n = _q(paths.data_dir), _q(paths.before), _q(paths.restored)
    raw = (
        f"mv {d} {b} && mv {n} {d}"
        if paths.had_data
        else f"test ! -e {d} || mv {d} {b}; mv {n} {d}"
    )
    return Step(
        f"swap-{node.name}",
        RestoreKind.SWAP,
        node.name,
        shown(node, raw),
        "keep the old data dir under a new name (never deleted); put the restored one in place",
        destructive=True,
        args=NodeArgs(node.name),
    )


def unswap_step(node: NodeConfig, paths: NodePaths) -> Step:
    d, b, x = _q(paths.data_dir), _q(paths.before), _q(paths.rolled_back)
    raw = f"mv {d} {x} && mv {b} {d}" if paths.had_data else f"mv {d} {x}"
    why = (
        "put the old data dir back; the restored one is kept aside, never deleted"
        if paths.had_data
        else "the node had no data dir: move the restored one aside"
    )
    return Step(
        f"unswap-{node.name}",
        RestoreKind.UNSWAP,
        node.name,
        shown(node, raw),
        why,
        destructive=True,
        args=NodeArgs(node.name),
    )


def start_all_step(connection: Connection, nodes: Sequence[NodeConfig], step_id: str) -> Step:
    """Start etcd on every node at once: under systemd (Type=notify) `start` returns only
    once the member has a quorum, so one node after another would wait on the first."""
    commands = [(n, connection.profile_command(n, "start")) for n in nodes]
    starts = tuple(
        NodeStart(node.name, raw, connection.profile_command(node, "is_active"))
        for node, raw in commands
    )
    return Step(
        step_id,
        RestoreKind.START_ALL,
        ",".join(n.name for n in nodes),
        " & ".join(f"[{n.name}] {shown(n, raw)}" for n, raw in commands),
        "start every member at once (each waits for a quorum of its peers)",
        args=StartAllArgs(starts),
    )


def wait_healthy_step(members: Sequence[NodeConfig], timeout: float, step_id: str) -> Step:
    names = ",".join(n.member_name for n in members)
    return Step(
        step_id,
        RestoreKind.WAIT_HEALTHY,
        "cluster",
        f"poll status and a linearizable read of every member until {names.replace(',', ', ')} "
        f"are healthy with one leader (at most {timeout:g} s)",
        "the apiservers must find a working etcd",
        args=WaitHealthyArgs(tuple(n.member_name for n in members), timeout),
        read_only=True,
    )


def run_paths(
    run: str, members: Sequence[NodeConfig], apiservers: Sequence[NodeConfig]
) -> dict[str, NodePaths]:
    """Where the run puts things on each member node, and on each node that only runs an
    apiserver (it only needs SSH there); every member assumed to have data until probed."""
    member_names = {n.name for n in members}
    return {
        n.name: NodePaths.for_run(
            n.name,
            n.member_name if n.name in member_names else "",
            n.data_dir,
            run,
            True,
            n.apiserver,
        )
        for n in [*members, *[a for a in apiservers if a.name not in member_names]]
    }


def restore_steps(
    c: Connection,
    opts: RestoreOptions,
    members: Sequence[NodeConfig],
    apiservers: Sequence[NodeConfig],
    paths: dict[str, NodePaths],
    tools: dict[str, str],
    facts: SnapshotFacts,
    token: str,
    bump: int,
) -> list[Step]:
    """The whole restore, in order (see the module docstring of runbook.py)."""
    source = facts.path + (" (decrypted to a private temp file)" if facts.encrypted else "")
    initial = ",".join(f"{n.member_name}={url}" for n in members for url in n.peer_urls)
    steps: list[Step] = []
    for n in members:
        steps += [
            copy_step(n, paths[n.name], source, facts),
            checksum_step(n, paths[n.name], facts),
        ]
    steps += _stop_steps(c, opts, members, apiservers)
    for n in members:
        raw = restore_command(
            tools.get(n.name, ""), n, paths[n.name], initial, token, bump, facts.digest != "ok"
        )
        steps.append(restore_step(n, paths[n.name], raw))
    steps += [swap_step(n, paths[n.name]) for n in members]
    steps.append(start_all_step(c, members, "etcd-start"))
    steps.append(wait_healthy_step(members, opts.healthy_timeout, "wait-healthy"))
    return steps + _apiserver_start_steps(c, apiservers)


def _stop_steps(
    c: Connection,
    opts: RestoreOptions,
    members: Sequence[NodeConfig],
    apiservers: Sequence[NodeConfig],
) -> list[Step]:
    """Every kube-apiserver stopped, and seen down; then every etcd stopped, and the wait for
    all to be down."""
    why = "never restore under a running kube-apiserver"
    steps = [
        profile_step(c, n, "apiserver_stop", APISERVER_STOP + n.name, why, True) for n in apiservers
    ]
    down = wait_apiservers_down_step(c, apiservers, opts.apiserver_timeout, "wait-apiservers-down")
    steps += [down] if down else []
    steps += [
        profile_step(
            c,
            n,
            "stop",
            f"etcd-stop-{n.name}",
            f"stop {n.member_name}: its data dir is replaced",
            True,
        )
        for n in members
    ]
    steps.append(wait_stopped_step(members, opts.stop_timeout, "wait-stopped"))
    return steps


def _apiserver_start_steps(c: Connection, apiservers: Sequence[NodeConfig]) -> list[Step]:
    """The kube-apiservers served again, then (where the profile says how) the control plane
    restarted."""
    why = "the restored etcd is healthy: serve the API again"
    steps = [
        profile_step(c, n, "apiserver_start", f"apiserver-start-{n.name}", why) for n in apiservers
    ]
    steps += [
        profile_step(
            c,
            n,
            "control_plane_restart",
            CONTROL_PLANE_RESTART + n.name,
            "their caches and watches predate the restore",
        )
        for n in apiservers
        if c.has_profile_command(n, "control_plane_restart")
    ]
    return steps
