"""The restore's steps: each with the exact command it runs on its node (sudo included).

A step carries in `args` the raw commands its handler needs (handlers.py): the handlers
look at what is already done on the node before acting, so a step run twice is harmless.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from etcdtui.clients.ssh.shell import quote_sudo
from etcdtui.config import Connection, NodeConfig
from etcdtui.models.runbook import Step
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.restore.journal import NodePaths, RestoreOptions, SnapshotFacts


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


def copy_step(node: NodeConfig, paths: NodePaths, source: str, facts: SnapshotFacts) -> Step:
    return Step(
        f"copy-{node.name}",
        "copy",
        node.name,
        f"sftp put {source} {node.name}:{paths.snapshot} (mode 0600)",
        f"the restore reads the snapshot on the node ({human_bytes(facts.size)})",
        args=(("node", node.name), ("remote", paths.snapshot), ("sha256", facts.sha256)),
    )


def checksum_step(node: NodeConfig, paths: NodePaths, facts: SnapshotFacts) -> Step:
    raw = f"sha256sum {_q(paths.snapshot)}"
    return Step(
        f"checksum-{node.name}",
        "checksum",
        node.name,
        shown(node, raw),
        f"the copy must be byte for byte the snapshot (sha256 {facts.sha256[:16]}...)",
        args=(("node", node.name), ("raw", raw), ("sha256", facts.sha256)),
    )


def profile_step(
    connection: Connection,
    node: NodeConfig,
    action: str,
    step_id: str,
    why: str,
    destructive: bool = False,
) -> Step:
    raw = connection.profile_command(node, action)
    args: tuple[tuple[str, str], ...] = (("node", node.name), ("raw", raw))
    if action in ("stop", "start"):
        args += (("is_active", connection.profile_command(node, "is_active")),)
    kind = {"stop": "etcd_stop"}.get(action, "command")
    return Step(step_id, kind, node.name, shown(node, raw), why, destructive, args)


def wait_stopped_step(members: Sequence[NodeConfig], timeout: float, step_id: str) -> Step:
    names = ",".join(n.name for n in members)
    return Step(
        step_id,
        "wait_stopped",
        "cluster",
        f"poll every member's /v3/maintenance/status until none answers and is_active fails "
        f"on {names.replace(',', ', ')} (at most {timeout:g} s)",
        "no etcd may hold a data dir while it is moved",
        args=(("nodes", names), ("timeout", str(timeout))),
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
        "restore",
        node.name,
        shown(node, raw),
        f"write {node.member_name}'s new data dir from the snapshot (beside the old one)",
        destructive=True,
        args=(("node", node.name), ("raw", raw), ("restored", paths.restored)),
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
        "swap",
        node.name,
        shown(node, raw),
        "keep the old data dir under a new name (never deleted); put the restored one in place",
        destructive=True,
        args=(("node", node.name),),
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
        "unswap",
        node.name,
        shown(node, raw),
        why,
        destructive=True,
        args=(("node", node.name),),
    )


def start_all_step(connection: Connection, nodes: Sequence[NodeConfig], step_id: str) -> Step:
    """Start etcd on every node at once: under systemd (Type=notify) `start` returns only
    once the member has a quorum, so one node after another would wait on the first."""
    commands = [(n, connection.profile_command(n, "start")) for n in nodes]
    args: tuple[tuple[str, str], ...] = (("nodes", ",".join(n.name for n in nodes)),)
    for node, raw in commands:
        args += (
            (f"raw:{node.name}", raw),
            (f"is_active:{node.name}", connection.profile_command(node, "is_active")),
        )
    return Step(
        step_id,
        "start_all",
        ",".join(n.name for n in nodes),
        " & ".join(f"[{n.name}] {shown(n, raw)}" for n, raw in commands),
        "start every member at once (each waits for a quorum of its peers)",
        args=args,
    )


def wait_healthy_step(members: Sequence[NodeConfig], timeout: float, step_id: str) -> Step:
    names = ",".join(n.member_name for n in members)
    return Step(
        step_id,
        "wait_healthy",
        "cluster",
        f"poll status and a linearizable read of every member until {names.replace(',', ', ')} "
        f"are healthy with one leader (at most {timeout:g} s)",
        "the apiservers must find a working etcd",
        args=(("members", names), ("timeout", str(timeout))),
    )


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
    """The whole restore, in order (see the module docstring of restore.py)."""
    source = facts.path + (" (decrypted to a private temp file)" if facts.encrypted else "")
    initial = ",".join(f"{n.member_name}={url}" for n in members for url in n.peer_urls)
    steps: list[Step] = []
    for n in members:
        steps += [
            copy_step(n, paths[n.name], source, facts),
            checksum_step(n, paths[n.name], facts),
        ]
    for n in apiservers:
        steps.append(
            profile_step(
                c,
                n,
                "apiserver_stop",
                f"apiserver-stop-{n.name}",
                "never restore under a running kube-apiserver",
                True,
            )
        )
    for n in members:
        steps.append(
            profile_step(
                c,
                n,
                "stop",
                f"etcd-stop-{n.name}",
                f"stop {n.member_name}: its data dir is replaced",
                True,
            )
        )
    steps.append(wait_stopped_step(members, opts.stop_timeout, "wait-stopped"))
    for n in members:
        raw = restore_command(
            tools.get(n.name, ""), n, paths[n.name], initial, token, bump, facts.digest != "ok"
        )
        steps.append(restore_step(n, paths[n.name], raw))
    steps += [swap_step(n, paths[n.name]) for n in members]
    steps.append(start_all_step(c, members, "etcd-start"))
    steps.append(wait_healthy_step(members, opts.healthy_timeout, "wait-healthy"))
    for n in apiservers:
        steps.append(
            profile_step(
                c,
                n,
                "apiserver_start",
                f"apiserver-start-{n.name}",
                "the restored etcd is healthy: serve the API again",
            )
        )
    for n in apiservers:
        if c.has_profile_command(n, "control_plane_restart"):
            steps.append(
                profile_step(
                    c,
                    n,
                    "control_plane_restart",
                    f"control-plane-restart-{n.name}",
                    "their caches and watches predate the restore",
                )
            )
    return steps
