"""The member-change runbooks' step handlers: each looks at the cluster before it acts.

A run cut short after any step is continued by running the same command again: the plan is
made from the member list (the failed member already gone, the new one already added or
started), and every handler here skips what it finds done.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd import EtcdClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdError, EtcdtuiError
from etcdtui.models import ClusterView, Member
from etcdtui.models.command import CommandResult
from etcdtui.models.runbook import Step
from etcdtui.models.urls import name_problem, url_problem
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.etcd_log import failure_cause

Outcome = tuple[bool, str]

# etcd's refusals during a member change, and what to do about each.
ADVICE = (
    (
        "the member count is unequal",
        "ETCD_INITIAL_CLUSTER on the new node does not list exactly the members etcd has: "
        "rewrite it from `member list` (the survivors plus the new member) and start again",
    ),
    (
        "unmatched member while checking PeerURLs",
        "the new node's name or peer URL differs from what `member add` registered: make "
        "ETCD_NAME and ETCD_INITIAL_ADVERTISE_PEER_URLS match the added member",
    ),
    (
        "has been permanently removed from the cluster",
        "this data dir belongs to a removed member: move it aside (never reuse it) and start the "
        "node as a new member with ETCD_INITIAL_CLUSTER_STATE=existing",
    ),
    (
        "can only promote a learner member which is in sync with leader",
        "the learner has not caught up yet: wait and promote again (etcdtui retries for a while)",
    ),
    (
        "unhealthy cluster",
        "etcd refuses membership changes until every member has been connected for a few "
        "seconds: wait, check `etcdtui status`, and run the same command again",
    ),
    (
        "peerURL exists",
        "a member already has this peer URL: it is the one added before; run the same command "
        "again to continue",
    ),
)
_TLS_VARS = (
    ("cert_file", "ETCD_CERT_FILE"),
    ("key_file", "ETCD_KEY_FILE"),
    ("ca_file", "ETCD_TRUSTED_CA_FILE"),
    ("peer_cert_file", "ETCD_PEER_CERT_FILE"),
    ("peer_key_file", "ETCD_PEER_KEY_FILE"),
    ("ca_file", "ETCD_PEER_TRUSTED_CA_FILE"),
)


def advice(text: str) -> str:
    """What to do about an etcd failure message ("" when it is not a known one)."""
    return next((hint for needle, hint in ADVICE if needle in text), "")


def quorum_loss(view: ClusterView) -> str:
    """Why the cluster cannot commit anything now, in one line ("" while it may).

    Lost: fewer voting members answer than a quorum, and none of those that answer knows a
    leader. A member keeps naming a dead leader only until its election timeout, and a
    leader cut off from the majority steps down as fast (check-quorum), so this shows
    within a second or two of the loss, while an election among a majority is never
    mistaken for it.
    """
    voting = view.voting_members
    if not voting:
        return ""
    answering = [m for m in voting if m.reachable]
    if len(answering) >= view.quorum:
        return ""
    if any(m.status is not None and m.status.leader_id for m in answering):
        return ""
    silent = ", ".join(m.name for m in voting if not m.reachable)
    return (
        f"quorum lost: {len(answering)} of {len(voting)} voting members answer (not: "
        f"{silent}), quorum is {view.quorum}, and there is no leader: etcd commits nothing "
        "until a majority is back; restart the failed members, then run the same command "
        "again (or restore from a snapshot)"
    )


def stamp() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def output_tail(result: CommandResult, lines: int = 5) -> str:
    text = (result.stdout + result.stderr).strip()
    return "\n".join(text.splitlines()[-lines:]) or f"exit code {result.exit_code}"


def env_file_text(variables: dict[str, str]) -> str:
    """KEY='value' lines that both sh (``. FILE``) and systemd's EnvironmentFile read."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in variables.items())


def parse_env(text: str) -> dict[str, str]:
    """The variables of an env file as env_file_text (or a person) writes it."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.removeprefix("export ").partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            continue
        found[key.strip()] = words[0] if words else ""
    return found


def initial_cluster(members: tuple[Member, ...], name: str, peer_urls: tuple[str, ...]) -> str:
    """ETCD_INITIAL_CLUSTER: every started member, and the new one (not started yet).

    Names and URLs come from etcd, where any member chose them: one that could forge an entry
    (a ',' or '=' in a name, a URL that fails the strict check) stops the run instead."""
    pairs = [(m.name, url) for m in members if m.name and m.name != name for url in m.peer_urls]
    pairs += [(name, url) for url in peer_urls]
    for member_name, url in pairs:
        problem = name_problem(member_name) or url_problem(url)
        if problem:
            raise EtcdtuiError(
                f"member {member_name!r} with peer URL {url!r} cannot go into "
                f"--initial-cluster: {problem}",
                "remove that member, or rename it, first",
            )
    return ",".join(f"{n}={u}" for n, u in pairs)


def retry(
    call: Callable[[], None], needles: tuple[str, ...], seconds: float, output: Output
) -> None:
    """Call until it stops failing with one of `needles` (etcd's transient refusals)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            call()
            return
        except EtcdError as exc:
            if time.monotonic() > deadline or not any(n in exc.message for n in needles):
                raise
            output(f"etcd says: {exc.message}; retrying")
            time.sleep(1.0)


class MemberSteps:
    """Mixin for MemberChangeRunbook: `_do_<kind>` for every kind of step its plans hold."""

    connection: Connection
    client: ClusterClient
    shells: ShellPool
    new_node: NodeConfig
    new_name: str
    old_name: str
    run_stamp: str
    catch_up_timeout: float
    added_id: int | None

    # --- helpers ----------------------------------------------------------------------------

    def _sh(self, node: NodeConfig, raw: str, timeout: float = 60.0) -> CommandResult:
        return self.shells.shell(node.name).run(raw, timeout=timeout, sudo=node.sudo)

    def _api(self, view: ClusterView | None = None) -> EtcdClient:
        """A healthy voting member to send membership requests to (the leader if it can)."""
        view = view or self.client.read(metrics=False)
        voting = [m for m in view.voting_members if m.healthy]
        chosen = next((m for m in voting if m.is_leader), None) or (voting[0] if voting else None)
        if chosen is None:
            raise EtcdError(
                quorum_loss(view) or "no healthy voting member answers: quorum is lost; stopping"
            )
        return self.client.client(chosen.endpoint)

    def _ours(self, members: tuple[Member, ...]) -> Member | None:
        """The member added for the new node (found by its peer URL)."""
        urls = set(self.new_node.peer_urls)
        return next((m for m in members if urls & set(m.peer_urls)), None)

    def _members(self) -> tuple[Member, ...]:
        return self._api().member_list()

    # --- the failed member ------------------------------------------------------------------

    def _do_stop_old(self, step: Step, output: Output) -> Outcome:
        node = self.connection.node(step.arg("node"))
        try:
            stop = self._sh(node, self.connection.profile_command(node, "stop"))
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
        data, aside = node.data_dir, f"{node.data_dir}.etcdtui-removed-{self.run_stamp}"
        raw = (
            f"if [ -e {shlex.quote(data)} ]; then mv {shlex.quote(data)} {shlex.quote(aside)}"
            f" && echo moved; else echo absent; fi"
        )
        moved = self._sh(node, raw)
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
                self.client.client(url).status()
            except EtcdtuiError:
                return True
            if time.monotonic() > deadline:
                return False
            output(f"etcd on {node.name} still answers; waiting for it to stop")
            time.sleep(1.0)
        return True

    def _do_remove(self, step: Step, output: Output) -> Outcome:
        member_id = int(step.arg("member_id"))
        api = self._api()
        if not any(m.id == member_id for m in api.member_list()):
            return True, f"{self.old_name} ({member_id:x}) is no longer a member: already removed"
        retry(lambda: api.member_remove(member_id), ("unhealthy cluster",), 15.0, output)
        return True, f"removed {self.old_name} ({member_id:x})"

    # --- the new member ---------------------------------------------------------------------

    def _do_prepare(self, step: Step, output: Output) -> Outcome:
        node = self.new_node
        data, aside = node.data_dir, f"{node.data_dir}.etcdtui-moved-{self.run_stamp}"
        q = shlex.quote
        raw = (
            f'if [ -d {q(data)} ] && [ -n "$(ls -A {q(data)})" ]; then '
            f"mv {q(data)} {q(aside)} && echo moved; else echo clean; fi"
        )
        result = self._sh(node, raw)
        if not result.ok:
            return False, f"checking {data} failed: {output_tail(result)}"
        if "moved" in result.stdout:
            return True, f"{data} held old data: moved to {aside} (not deleted)"
        return True, f"{data} is empty or absent"

    def _do_add(self, step: Step, output: Output) -> Outcome:
        api = self._api()
        found = self._ours(api.member_list())
        if found is not None:
            self.added_id = found.id
            return True, f"already a member: {found.id:x} (learner: {found.is_learner})"
        added: list[Member] = []

        def add() -> None:
            added.append(api.member_add(self.new_name, self.new_node.peer_urls, True))

        # Right after a start (or a removal) etcd refuses for a few seconds.
        retry(add, ("unhealthy cluster", "too many requests"), 20.0, output)
        self.added_id = added[0].id
        return True, f"added {self.new_name} as learner {added[0].id:x}"

    def template_env(self) -> dict[str, str]:
        """A running member's env file (the token, TLS flags, quota...), read over SSH."""
        found = self.survivor_file(lambda node: node.vars.get("env_file", ""), "ETCD_")
        return parse_env(found[1]) if found else {}

    def survivor_file(
        self, path_of: Callable[[NodeConfig], str], expect: str
    ) -> tuple[str, str] | None:
        """("node:path", text) of the first surviving member's file at `path_of(node)` that
        reads over SSH and holds `expect`; None if none does."""
        for node in self.connection.nodes:
            path = path_of(node)
            if not path or not node.member or node.name == self.new_node.name:
                continue
            if node.member_name == self.old_name:
                continue
            try:
                result = self._sh(node, f"cat {shlex.quote(path)}", timeout=15)
            except EtcdtuiError:
                continue
            if result.ok and expect in result.stdout:
                return f"{node.name}:{path}", result.stdout
        return None

    def new_env(self, members: tuple[Member, ...]) -> dict[str, str]:
        """The new member's ETCD_* flags: a survivor's file with the per-member ones replaced."""
        node = self.new_node
        env = self.template_env()
        token = node.vars.get("initial_cluster_token") or env.get("ETCD_INITIAL_CLUSTER_TOKEN")
        client_url = node.client_urls[0] if node.client_urls else ""
        peer_url = ",".join(node.peer_urls)
        env |= {
            "ETCD_NAME": self.new_name,
            "ETCD_DATA_DIR": node.data_dir,
            "ETCD_LISTEN_CLIENT_URLS": node.local_client_url or client_url,
            "ETCD_ADVERTISE_CLIENT_URLS": ",".join(node.client_urls),
            "ETCD_LISTEN_PEER_URLS": peer_url,
            "ETCD_INITIAL_ADVERTISE_PEER_URLS": peer_url,
            "ETCD_INITIAL_CLUSTER": initial_cluster(members, self.new_name, node.peer_urls),
            "ETCD_INITIAL_CLUSTER_STATE": "existing",
        }
        if token:
            env["ETCD_INITIAL_CLUSTER_TOKEN"] = token
        for var, key in _TLS_VARS:  # the node's own certificates, not the survivor's
            if node.vars.get(var) and key in env:
                env[key] = node.vars[var]
        return env

    def _do_env(self, step: Step, output: Output) -> Outcome:
        node = self.new_node
        env = self.new_env(self._members())
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
        result = self.shells.shell(node.name).run(
            raw, timeout=30, sudo=node.sudo, stdin=env_file_text(env).encode()
        )
        if not result.ok:
            return False, f"writing {path} failed: {output_tail(result)}"
        output(f"ETCD_INITIAL_CLUSTER={env['ETCD_INITIAL_CLUSTER']}")
        return True, f"wrote {path} ({len(env)} variables, ETCD_INITIAL_CLUSTER_STATE=existing)"

    def _do_start(self, step: Step, output: Output) -> Outcome:
        node = self.new_node
        if self.connection.has_profile_command(node, "is_active"):
            active = self._sh(node, self.connection.profile_command(node, "is_active"))
            if active.ok:
                return True, f"etcd already runs on {node.name}"
        result = self._sh(node, self.connection.profile_command(node, "start"), timeout=90)
        if not result.ok:
            # etcd's own words first (from its log: "bind: address already in use"), then the
            # end of the output as it came.
            cause = failure_cause(result.stdout + result.stderr)
            tail = output_tail(result)
            text = f"{cause}\n{tail}" if cause else tail
            hint = advice(text)
            return False, text + (f"\nadvice: {hint}" if hint else "")
        return True, f"etcd started on {node.name}"

    def _do_catch_up(self, step: Step, output: Output) -> Outcome:
        url = self.new_node.client_urls[0]
        deadline = time.monotonic() + self.catch_up_timeout
        last = ""
        while time.monotonic() < deadline:
            view = self.client.read(metrics=False, health=False)
            if lost := quorum_loss(view):
                # Nothing can catch up without a leader: waiting out the timeout only hides
                # the cause ("does not answer yet") for two minutes.
                return False, lost
            leader = view.leader
            try:
                mine = self.client.client(url).status()
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

    def _do_promote(self, step: Step, output: Output) -> Outcome:
        api = self._api()
        mine = self._ours(api.member_list())
        if mine is None:
            return False, "the new member is not in the member list: plan again"
        if not mine.is_learner:
            return True, f"{mine.name or self.new_name} is already a voting member"
        retry(
            lambda: api.member_promote(mine.id),
            ("in sync with leader", "unhealthy cluster"),
            60.0,
            output,
        )
        return True, f"promoted {self.new_name} ({mine.id:x}) to a voting member"
