"""The restore's step handlers: each looks at what is already done before it acts.

A run cut short (a dropped connection, a killed process) leaves a step half done; running it
again must neither fail on its own earlier work nor lose anything. So: a copy is rewritten
whole and checked (upload.py); a stop that fails counts when etcd is inactive; a restore first
moves aside what an interrupted attempt left; the moves of data dirs look at which dirs exist
and do only the rest; a start that fails counts when etcd runs. Nothing is ever deleted.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, NodeConfig
from etcdtui.models.command import CommandResult
from etcdtui.models.runbook import Step
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.restore.kinds import (
    ChecksumArgs,
    CommandArgs,
    EtcdStopArgs,
    NodeArgs,
    NodeStart,
    RestoreArgs,
    RestoreKind,
    StartAllArgs,
    WaitHealthyArgs,
    WaitStoppedArgs,
)
from etcdtui.runbooks.restore.state import NodePaths, RestoreOptions

POLL = 0.5
# How an `apiserver_ready` command that failed is read while waiting for kube-apiserver to stop.
# curl's exits when the server is still there: it answered with an HTTP error (22: /readyz
# fails while kube-apiserver shuts down, before it stops serving) or took the connection and
# went silent (28). Any other failure means nothing answers, except a check that could not
# run at all (126, 127), which gives no verdict.
STILL_THERE = frozenset({22, 28})
CANNOT_RUN = frozenset({126, 127})
Outcome = tuple[bool, str]
Handler = Callable[[Step, Output], Outcome]


def q(path: str) -> str:
    return shlex.quote(path)


def tail(result: CommandResult, lines: int = 5) -> str:
    """The last lines a command printed, or its exit code when it printed nothing."""
    text = (result.stdout + result.stderr).strip()
    return "\n".join(text.splitlines()[-lines:]) or f"exit code {result.exit_code}"


def _stamp() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def run_on(
    shells: ShellPool,
    node: NodeConfig,
    raw: str,
    output: Output | None = None,
    timeout: float = 60.0,
) -> CommandResult:
    """Run `raw` on the node (through sudo where it says so); stream it when asked."""
    stream = None if output is None else (lambda _s, line: output(line))
    return shells.shell(node.name).run(raw, timeout=timeout, sudo=node.sudo, on_line=stream)


class NodeSide:
    """The handlers of the steps that run commands on the nodes and wait on the cluster.

    `paths` gives where the run puts things on a node, as its journal holds them.
    """

    def __init__(
        self,
        connection: Connection,
        shells: ShellPool,
        client: ClusterClient,
        options: RestoreOptions,
        paths: Callable[[str], NodePaths],
    ) -> None:
        self.connection = connection
        self.shells = shells
        self.client = client
        self.options = options
        self.paths = paths

    def handlers(self) -> dict[RestoreKind, Handler]:
        """Which of this side's methods runs each kind of step it handles."""
        return {
            RestoreKind.CHECKSUM: self.checksum,
            RestoreKind.COMMAND: self.command,
            RestoreKind.WAIT_APISERVERS_DOWN: self.wait_apiservers_down,
            RestoreKind.ETCD_STOP: self.etcd_stop,
            RestoreKind.WAIT_STOPPED: self.wait_stopped,
            RestoreKind.START_ALL: self.start_all,
            RestoreKind.WAIT_HEALTHY: self.wait_healthy,
            RestoreKind.RESTORE: self.restore,
            RestoreKind.SWAP: self.swap,
            RestoreKind.UNSWAP: self.unswap,
        }

    def _sh(
        self, node: NodeConfig, raw: str, output: Output | None = None, timeout: float = 60.0
    ) -> CommandResult:
        return run_on(self.shells, node, raw, output, timeout)

    def _move(self, node: NodeConfig, source: str, target: str, output: Output) -> CommandResult:
        raw = f"mv {q(source)} {q(target)}"
        output(f"$ {raw}")
        return self._sh(node, raw)

    def _existing(self, node: NodeConfig, paths: list[str]) -> set[str]:
        listed = " ".join(q(p) for p in paths)
        raw = f'for p in {listed}; do if [ -e "$p" ]; then echo "$p"; fi; done'
        return set(self._sh(node, raw).stdout.splitlines())

    def checksum(self, step: Step, output: Output) -> Outcome:
        args = step.params(ChecksumArgs)
        node = self.connection.node(args.node)
        result = self._sh(node, args.raw, timeout=self.options.command_timeout)
        found = result.stdout.split()[0] if result.ok and result.stdout.split() else ""
        if found != args.sha256:
            return False, f"sha256 on {node.name}: {found or tail(result)}; expected {args.sha256}"
        return True, f"{found}  matches the bastion's"

    # --- services -------------------------------------------------------------------------------

    def command(self, step: Step, output: Output) -> Outcome:
        args = step.params(CommandArgs)
        node = self.connection.node(args.node)
        result = self._sh(node, args.raw, output, self.options.command_timeout)
        return result.ok, tail(result) if not result.ok else (
            tail(result, 2) if result.stdout.strip() else "done"
        )

    def wait_apiservers_down(self, step: Step, output: Output) -> Outcome:
        args = step.params(WaitStoppedArgs)
        nodes = [self.connection.node(n) for n in args.nodes if n]
        ready = {n.name: self.connection.profile_command(n, "apiserver_ready") for n in nodes}
        deadline = time.monotonic() + args.timeout
        while True:
            still = []
            for node in nodes:
                result = self._sh(node, ready[node.name], timeout=15)
                if result.exit_code in CANNOT_RUN:
                    return False, f"{node.name}: cannot tell whether kube-apiserver stopped: " + (
                        f"`{ready[node.name]}` could not run: {tail(result, 1)}"
                    )
                if result.ok or result.exit_code in STILL_THERE:
                    still.append(node.name)
            if not still:
                return True, "no kube-apiserver answers on " + ", ".join(ready)
            if time.monotonic() > deadline:
                return False, f"still serving after {args.timeout:g} s: " + ", ".join(still)
            time.sleep(POLL)

    def etcd_stop(self, step: Step, output: Output) -> Outcome:
        args = step.params(EtcdStopArgs)
        node = self.connection.node(args.node)
        result = self._sh(node, args.raw, output, self.options.command_timeout)
        if result.ok:
            return True, "stopped"
        if not self._sh(node, args.is_active).ok:
            return True, f"already stopped ({tail(result, 1)})"
        return False, tail(result)

    def wait_stopped(self, step: Step, output: Output) -> Outcome:
        args = step.params(WaitStoppedArgs)
        nodes = [self.connection.node(n) for n in args.nodes if n]
        timeout = args.timeout
        deadline = time.monotonic() + timeout
        while True:
            view = self.client.read(metrics=False, health=False)
            still = [m.name for m in view.members if m.reachable]
            if not still:
                checks = {n.name: self.connection.profile_command(n, "is_active") for n in nodes}
                still = [n.name for n in nodes if self._sh(n, checks[n.name]).ok]
                if not still:
                    return True, "no member answers; etcd is inactive on " + ", ".join(checks)
            if time.monotonic() > deadline:
                return False, f"still running after {timeout:g} s: " + ", ".join(still)
            time.sleep(POLL)

    def start_all(self, step: Step, output: Output) -> Outcome:
        starts = [s for s in step.params(StartAllArgs).starts if s.node]
        if not starts:
            return True, "no node to start"
        with ThreadPoolExecutor(max_workers=len(starts), thread_name_prefix="start") as pool:
            outcomes = list(pool.map(self._start, starts))
        for _, text in outcomes:
            output(text)
        return all(ok for ok, _ in outcomes), "; ".join(text for _, text in outcomes)

    def _start(self, start: NodeStart) -> Outcome:
        node = self.connection.node(start.node)
        result = self._sh(node, start.raw, None, self.options.command_timeout)
        if result.ok:
            return True, f"{start.node}: started"
        if self._sh(node, start.is_active).ok:
            return True, f"{start.node}: already running ({tail(result, 1)})"
        return False, f"{start.node}: {tail(result)}"

    def wait_healthy(self, step: Step, output: Output) -> Outcome:
        args = step.params(WaitHealthyArgs)
        wanted = {n for n in args.members if n}
        timeout = args.timeout
        deadline = time.monotonic() + timeout
        while True:
            view = self.client.read(metrics=False)
            names = {m.member.name for m in view.members if m.member is not None}
            if view.healthy and names == wanted:
                leader = view.leader.name if view.leader else "?"
                return True, f"{len(names)} members healthy, leader {leader}"
            if time.monotonic() > deadline:
                problems = "; ".join(m.problem or m.name for m in view.members if not m.healthy)
                if names != wanted:
                    problems += f" members {sorted(names)}, expected {sorted(wanted)}"
                return False, f"not healthy after {timeout:g} s: {problems or 'no leader'}"
            time.sleep(POLL)

    # --- data dirs --------------------------------------------------------------------------------

    def restore(self, step: Step, output: Output) -> Outcome:
        args = step.params(RestoreArgs)
        node, restored = self.connection.node(args.node), args.restored
        note = ""
        if self._sh(node, f"test -e {q(restored)}").ok:
            aside = f"{restored}.etcdtui-incomplete-{_stamp()}"
            output(f"{restored} is left from an attempt cut short: moving it aside")
            moved = self._move(node, restored, aside, output)
            if not moved.ok:
                return False, tail(moved)
            note = f"what an attempt cut short left was moved to {aside}; "
        result = self._sh(node, args.raw, output, self.options.command_timeout)
        if not result.ok:
            return False, note + tail(result)
        if not self._sh(node, f"test -d {q(restored + '/member')}").ok:
            return False, f"{note}the restore exited 0 but wrote no {restored}/member"
        return True, f"{note}{node.name}: restored into {restored}"

    def swap(self, step: Step, output: Output) -> Outcome:
        name = step.params(NodeArgs).node
        node, p = self.connection.node(name), self.paths(name)
        there = self._existing(node, [p.data_dir, p.before, p.restored])
        if p.restored not in there:
            if p.data_dir in there and (p.before in there or not p.had_data):
                return True, f"already done: {p.data_dir} is the restored data"
            return False, f"{p.restored} is missing and {p.data_dir} was not swapped: restore again"
        if p.data_dir in there:
            if p.before in there:
                return False, f"{p.before} exists already: not moving {p.data_dir} onto it"
            if not (moved := self._move(node, p.data_dir, p.before, output)).ok:
                return False, tail(moved)
        if not (moved := self._move(node, p.restored, p.data_dir, output)).ok:
            return False, tail(moved)
        kept = f"old data kept in {p.before}; " if p.data_dir in there else ""
        return True, f"{kept}restored data in {p.data_dir}"

    def unswap(self, step: Step, output: Output) -> Outcome:
        name = step.params(NodeArgs).node
        node, p = self.connection.node(name), self.paths(name)
        there = self._existing(node, [p.data_dir, p.before, p.restored, p.rolled_back])
        if p.before in there:
            if p.data_dir in there:
                if p.rolled_back in there:
                    return False, f"{p.rolled_back} exists already: not moving {p.data_dir}"
                if not (moved := self._move(node, p.data_dir, p.rolled_back, output)).ok:
                    return False, tail(moved)
            if not (moved := self._move(node, p.before, p.data_dir, output)).ok:
                return False, tail(moved)
            return True, f"old data back in {p.data_dir}"
        moved_in = p.restored not in there and p.rolled_back not in there
        if p.data_dir in there and not p.had_data and moved_in:
            if not (moved := self._move(node, p.data_dir, p.rolled_back, output)).ok:
                return False, tail(moved)
            return True, f"restored data moved aside to {p.rolled_back} (no old data here)"
        if p.data_dir in there or not p.had_data:
            return True, f"{p.data_dir} was never moved aside: nothing to put back"
        return False, f"neither {p.data_dir} nor {p.before} exists on {node.name}"
