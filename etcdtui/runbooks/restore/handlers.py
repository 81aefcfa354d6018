"""The restore's step handlers: each looks at what is already done before it acts.

A run cut short (a dropped connection, a killed process) leaves a step half done; running it
again must neither fail on its own earlier work nor lose anything. So: a copy is rewritten
whole and checked; a stop that fails counts when etcd is inactive; a restore first moves aside
what an interrupted attempt left; the moves of data dirs look at which dirs exist and do only
the rest; a start that fails counts when etcd runs. Nothing is ever deleted.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool, SshShell
from etcdtui.clients.stall import StallWatch, TransferStalled
from etcdtui.config import Connection, NodeConfig
from etcdtui.models.command import CommandResult
from etcdtui.models.runbook import Step
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.restore.journal import NodePaths, RestoreOptions, RestoreState
from etcdtui.snapshots.crypto import SnapshotKey, plaintext

CHUNK = 1 << 20
POLL = 0.5
Outcome = tuple[bool, str]


def _q(path: str) -> str:
    return shlex.quote(path)


def _tail(result: CommandResult, lines: int = 5) -> str:
    text = (result.stdout + result.stderr).strip()
    return "\n".join(text.splitlines()[-lines:]) or f"exit code {result.exit_code}"


def _stamp() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


class NodeSide:
    """Mixin for RestoreRunbook: `_do_<kind>` for every kind of step the plans hold."""

    connection: Connection
    shells: ShellPool
    client: ClusterClient
    options: RestoreOptions
    state: RestoreState | None
    snapshot_path: Path
    key: SnapshotKey | None

    def _node(self, step: Step) -> tuple[NodeConfig, SshShell]:
        name = step.arg("node")
        return self.connection.node(name), self.shells.shell(name)

    def _paths(self, step: Step) -> NodePaths:
        assert self.state is not None
        return self.state.node(step.arg("node"))

    def _sh(
        self, node: NodeConfig, raw: str, output: Output | None = None, timeout: float = 60.0
    ) -> CommandResult:
        """Run `raw` on the node (through sudo where it says so); stream it when asked."""
        stream = None if output is None else (lambda _s, line: output(line))
        return self.shells.shell(node.name).run(
            raw, timeout=timeout, sudo=node.sudo, on_line=stream
        )

    def _move(self, node: NodeConfig, source: str, target: str, output: Output) -> CommandResult:
        raw = f"mv {_q(source)} {_q(target)}"
        output(f"$ {raw}")
        return self._sh(node, raw)

    def _existing(self, node: NodeConfig, paths: list[str]) -> set[str]:
        listed = " ".join(_q(p) for p in paths)
        raw = f'for p in {listed}; do if [ -e "$p" ]; then echo "$p"; fi; done'
        return set(self._sh(node, raw).stdout.splitlines())

    # --- the snapshot's copy ------------------------------------------------------------------

    def _do_copy(self, step: Step, output: Output) -> Outcome:
        node, shell = self._node(step)
        remote = step.arg("remote")
        started = time.monotonic()
        try:
            # No byte for the stall timeout (a link down, a frozen node) ends the copy, with
            # the same watchdog and words as a snapshot save's.
            with plaintext(self.snapshot_path, self.key) as clear, shell.transfer() as watch:
                failure, size = self._copy(node, shell, clear, remote, step.arg("sha256"), watch)
        except TransferStalled as exc:
            return False, f"copy to {node.name}:{remote} failed: {exc.message}"
        except Exception as exc:  # SFTP raises OSError and paramiko's SSHException
            return False, f"copy to {node.name}:{remote} failed: {exc}"
        if failure:
            return False, failure
        took = time.monotonic() - started
        return True, f"copied {human_bytes(size)} to {node.name}:{remote} in {took:.1f} s"

    def _copy(
        self,
        node: NodeConfig,
        shell: SshShell,
        clear: Path,
        remote: str,
        expected: str,
        watch: StallWatch,
    ) -> tuple[str, int]:
        """SFTP `clear` to `remote` (staged, checked, renamed); (why it failed or "", bytes)."""
        sftp = shell.open_sftp()
        try:
            staging = remote + ".part"
            if node.sudo:  # SFTP writes as the login user: stage in its home, sudo mv
                staging = posixpath.join(sftp.normalize("."), posixpath.basename(staging))
            made = shell.run(f"umask 077 && : > {_q(staging)}", timeout=30, sudo=False)
            if not made.ok:
                return f"cannot create {staging}: {_tail(made)}", 0
            watch.touch()
            digest, size = hashlib.sha256(), 0
            with open(clear, "rb") as source, sftp.open(staging, "wb") as target:
                target.set_pipelined(True)
                while block := source.read(CHUNK):
                    digest.update(block)
                    target.write(block)
                    watch.touch()
                    size += len(block)
            if digest.hexdigest() != expected:
                return (
                    f"{self.snapshot_path} changed since the plan (sha256 "
                    f"{digest.hexdigest()[:16]}..., planned {expected[:16]}...)"
                ), size
            if sftp.stat(staging).st_size != size:
                return f"{staging} is not {size} bytes long after the copy", size
            watch.touch()
            if node.sudo:
                moved = self._sh(
                    node, f"mv -f {_q(staging)} {_q(remote)} && chmod 600 {_q(remote)}"
                )
                if not moved.ok:
                    return _tail(moved), size
            else:
                sftp.posix_rename(staging, remote)
        finally:
            sftp.close()
        return "", size

    def _do_checksum(self, step: Step, output: Output) -> Outcome:
        node, _ = self._node(step)
        result = self._sh(node, step.arg("raw"), timeout=self.options.command_timeout)
        found = result.stdout.split()[0] if result.ok and result.stdout.split() else ""
        if found != step.arg("sha256"):
            return False, f"sha256 on {node.name}: {found or _tail(result)}; expected " + step.arg(
                "sha256"
            )
        return True, f"{found}  matches the bastion's"

    # --- services -------------------------------------------------------------------------------

    def _do_command(self, step: Step, output: Output) -> Outcome:
        node, _ = self._node(step)
        result = self._sh(node, step.arg("raw"), output, self.options.command_timeout)
        return result.ok, _tail(result) if not result.ok else (
            _tail(result, 2) if result.stdout.strip() else "done"
        )

    def _do_etcd_stop(self, step: Step, output: Output) -> Outcome:
        node, _ = self._node(step)
        result = self._sh(node, step.arg("raw"), output, self.options.command_timeout)
        if result.ok:
            return True, "stopped"
        if not self._sh(node, step.arg("is_active")).ok:
            return True, f"already stopped ({_tail(result, 1)})"
        return False, _tail(result)

    def _do_wait_stopped(self, step: Step, output: Output) -> Outcome:
        nodes = [self.connection.node(n) for n in step.arg("nodes").split(",") if n]
        timeout = float(step.arg("timeout"))
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

    def _do_start_all(self, step: Step, output: Output) -> Outcome:
        names = [n for n in step.arg("nodes").split(",") if n]

        def start(name: str) -> Outcome:
            node = self.connection.node(name)
            result = self._sh(node, step.arg(f"raw:{name}"), None, self.options.command_timeout)
            if result.ok:
                return True, f"{name}: started"
            if self._sh(node, step.arg(f"is_active:{name}")).ok:
                return True, f"{name}: already running ({_tail(result, 1)})"
            return False, f"{name}: {_tail(result)}"

        if not names:
            return True, "no node to start"
        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="start") as pool:
            outcomes = list(pool.map(start, names))
        for _, text in outcomes:
            output(text)
        return all(ok for ok, _ in outcomes), "; ".join(text for _, text in outcomes)

    def _do_wait_healthy(self, step: Step, output: Output) -> Outcome:
        wanted = {n for n in step.arg("members").split(",") if n}
        timeout = float(step.arg("timeout"))
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

    def _do_restore(self, step: Step, output: Output) -> Outcome:
        node, _ = self._node(step)
        restored = step.arg("restored")
        note = ""
        if self._sh(node, f"test -e {_q(restored)}").ok:
            aside = f"{restored}.etcdtui-incomplete-{_stamp()}"
            output(f"{restored} is left from an attempt cut short: moving it aside")
            moved = self._move(node, restored, aside, output)
            if not moved.ok:
                return False, _tail(moved)
            note = f"what an attempt cut short left was moved to {aside}; "
        result = self._sh(node, step.arg("raw"), output, self.options.command_timeout)
        if not result.ok:
            return False, note + _tail(result)
        if not self._sh(node, f"test -d {_q(restored + '/member')}").ok:
            return False, f"{note}the restore exited 0 but wrote no {restored}/member"
        return True, f"{note}{node.name}: restored into {restored}"

    def _do_swap(self, step: Step, output: Output) -> Outcome:
        node, _ = self._node(step)
        p = self._paths(step)
        there = self._existing(node, [p.data_dir, p.before, p.restored])
        if p.restored not in there:
            if p.data_dir in there and (p.before in there or not p.had_data):
                return True, f"already done: {p.data_dir} is the restored data"
            return False, f"{p.restored} is missing and {p.data_dir} was not swapped: restore again"
        if p.data_dir in there:
            if p.before in there:
                return False, f"{p.before} exists already: not moving {p.data_dir} onto it"
            if not (moved := self._move(node, p.data_dir, p.before, output)).ok:
                return False, _tail(moved)
        if not (moved := self._move(node, p.restored, p.data_dir, output)).ok:
            return False, _tail(moved)
        kept = f"old data kept in {p.before}; " if p.data_dir in there else ""
        return True, f"{kept}restored data in {p.data_dir}"

    def _do_unswap(self, step: Step, output: Output) -> Outcome:
        node, _ = self._node(step)
        p = self._paths(step)
        there = self._existing(node, [p.data_dir, p.before, p.restored, p.rolled_back])
        if p.before in there:
            if p.data_dir in there:
                if p.rolled_back in there:
                    return False, f"{p.rolled_back} exists already: not moving {p.data_dir}"
                if not (moved := self._move(node, p.data_dir, p.rolled_back, output)).ok:
                    return False, _tail(moved)
            if not (moved := self._move(node, p.before, p.data_dir, output)).ok:
                return False, _tail(moved)
            return True, f"old data back in {p.data_dir}"
        moved_in = p.restored not in there and p.rolled_back not in there
        if p.data_dir in there and not p.had_data and moved_in:
            if not (moved := self._move(node, p.data_dir, p.rolled_back, output)).ok:
                return False, _tail(moved)
            return True, f"restored data moved aside to {p.rolled_back} (no old data here)"
        if p.data_dir in there or not p.had_data:
            return True, f"{p.data_dir} was never moved aside: nothing to put back"
        return False, f"neither {p.data_dir} nor {p.before} exists on {node.name}"
