"""The member-change runbooks' node and cluster steps: each looks at the cluster before it acts.

A run cut short after any step is continued by running the same command again: the plan is
made from the member list (the failed member already gone, the new one already added or
started), and every handler here skips what it finds done.
"""

from __future__ import annotations

import shlex
import time

from etcdtui.config import NodeConfig
from etcdtui.errors import EtcdError, EtcdtuiError
from etcdtui.models import Member
from etcdtui.models.runbook import Step
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.etcd_log import failure_cause
from etcdtui.runbooks.membership.change import MemberChange, output_tail
from etcdtui.runbooks.membership.env_file import (
    env_file_text,
    initial_cluster,
    new_env,
    parse_env,
)
from etcdtui.runbooks.membership.refusals import ADVICE, advice, quorum_loss, retry
from etcdtui.runbooks.membership.steps import Outcome, RemoveArgs, StopOldArgs

# Importable from here as before they moved.
__all__ = [
    "ADVICE",
    "MemberSteps",
    "Outcome",
    "advice",
    "env_file_text",
    "initial_cluster",
    "output_tail",
    "parse_env",
    "quorum_loss",
    "retry",
]


class MemberSteps:
    """The handlers of the steps that act on the failed member, the new one and the member
    list; `added_id` is the member this run added (or found added), for the summary."""

    def __init__(self, change: MemberChange, catch_up_timeout: float) -> None:
        self.change = change
        self.catch_up_timeout = catch_up_timeout
        self.added_id: int | None = None

    # --- the failed member ------------------------------------------------------------------

    def stop_old(self, step: Step, output: Output) -> Outcome:
        change = self.change
        node = change.connection.node(step.params(StopOldArgs).node)
        try:
            stop = change.sh(node, change.connection.profile_command(node, "stop"))
        except EtcdtuiError as exc:
            # An unreachable node is why it is replaced: it must never come back with this
            # data, which the removal makes etcd refuse ("permanently removed") anyway.
            return (
                True,
                f"{node.name} does not answer over SSH ({exc}): skipped; never start "
                f"etcd there again with its old data dir",
            )
        if not stop.ok:
            return False, f"stop failed: {output_tail(stop)}"
        # A static pod's stop only moves its manifest: kubelet stops etcd a moment later. The
        # data dir moves only once the member no longer answers.
        if not self._stopped(node, output):
            return False, f"etcd on {node.name} still answers 60 s after the stop: data left"
        data, aside = node.data_dir, f"{node.data_dir}.etcdtui-removed-{change.run_stamp}"
        raw = (
            f"if [ -e {shlex.quote(data)} ]; then mv {shlex.quote(data)} {shlex.quote(aside)}"
            f" && echo moved; else echo absent; fi"
        )
        moved = change.sh(node, raw)
        if not moved.ok:
            return False, f"moving {data} aside failed: {output_tail(moved)}"
        if "moved" in moved.stdout:
            return True, f"etcd stopped; {data} moved to {aside}"
        return True, f"etcd stopped; {data} absent (moved before?)"

    def _stopped(self, node: NodeConfig, output: Output, timeout: float = 60.0) -> bool:
        """Wait until the member of `node` stops answering (True), or `timeout` passes."""
        url = node.client_urls[0] if node.client_urls else ""
        deadline = time.monotonic() + timeout
        while url:
            try:
                self.change.client.client(url).status()
            except EtcdtuiError:
                return True
            if time.monotonic() > deadline:
                return False
            output(f"etcd on {node.name} still answers; waiting for it to stop")
            time.sleep(1.0)
        return True

    def remove(self, step: Step, output: Output) -> Outcome:
        member_id = step.params(RemoveArgs).member_id
        name = self.change.old_name
        api = self.change.api()
        if not any(m.id == member_id for m in api.member_list()):
            return True, f"{name} ({member_id:x}) is no longer a member: already removed"
        retry(lambda: api.member_remove(member_id), ("unhealthy cluster",), 15.0, output)
        return True, f"removed {name} ({member_id:x})"

    # --- the new member ---------------------------------------------------------------------

    def prepare(self, step: Step, output: Output) -> Outcome:
        node = self.change.new_node
        data, aside = node.data_dir, f"{node.data_dir}.etcdtui-moved-{self.change.run_stamp}"
        q = shlex.quote
        raw = (
            f'if [ -d {q(data)} ] && [ -n "$(ls -A {q(data)})" ]; then '
            f"mv {q(data)} {q(aside)} && echo moved; else echo clean; fi"
        )
        result = self.change.sh(node, raw)
        if not result.ok:
            return False, f"checking {data} failed: {output_tail(result)}"
        if "moved" in result.stdout:
            return True, f"{data} held old data: moved to {aside} (not deleted)"
        return True, f"{data} is empty or absent"

    def add(self, step: Step, output: Output) -> Outcome:
        change = self.change
        api = change.api()
        found = change.ours(api.member_list())
        if found is not None:
            self.added_id = found.id
            return True, f"already a member: {found.id:x} (learner: {found.is_learner})"
        added: list[Member] = []

        def add() -> None:
            added.append(api.member_add(change.new_name, change.new_node.peer_urls, True))

        # Right after a start (or a removal) etcd refuses for a few seconds.
        retry(add, ("unhealthy cluster", "too many requests"), 20.0, output)
        self.added_id = added[0].id
        return True, f"added {change.new_name} as learner {added[0].id:x}"

    def template_env(self) -> dict[str, str]:
        """A running member's env file (the token, TLS flags, quota...), read over SSH."""
        found = self.change.survivor_file(lambda node: node.vars.get("env_file", ""), "ETCD_")
        return parse_env(found[1]) if found else {}

    def write_env(self, step: Step, output: Output) -> Outcome:
        """The new member's env file (lab and systemd profiles); the variables to set by
        hand when its profile names no env file."""
        change = self.change
        node = change.new_node
        env = new_env(self.template_env(), node, change.new_name, change.members())
        path = node.vars.get("env_file")
        if not path:
            for key, value in env.items():
                output(f"{key}={value}")
            return True, (
                f"set these on {node.name} for profile {node.profile!r} (etcdtui "
                "writes env files for the lab profile only), then let the start run"
            )
        if "ETCD_INITIAL_CLUSTER_TOKEN" not in env:
            return False, "no initial cluster token: set vars.initial_cluster_token for the node"
        q = shlex.quote
        raw = f"umask 077 && cat > {q(path + '.part')} && mv {q(path + '.part')} {q(path)}"
        result = change.shells.shell(node.name).run(
            raw, timeout=30, sudo=node.sudo, stdin=env_file_text(env).encode()
        )
        if not result.ok:
            return False, f"writing {path} failed: {output_tail(result)}"
        output(f"ETCD_INITIAL_CLUSTER={env['ETCD_INITIAL_CLUSTER']}")
        return True, f"wrote {path} ({len(env)} variables, ETCD_INITIAL_CLUSTER_STATE=existing)"

    def start(self, step: Step, output: Output) -> Outcome:
        change = self.change
        node = change.new_node
        if change.connection.has_profile_command(node, "is_active"):
            active = change.sh(node, change.connection.profile_command(node, "is_active"))
            if active.ok:
                return True, f"etcd already runs on {node.name}"
        result = change.sh(node, change.connection.profile_command(node, "start"), timeout=90)
        if not result.ok:
            # etcd's own words first (from its log: "bind: address already in use"), then the
            # end of the output as it came.
            cause = failure_cause(result.stdout + result.stderr)
            tail = output_tail(result)
            text = f"{cause}\n{tail}" if cause else tail
            hint = advice(text)
            return False, text + (f"\nadvice: {hint}" if hint else "")
        return True, f"etcd started on {node.name}"

    def catch_up(self, step: Step, output: Output) -> Outcome:
        client = self.change.client
        url = self.change.new_node.client_urls[0]
        deadline = time.monotonic() + self.catch_up_timeout
        last = ""
        while time.monotonic() < deadline:
            view = client.read(metrics=False, health=False)
            if lost := quorum_loss(view):
                # Nothing can catch up without a leader: waiting out the timeout only hides
                # the cause ("does not answer yet") for two minutes.
                return False, lost
            leader = view.leader
            try:
                mine = client.client(url).status()
            except EtcdError as exc:
                last = f"the new member does not answer yet: {exc.message}"
                output(last)
                time.sleep(1.0)
                continue
            if leader is None or leader.status is None:
                last = "no leader"
                time.sleep(1.0)
                continue
            target = leader.status.applied_index or leader.status.raft_index
            have = mine.applied_index or mine.raft_index
            output(f"applied {have} of the leader's {target}")
            if target - have <= max(10, target // 100):
                return True, f"caught up: applied index {have}, the leader's {target}"
            last = f"applied {have} of {target}"
            time.sleep(1.0)
        return False, f"not caught up within {self.catch_up_timeout:g} s: {last}"

    def promote(self, step: Step, output: Output) -> Outcome:
        api = self.change.api()
        mine = self.change.ours(api.member_list())
        name = self.change.new_name
        if mine is None:
            return False, "the new member is not in the member list: plan again"
        if not mine.is_learner:
            return True, f"{mine.name or name} is already a voting member"
        retry(
            lambda: api.member_promote(mine.id),
            ("in sync with leader", "unhealthy cluster"),
            60.0,
            output,
        )
        return True, f"promoted {name} ({mine.id:x}) to a voting member"
