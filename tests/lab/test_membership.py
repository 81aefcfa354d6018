"""replace-member and add-member against real labs with spare nodes: no mock of etcd or SSH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from etcdtui.cli import main
from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import Connection, NodeConfig, SshTarget, load_connection
from etcdtui.errors import UsageError
from etcdtui.lab import LabInfo
from etcdtui.models.command import CommandResult
from etcdtui.models.runbook import Verdict, decode_args, encode_args
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import Event, PlanRefused, execute
from etcdtui.runbooks.membership.env_file import initial_cluster, parse_env
from etcdtui.runbooks.membership.refusals import advice
from etcdtui.runbooks.membership.runbook import MemberChangeRunbook
from etcdtui.runbooks.membership.steps import (
    ARGS,
    ApiserverArgs,
    ConfigArgs,
    MemberKind,
    RemoveArgs,
)
from etcdtui.services import samples
from tests.helpers.consistency import wait_answers
from tests.helpers.labs import connection_of, follower
from tests.helpers.membership import (
    KEYS,
    apiserver_config,
    etcd_servers,
    etcdctl,
    kill,
    member_names,
    put_keys,
)


@contextmanager
def runbook_for(
    info: LabInfo, new_node: str, old_member: str = "", config: Path | None = None
) -> Iterator[MemberChangeRunbook]:
    connection = load_connection(config, info.cluster) if config else connection_of(info)
    shells = ShellPool(connection.nodes)
    client = open_cluster(connection, shells)
    try:
        yield MemberChangeRunbook(connection, client, shells, new_node, old_member=old_member)
    finally:
        client.close()
        shells.close_all()


def healthy_view(info: LabInfo) -> list[str]:
    client = ClusterClient(connection_of(info))
    try:
        view = client.read(metrics=False)
    finally:
        client.close()
    # The config still lists a replaced member's endpoint: only the member list counts.
    listed = [m for m in view.members if m.member is not None]
    assert all(m.healthy for m in listed), [(m.name, m.problem) for m in listed]
    assert sum(m.is_leader for m in listed) == 1
    assert not any(m.is_learner for m in listed)
    return sorted(m.name for m in listed)


def serializable_count(info: LabInfo, node: str) -> int:
    url = info.node(node).client_url
    out = etcdctl(info, "get", "membership/", "--prefix", "--keys-only", "--consistency=s",
                  endpoint=url)  # fmt: skip
    return len([line for line in out.splitlines() if line.strip()])


def run(runbook: MemberChangeRunbook, tmp_path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    plan = runbook.plan()
    return execute(runbook, plan, AuditLog(tmp_path / "audit.log"), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_replace_killed_member_with_spare_serves_every_key(
    make_lab: Callable[..., LabInfo], tmp_path: Path, version: str
) -> None:
    info = make_lab(etcd_version=version, spares=1)
    put_keys(info)
    victim = follower(info)
    kill(info, victim)
    config = apiserver_config(info, tmp_path)
    original = config.read_text()
    with runbook_for(info, "spare1", old_member=victim, config=config) as runbook:
        plan = runbook.plan()
        quorum = next(c for c in plan.checks if c.name == "quorum after the removal")
        assert quorum.verdict is Verdict.PASS
        assert f"3 members, quorum 2, healthy 2: removing {victim} keeps quorum" in quorum.reason
        assert not plan.blocked
        ids = [s.id for s in plan.steps]
        # Every apiserver lets go of the failed member before the removal, the new one is
        # added after the promotion, and the config is rewritten last.
        assert ids.index(f"apiserver-drop-{info.members()[0].name}") < ids.index("remove")
        assert ids.index("promote") < ids.index("apiserver-add-spare1") < ids.index("config")
        assert ids[-1] == "config" and not plan.steps[-1].destructive
        assert all(s.destructive for s in plan.steps if s.id.startswith("apiserver-"))
        report = execute(runbook, plan, AuditLog(tmp_path / "audit.log"))
    assert report.ok, (report.stopped, report.verification)
    names = healthy_view(info)
    assert victim not in names and "spare1" in names and len(names) == 3
    assert serializable_count(info, "spare1") == KEYS
    # The failed member's data dir was moved aside, not deleted.
    data = Path(info.node(victim).data_dir)
    assert not data.exists()
    assert list(data.parent.glob(data.name + ".etcdtui-removed-*"))
    # Each apiserver lists exactly the survivors and the new member.
    expected = sorted(info.node(n).client_url for n in names)
    for node in names:
        assert sorted(etcd_servers(info, node)) == expected, node
    # The config: the new endpoint instead of the old, spare1 is a member, the backup intact.
    rewritten = load_connection(config, "lab")
    assert info.node("spare1").client_url in rewritten.endpoints
    assert info.node(victim).client_url not in rewritten.endpoints
    assert rewritten.node("spare1").member == "spare1"
    assert rewritten.node(victim).member == ""
    (backup,) = tmp_path.glob("members.toml.etcdtui-*.bak")
    assert backup.read_text() == original
    assert backup.stat().st_mode & 0o777 == config.stat().st_mode & 0o777 == 0o640


def test_replace_refused_without_quorum_changes_nothing(
    make_lab: Callable[..., LabInfo], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = make_lab(etcd_version="3.5", spares=1)
    before = member_names(info)
    survivors = [n.name for n in info.members()]
    kill(info, survivors[1])
    kill(info, survivors[2])
    with runbook_for(info, "spare1", old_member=survivors[1]) as runbook:
        plan = runbook.plan()
        assert plan.blocked
        failed = " ".join(c.reason for c in plan.checks if c.failed)
        assert "quorum" in failed
        with pytest.raises(PlanRefused):
            execute(runbook, plan, AuditLog(tmp_path / "audit.log"))
    code = main(["replace-member", survivors[1], "--new-node", "spare1", "--config",
                 str(info.config_path), "--cluster", "lab", "--yes",
                 "--audit-log", str(tmp_path / "cli.log")])  # fmt: skip
    assert code == 1
    assert "REFUSED" in capsys.readouterr().out
    # Bring the two back: still the same three members, the spare untouched.
    for name in survivors[1:]:
        subprocess.run([info.node(name).service, "start"], check=True, timeout=30)
    deadline = time.monotonic() + 20
    while True:
        try:
            assert member_names(info) == before
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert not Path(info.node("spare1").env_file).exists()


def test_replace_stopped_after_member_add_continues_on_rerun(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    info = make_lab(etcd_version="3.5", spares=1)
    put_keys(info)
    victim = follower(info)
    kill(info, victim)
    added = False

    def on_event(event: Event) -> None:
        nonlocal added
        if event.kind == "result" and event.step is not None and event.step.id == "add":
            added = True

    with runbook_for(info, "spare1", old_member=victim) as runbook:
        first = run(runbook, tmp_path, on_event=on_event, should_abort=lambda: added)
    assert added and "aborted" in first.stopped
    # The learner is registered but not started: the rerun sees that in the member list.
    with runbook_for(info, "spare1", old_member=victim) as runbook:
        plan = runbook.plan()
        assert not plan.blocked, plan.checks
        ids = [s.id for s in plan.steps]
        assert "remove" not in ids and "add" not in ids
        assert ids[:2] == ["env", "start"]
        assert any("already added" in note for note in plan.notes)
        report = execute(runbook, plan, AuditLog(tmp_path / "audit.log"))
    assert report.ok, (report.stopped, report.verification)
    names = healthy_view(info)
    assert victim not in names and "spare1" in names
    assert serializable_count(info, "spare1") == KEYS


def test_scale_out_three_to_five_warns_about_the_even_count(
    make_lab: Callable[..., LabInfo], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = make_lab(etcd_version="3.5", spares=2)
    put_keys(info)
    common = ["--config", str(info.config_path), "--cluster", "lab",
              "--audit-log", str(tmp_path / "audit.log")]  # fmt: skip
    assert main(["add-member", "spare1", "--dry-run", *common]) == 0
    dry = capsys.readouterr().out
    assert "4 members is an even count" in dry and "never autoscale etcd" in dry
    assert main(["add-member", "spare1", "--yes", *common]) == 0
    assert main(["add-member", "spare2", "--yes", *common]) == 0
    out = capsys.readouterr().out
    assert "even count" not in out.split("add-member on cluster lab")[-1]
    names = healthy_view(info)
    assert len(names) == 5 and {"spare1", "spare2"} <= set(names)
    assert serializable_count(info, "spare2") == KEYS


def test_etcd_failures_become_advice() -> None:
    assert "ETCD_INITIAL_CLUSTER" in advice("etcdmain: the member count is unequal")
    assert "peer URL" in advice(
        "error validating peerURLs: unmatched member while checking PeerURLs"
    )
    assert "move it aside" in advice("the member has been permanently removed from the cluster")
    assert "caught up" in advice("can only promote a learner member which is in sync with leader")
    assert advice("something else") == ""


def test_env_file_round_trip_and_initial_cluster() -> None:
    from etcdtui.models import Member

    text = "ETCD_NAME=node1\nETCD_INITIAL_CLUSTER_TOKEN='lab token'\n# comment\n"
    assert parse_env(text) == {"ETCD_NAME": "node1", "ETCD_INITIAL_CLUSTER_TOKEN": "lab token"}
    members = (
        Member(1, "node1", ("http://a:2380",), ()),
        Member(2, "", ("http://c:2380",), (), is_learner=True),
    )
    assert initial_cluster(members, "spare1", ("http://c:2380",)) == (
        "node1=http://a:2380,spare1=http://c:2380"
    )


# --- typed steps: kinds, arguments, the audit log older runs wrote --------------------------

# The arguments of each kind as older runs held them: string pairs.
OLD_ARGS = {
    "stop_old": {"node": "node3"},
    "remove": {"member_id": "18249187646912138824"},
    "apiserver_servers": {"node": "node1", "phase": "drop",
                          "servers": "https://10.0.0.11:2379,https://10.0.0.12:2379"},
    "config": {"drop": "https://10.0.0.13:2379", "old_node": "node3"},
}  # fmt: skip
# What the audit log holds of an earlier replace-member run's removal (as AuditLog writes it).
OLD_AUDIT_LINE = (
    '{"time": "2025-06-01T10:00:00.000Z", "user": "ops", "host": "bastion", "cluster": "prod", '
    '"runbook": "replace-member", "run_id": "20250601T095900Z-ab12", "step": 3, '
    '"step_id": "remove", "target": "node3", "command": "POST /v3/cluster/member/remove '
    'ID=18249187646912138824  # etcdctl member remove fd422379fda50e48", "exit_code": 0, '
    '"ok": true, "duration": 0.41, "output_tail": "removed node3 (fd422379fda50e48)", '
    '"note": ""}\n'
)


class _Shell:
    """A node that answers the preflight: its data dir absent, nothing listening."""

    def __init__(self, node: str) -> None:
        self.node = node

    def run(self, raw: str, **kwargs: object) -> CommandResult:
        out = "  sl local\n" if raw.startswith("cat /proc") else "absent\n"
        return CommandResult(self.node, raw, 0, out, "", 0.0)


class _Shells:
    def shell(self, name: str) -> _Shell:
        return _Shell(name)


def _sample_connection(source: str = "") -> Connection:
    nodes = tuple(
        NodeConfig(name, SshTarget(name), member=name if name != "spare1" else "",
                   peer_urls=(f"https://10.0.0.{11 + i}:2380",),
                   client_urls=(f"https://10.0.0.{11 + i}:2379",),
                   vars={"env_file": "/etc/etcd/etcd.env"})
        for i, name in enumerate(("node1", "node2", "node3", "spare1"))
    )  # fmt: skip
    return Connection("prod", ("https://10.0.0.11:2379",), nodes=nodes, source=source)


def test_member_step_arguments_read_back_from_the_text_older_runs_held() -> None:
    for kind, text in OLD_ARGS.items():
        args = decode_args(ARGS[MemberKind(kind)], text)
        assert encode_args(args) == text, kind
    assert decode_args(RemoveArgs, OLD_ARGS["remove"]).member_id == 0xFD422379FDA50E48
    servers = decode_args(ApiserverArgs, OLD_ARGS["apiserver_servers"]).servers
    assert servers == ("https://10.0.0.11:2379", "https://10.0.0.12:2379")
    # add-member's config step: nothing dropped, no old node.
    assert decode_args(ConfigArgs, {"drop": "", "old_node": ""}) == ConfigArgs((), "")


def test_every_member_step_kind_has_a_handler_and_only_catch_up_only_looks(
    tmp_path: Path,
) -> None:
    config = tmp_path / "etcdtui.toml"
    config.write_text("[clusters.prod]\nendpoints = []\n")
    runbook = MemberChangeRunbook(_sample_connection(str(config)), None, _Shells(),  # type: ignore[arg-type]
                                  "spare1", old_member="node3")  # fmt: skip
    assert set(runbook.handlers) == set(MemberKind) == set(ARGS)
    plan = runbook.plan_from(samples.healthy())
    kinds = [step.kind for step in plan.steps]
    assert kinds == ["stop_old", "remove", "prepare", "add", "env", "start", "catch_up",
                     "promote", "config"]  # fmt: skip
    assert [s.kind for s in plan.steps if s.read_only] == [MemberKind.CATCH_UP]
    for step in plan.steps:
        assert isinstance(step.args, ARGS[MemberKind(step.kind)])
    assert plan.steps[-1].args == ConfigArgs(("https://10.0.0.13:2379",), "node3")


def test_a_removal_in_an_older_audit_log_lets_the_rerun_continue(tmp_path: Path) -> None:
    audit = tmp_path / "audit.log"
    audit.write_text(OLD_AUDIT_LINE)
    view = samples.healthy()
    gone = replace(view, members=view.members[:2])  # node3 removed by the earlier run
    runbook = MemberChangeRunbook(_sample_connection(), None, _Shells(), "spare1",  # type: ignore[arg-type]
                                  old_member="node3", audit_path=audit)  # fmt: skip
    plan = runbook.plan_from(gone)
    assert "node3 is not a member (removed before?): adding only" in plan.notes
    assert [s.id for s in plan.steps][:2] == ["prepare", "add"]
    fresh = MemberChangeRunbook(_sample_connection(), None, _Shells(), "spare1",  # type: ignore[arg-type]
                                old_member="node3", audit_path=tmp_path / "none.log")  # fmt: skip
    with pytest.raises(UsageError, match="no earlier run removed one"):
        fresh.plan_from(gone)


def start_again(info: LabInfo, names: list[str]) -> None:
    """Start the members again and wait until each answers with a leader: a run started in
    the election that follows refuses, rightly, on its preflight's "no leader"."""
    for name in names:
        subprocess.run([info.node(name).service, "start"], check=True, timeout=30)
    for name in names:
        wait_answers(info.node(name).client_url)


def leader_name(info: LabInfo) -> str:
    client = ClusterClient(connection_of(info))
    try:
        leader = client.read(metrics=False, health=False).leader
    finally:
        client.close()
    assert leader is not None
    return leader.name


# A member change run in its own process, as `etcdtui add-member/replace-member` is: once the
# new member is started, the leader dies, and with it (adding) one more voting member, so the
# one left cannot elect a leader and nothing can catch up. Prints what the run reported.
QUORUM_LOSER = """
import json, sys, time
from pathlib import Path
from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import load_connection
from etcdtui.lab import load_lab
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.engine import execute
from etcdtui.runbooks.membership.runbook import MemberChangeRunbook
from tests.helpers.membership import kill

lab_dir, old, audit = sys.argv[1:4]
info = load_lab(Path(lab_dir))
connection = load_connection(info.config_path, "lab")
killed, started_at, stopped_at = [], [], []


def on_event(event):
    if event.kind == "result" and event.step is not None and event.step.id == "start":
        reader = ClusterClient(connection)
        leader = reader.read(metrics=False, health=False).leader.name
        reader.close()
        voting = [n.name for n in info.members() if n.name not in (old, leader)]
        killed.extend([leader] if old else [leader, voting[0]])
        for name in killed:
            kill(info, name)
        started_at.append(time.monotonic())
    if event.kind == "stopped" and started_at:
        stopped_at.append(time.monotonic())


shells = ShellPool(connection.nodes)
client = open_cluster(connection, shells)
runbook = MemberChangeRunbook(connection, client, shells, "spare1", old_member=old)
report = execute(runbook, runbook.plan(), AuditLog(Path(audit)), on_event)
took = stopped_at[0] - started_at[0] if stopped_at else None
print(json.dumps({"ok": report.ok, "stopped": report.stopped, "killed": killed, "took": took}))
"""


def test_quorum_lost_during_a_replacement_stops_at_once_with_that_reason(
    make_lab: Callable[..., LabInfo], tmp_path: Path
) -> None:
    # The failed member is dead from the start; the leader dies once the new one is started.
    info = make_lab(etcd_version="3.5", spares=1)
    put_keys(info)
    old = follower(info)
    kill(info, old)
    audit = tmp_path / "audit.log"
    root = str(Path(__file__).resolve().parents[2])
    first = subprocess.run(
        [sys.executable, "-c", QUORUM_LOSER, str(info.dir), old, str(audit)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": root}, cwd=root,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    outcome = json.loads(first.stdout.splitlines()[-1])
    stopped, killed = outcome["stopped"], outcome["killed"]
    assert outcome["took"] is not None, "the run never stopped after the start of the new member"
    assert not outcome["ok"]
    assert "(catch-up on spare1) failed: quorum lost: 1 of " in stopped, stopped
    assert "there is no leader" in stopped and all(name in stopped for name in killed)
    assert len(killed) == 1  # with the failed member: two of the three founders are down
    took = outcome["took"]
    print(f"stopped {took:.1f} s after the loss")
    assert took < 20, f"stopped {took:.0f} s after the loss, not at once"  # catch-up allows 120
    # Stopping there is safe: with the members back, the same command run again finishes.
    start_again(info, killed)
    again = subprocess.run(
        [sys.executable, "-m", "etcdtui", "replace-member", old, "--new-node", "spare1",
         "--config", str(info.config_path),
         "--cluster", "lab", "--yes", "--audit-log", str(audit)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    names = healthy_view(info)
    assert "spare1" in names and old not in names
    assert serializable_count(info, "spare1") == KEYS
