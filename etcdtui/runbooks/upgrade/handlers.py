"""What the upgrade's steps do: each handler takes its step's typed arguments and acts.

`NodeSide` runs a member's profile commands on its node (and a static pod's YAML edit of its
image) and rolls a member back to its old binary when it fails to come up; `Watcher` reads the
cluster (health between members, a member coming up on its new version); `Backup` saves the
pre-upgrade snapshot and checks it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView
from etcdtui.models.runbook import Step
from etcdtui.models.text import printable
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.etcd_log import failure_cause
from etcdtui.runbooks.upgrade.manifest import etcd_image, with_etcd_image
from etcdtui.runbooks.upgrade.preflight import ready_check
from etcdtui.runbooks.upgrade.steps import (
    BackupArgs,
    ImageArgs,
    MemberArgs,
    node_command,
    read_manifest,
    write_manifest,
)
from etcdtui.snapshots.catalogue import entry, snapshot_dir
from etcdtui.snapshots.save import SnapshotSaver

# A step's handler: whether it succeeded, and what it did in words.
Handler = Callable[[Step, Output], tuple[bool, str]]

NODE_TIMEOUT = 60.0  # seconds for one stop, switch or start on a node
POLL = 0.1  # seconds between two reads while a member comes up (bounded by its deadline)


def one_line(text: str) -> str:
    """A failure in one line: etcd's own cause when the output holds its log, else the last
    line that says something."""
    cause = failure_cause(text)
    if cause:
        return printable(cause)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return printable(lines[-1]) if lines else "no output"


def backup_path(connection: Connection, now: datetime | None = None) -> Path:
    """<catalogue>/<cluster>-<UTC time>-pre-upgrade.db: the Backups screen lists it."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", connection.cluster)
    return snapshot_dir(connection) / f"{name}-{stamp}-pre-upgrade.db"


class Watcher:
    """Reads the cluster: its health between members, a member coming up on its new version."""

    def __init__(self, client: ClusterClient, wait: float) -> None:
        self.client = client
        self.wait = wait  # seconds a member may take to come up and catch up

    def health(self, step: Step, output: Output) -> tuple[bool, str]:
        check = ready_check(self.client.read(metrics=False))
        return not check.failed, check.reason + ("" if not check.failed else ": stopping")

    def member_up(self, step: Step, output: Output) -> tuple[bool, str]:
        args = step.params(MemberArgs)
        return self.await_member(args.member, args.new)

    def await_member(self, name: str, version: str) -> tuple[bool, str]:
        """Wait until `name` is healthy on `version` and has applied what the leader had
        committed when the wait began; (False, its problem) at the deadline."""
        deadline = time.monotonic() + self.wait
        target_index: int | None = None
        problem = "not read yet"
        while True:
            view = self.client.read(metrics=False)
            leader = view.leader
            if target_index is None and leader is not None and leader.status is not None:
                target_index = leader.status.raft_index
            ok, problem = _member_state(view, name, version, target_index)
            if ok:
                return True, problem
            if time.monotonic() >= deadline:
                return False, f"{name} not up on {version} after {self.wait:g} s: {problem}"
            time.sleep(POLL)


def _member_state(
    view: ClusterView, name: str, version: str, target_index: int | None
) -> tuple[bool, str]:
    m = next((m for m in view.members if m.name == name), None)
    if m is None or m.status is None:
        return False, (m.problem if m else "") or "not reachable"
    if m.status.version != version:
        return False, f"runs {m.status.version}"
    if not m.healthy:
        return False, m.problem or "not healthy"
    if target_index is None or m.status.applied_index < target_index:
        return False, f"applied index {m.status.applied_index} < leader's {target_index}"
    return True, f"{name} healthy on {version}, applied index {m.status.applied_index}"


class NodeSide:
    """A member's profile commands on its node; a failed start ends in a rollback."""

    def __init__(self, connection: Connection, shells: ShellPool | None, watcher: Watcher):
        self.connection = connection
        self.shells = shells
        self.watcher = watcher

    def _run(
        self, node: str, command: str, output: Output, stdin: bytes | None = None
    ) -> tuple[bool, str]:
        assert self.shells is not None, "the upgrade needs the config's nodes"
        result = self.shells.shell(node).run(
            command, timeout=NODE_TIMEOUT, sudo=False, stdin=stdin,
            on_line=lambda _s, line: output(line),
        )  # fmt: skip
        text = (result.stdout + result.stderr).strip()
        return result.ok, text or f"exit code {result.exit_code}"

    def _read(self, node: str, command: str) -> tuple[bool, str]:
        """A command's stdout as it is (not shown line by line), or its error."""
        assert self.shells is not None, "the upgrade needs the config's nodes"
        result = self.shells.shell(node).run(command, timeout=NODE_TIMEOUT, sudo=False)
        if result.ok:
            return True, result.stdout
        return False, result.stderr.strip() or f"exit code {result.exit_code}"

    def command(self, step: Step, output: Output) -> tuple[bool, str]:
        """Stop or switch: the step's command as shown."""
        return self._run(step.target, step.command, output)

    def switch_image(self, step: Step, output: Output) -> tuple[bool, str]:
        """A static pod's image switched by a YAML edit of its stopped manifest; the old one
        is kept as the backup first. A manifest that already names the image is left alone
        (a rerun after a stop here: its backup is the one of the first attempt)."""
        args = step.params(ImageArgs)
        node = self.connection.node(args.node)
        ok, text = self._read(node.name, read_manifest(node, args))
        if not ok:
            return False, f"reading {args.stash}: {one_line(text)}"
        try:
            if etcd_image(text, args.stash) == args.image:
                return True, f"{args.stash} already runs {args.image}: left as it is"
            new = with_etcd_image(text, args.image, args.stash)
        except EtcdtuiError as exc:
            return False, exc.message
        ok, said = self._run(node.name, write_manifest(node, args), output, new.encode())
        if not ok:
            return False, f"writing {args.stash}: {one_line(said)}"
        return True, f"{args.stash}: image {args.image} (the old manifest kept as {args.backup})"

    def start(self, step: Step, output: Output) -> tuple[bool, str]:
        ok, text = self._run(step.target, step.command, output)
        return (True, text) if ok else self.rollback(step, one_line(text), output)

    def wait(self, step: Step, output: Output) -> tuple[bool, str]:
        ok, text = self.watcher.member_up(step, output)
        return (True, text) if ok else self.rollback(step, text, output)

    def rollback(self, step: Step, error: str, output: Output) -> tuple[bool, str]:
        """Stop the member, put its old binary (unit, manifest) back, start it, and wait for it
        on its old version: the run stops either way, with the member's own error first."""
        args = step.params(MemberArgs)
        node = self.connection.node(args.node)
        output(f"{args.member} did not come up on {args.new}: {error}; rolling back")
        said = []
        for action in ("stop", "upgrade_rollback", "start"):
            command = node_command(self.connection, node, action)
            output(f"$ {command}")
            ok, text = self._run(node.name, command, output)
            if not ok and action != "stop":
                said.append(f"rollback failed at {action}: {one_line(text)}")
                break
        else:
            up, text = self.watcher.await_member(args.member, args.old)
            said.append(f"rolled back to {args.old}" if up else f"rollback: {text}")
        return False, f"{args.member} did not come up on {args.new}: {error}; " + "; ".join(said)


class Backup:
    """The pre-upgrade snapshot, saved into the catalogue and read back before anything stops."""

    def __init__(self, saver: SnapshotSaver) -> None:
        self.saver = saver

    def save(self, step: Step, output: Output) -> tuple[bool, str]:
        path = Path(step.params(BackupArgs).path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        result = self.saver.save(path)
        checked = entry(path, None)
        if checked.problem or checked.status is None:
            return False, f"{path.name} does not check out: {checked.problem or 'unreadable'}"
        line = (f"saved {path} from {result.member}: {checked.status.total_keys} keys, "
                f"sha256 {result.sha256}")  # fmt: skip
        output(line)
        return True, line
