"""What the defrag's steps do: each handler takes its step's typed arguments and acts.

`ClusterSide` runs the steps about the cluster as a whole (health between members, waits, the
compaction, the leadership transfer) and keeps who must lead when each step starts;
`Defragmenter` defragments one member, through the API or with etcdctl on its node, and keeps
each member's size before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from etcdtui.clients.cluster import ClusterClient
from etcdtui.errors import EtcdError
from etcdtui.models.runbook import Step
from etcdtui.models.units import human_bytes
from etcdtui.runbooks.defrag.preflight import healthy_enough, membership_check
from etcdtui.runbooks.defrag.steps import CompactArgs, DefragArgs, MoveLeaderArgs, WaitArgs
from etcdtui.runbooks.engine import Output

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import ShellPool  # paramiko: only for --on-node

# A step's handler: whether it succeeded, and what it did in words.
Handler = Callable[[Step, Output], tuple[bool, str]]

# etcd's refusal to compact to a revision at or below the last compaction.
COMPACTED = "required revision has been compacted"


class ClusterSide:
    """The steps that look at or act on the cluster as a whole."""

    def __init__(self, client: ClusterClient, timeout: float) -> None:
        self.client = client
        self.timeout = timeout  # for the compaction, as long as a defrag may take
        self.expected_leader: int | None = None  # who must lead when each step starts

    def health(self, step: Step, output: Output) -> tuple[bool, str]:
        view = self.client.read(metrics=False)
        membership = membership_check(view)
        if membership.failed:
            return False, f"{membership.reason}: stopping"
        bad = [f"{m.name} ({m.problem or 'not healthy'})" for m in view.voting_members
               if not healthy_enough(m)]  # fmt: skip
        if view.leader is None:
            return False, "no leader: stopping"
        if self.expected_leader is not None and view.leader.member_id != self.expected_leader:
            # The order (leader last) and any move-leader step were planned for another leader.
            return False, f"the leader changed to {view.leader.name} since the plan: plan again"
        if bad:
            return False, "unhealthy now: " + "; ".join(bad) + ": stopping"
        return True, f"healthy: {len(view.voting_members)} members, leader {view.leader.name}"

    def wait(self, step: Step, output: Output) -> tuple[bool, str]:
        seconds = step.params(WaitArgs).seconds
        time.sleep(seconds)
        return True, f"waited {seconds} s"

    def compact(self, step: Step, output: Output) -> tuple[bool, str]:
        args = step.params(CompactArgs)
        try:
            self.client.client(args.endpoint).compact(args.revision, self.timeout)
        except EtcdError as exc:
            # A run stopped after its compaction, rerun while a NOSPACE alarm keeps the
            # revision where it was: the work is done, and the run goes on to defragment.
            if COMPACTED in exc.message:
                return True, f"already compacted to revision {args.revision}: nothing new"
            raise
        return True, f"compacted to revision {args.revision}"

    def move_leader(self, step: Step, output: Output) -> tuple[bool, str]:
        args = step.params(MoveLeaderArgs)
        # etcd may wait for the target to catch up and for an election: allow it the time.
        self.client.client(args.endpoint).move_leader(args.target, timeout=30.0)
        self.expected_leader = args.target
        return True, f"leadership moved to {args.target_name}"


class Defragmenter:
    """Defragments a member and measures its database before and after."""

    def __init__(self, client: ClusterClient, shells: ShellPool | None, timeout: float) -> None:
        self.client = client
        self.shells = shells
        self.timeout = timeout
        self.sizes: dict[str, tuple[int, int, float]] = {}  # name -> size before, after, secs

    def through_api(self, step: Step, output: Output) -> tuple[bool, str]:
        client = self.client.client(step.params(DefragArgs).endpoint)

        def act() -> tuple[bool, str]:
            client.defragment(self.timeout)
            return True, ""

        return self._measure(step, output, act)

    def on_node(self, step: Step, output: Output) -> tuple[bool, str]:
        shells = self.shells
        assert shells is not None, "--on-node needs the config's nodes"

        def act() -> tuple[bool, str]:
            result = shells.shell(step.target).run(
                step.command, timeout=self.timeout + 10, sudo=False,
                on_line=lambda _stream, line: output(line),
            )  # fmt: skip
            text = (result.stdout + result.stderr).strip()
            return result.exit_code == 0, text or f"exit code {result.exit_code}"

        return self._measure(step, output, act)

    def _measure(
        self, step: Step, output: Output, act: Callable[[], tuple[bool, str]]
    ) -> tuple[bool, str]:
        args = step.params(DefragArgs)
        client = self.client.client(args.endpoint)
        before = client.status().db_size
        started = time.perf_counter()
        ok, text = act()
        took = time.perf_counter() - started
        if not ok:
            return False, text
        after = client.status().db_size
        self.sizes[args.member] = (before, after, took)
        line = f"{args.member}: {human_bytes(before)} -> {human_bytes(after)} in {took:.1f} s"
        output(line)
        return True, line

    def summary(self) -> list[str]:
        """Each defragmented member's size before and after, and how long it took."""
        return [
            f"{name}: {human_bytes(before)} -> {human_bytes(after)} in {took:.1f} s"
            for name, (before, after, took) in self.sizes.items()
        ]
