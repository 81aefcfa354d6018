"""The defrag and NOSPACE-recovery runbooks against real lab clusters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import LabInfo
from etcdtui.models.runbook import NoArgs, Plan, decode_args, encode_args
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.defrag.nospace import NospaceRecovery
from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook
from etcdtui.runbooks.defrag.steps import (
    ARGS,
    CompactArgs,
    DefragArgs,
    DefragKind,
    DisarmArgs,
    MoveLeaderArgs,
    WaitArgs,
    WriteCheckArgs,
    disarm_step,
    write_check_step,
)
from etcdtui.runbooks.engine import Event, execute
from tests.helpers.etcd import etcdctl, fragment, sizes
from tests.helpers.labs import connection_of

ETCDTUI = str(Path(sys.executable).parent / "etcdtui")


def key_count(info: LabInfo) -> int:
    return int(json.loads(etcdctl(info, "get", "", "--prefix", "--keys-only", "-w", "json").stdout)
               .get("count", 0))  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ETCDTUI, *args], capture_output=True, text=True, timeout=300,
                          check=False, stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture
def fragmented(make_lab) -> LabInfo:  # type: ignore[no-untyped-def]
    info: LabInfo = make_lab()
    fragment(info)
    return info


def test_defrag_plan_puts_leader_last(plain_lab: LabInfo) -> None:
    client = ClusterClient(connection_of(plain_lab))
    plan = DefragRunbook(connection_of(plain_lab), client, DefragOptions(move_leader=True)).plan()
    client.close()
    view_leader = next(s.target for s in plan.steps if s.kind == "move_leader")
    defrags = [s.target for s in plan.steps if s.kind == "defrag"]
    assert len(defrags) == 3 and defrags[-1] == view_leader
    kinds = [s.kind for s in plan.steps]
    assert kinds.index("move_leader") == len(kinds) - 2  # right before the leader's defrag
    assert kinds.count("health") == 3 and not plan.destructive and not plan.blocked


def test_defrag_yes_shrinks_every_member_and_loses_no_key(
    fragmented: LabInfo, tmp_path: Path
) -> None:
    before, keys = sizes(fragmented), key_count(fragmented)
    audit = tmp_path / "audit.log"
    result = run("defrag", "--config", str(fragmented.config_path), "--yes", "--wait", "0.2",
                 "--audit-log", str(audit))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    after = sizes(fragmented)
    assert all(after[name] < before[name] for name in before), (before, after)
    assert key_count(fragmented) == keys
    assert "[PASS] no key lost" in result.stdout and "defrag: DONE" in result.stdout
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    started = [e for e in entries if e["note"] == "started"]
    done = [e for e in entries if e["note"] != "started"]
    assert sum(e["step_id"].startswith("defrag-") for e in done) == 3
    assert [e["step_id"] for e in started] == [e["step_id"] for e in done[1:]]  # each, before
    assert all(e["ok"] for e in done) and oct(audit.stat().st_mode & 0o777) == "0o600"


def test_dry_run_changes_nothing(fragmented: LabInfo, tmp_path: Path) -> None:
    before = sizes(fragmented)
    audit = tmp_path / "audit.log"
    result = run("defrag", "--config", str(fragmented.config_path), "--dry-run",
                 "--compact", "--audit-log", str(audit))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "DESTRUCTIVE" in result.stdout and "etcdctl compact" in result.stdout
    assert sizes(fragmented) == before and not audit.exists()


def test_without_yes_and_without_a_terminal_nothing_runs(fragmented: LabInfo) -> None:
    before = sizes(fragmented)
    result = run("defrag", "--config", str(fragmented.config_path))
    assert result.returncode == 2 and "without --yes" in result.stderr
    assert sizes(fragmented) == before


@pytest.mark.parametrize(
    ("rule", "message"),
    [("dbSze > 1", "unknown variable"), ("dbSize >", "column"), ("dbSize + 1", "column"),
     ("__import__('os')", "column")],
)  # fmt: skip
def test_bad_rules_are_refused_before_anything_runs(rule: str, message: str) -> None:
    result = run("defrag", "--endpoints", "127.0.0.1:1", "--rule", rule, "--yes")
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_rule_selects_only_matching_members(fragmented: LabInfo) -> None:
    client = ClusterClient(connection_of(fragmented))
    from etcdtui.runbooks.defrag.rule import parse_rule

    none = DefragRunbook(connection_of(fragmented), client,
                         DefragOptions(rule=parse_rule("dbQuotaUsage > 0.9"))).plan()  # fmt: skip
    every = DefragRunbook(connection_of(fragmented), client,
                          DefragOptions(rule=parse_rule("dbSizeFree > 1024"))).plan()  # fmt: skip
    client.close()
    assert not [s for s in none.steps if s.kind == "defrag"]
    assert len([s for s in every.steps if s.kind == "defrag"]) == 3


def test_member_killed_mid_run_stops_the_runbook_and_leaves_the_rest(
    fragmented: LabInfo, tmp_path: Path
) -> None:
    connection = connection_of(fragmented)
    client = ClusterClient(connection)
    runbook = DefragRunbook(connection, client, DefragOptions(wait=0))
    plan = runbook.plan()
    order = [s.target for s in plan.steps if s.kind == "defrag"]
    victim = order[1]  # a follower, defragmented second
    before = sizes(fragmented)

    def on_event(event: Event) -> None:
        step = event.step
        if event.kind == "result" and step is not None and step.id == f"defrag-{order[0]}":
            os.kill(fragmented.pid(victim), signal.SIGKILL)  # type: ignore[arg-type]

    report = execute(runbook, plan, AuditLog(tmp_path / "audit.log"), on_event=on_event)
    client.close()
    assert not report.ok and "unhealthy now" in report.stopped and victim in report.stopped
    after = sizes(fragmented)
    assert after[order[0]] < before[order[0]]  # done before the failure
    # The leader was never defragmented: its fragmented file did not shrink (the run's lock
    # writes may have grown it by a page or so).
    assert after[order[2]] >= before[order[2]]
    assert [r.step.target for r in report.results if r.step.kind == "defrag"] == [order[0]]


def test_nospace_is_recovered(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    info = make_lab(quota_bytes=4 * 1024 * 1024)
    for i in range(64):
        if etcdctl(info, "put", f"/fill/{i}", stdin="x" * 256 * 1024).returncode != 0:
            break
    assert "NOSPACE" in etcdctl(info, "alarm", "list").stdout
    for i in range(64):  # free the space the alarm is about, as an operator would first
        etcdctl(info, "del", f"/fill/{i}")
    result = run("recover-nospace", "--config", str(info.config_path), "--yes",
                 "--audit-log", str(tmp_path / "audit.log"))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert etcdctl(info, "alarm", "list").stdout.strip() == ""
    assert etcdctl(info, "put", "/after", "works").returncode == 0
    assert "[PASS] no alarm" in result.stdout


def test_nospace_recovery_rerun_after_its_compaction_finishes_the_job(  # type: ignore[no-untyped-def]
    make_lab, tmp_path: Path
) -> None:
    info = make_lab(quota_bytes=4 * 1024 * 1024)
    for i in range(64):
        if etcdctl(info, "put", f"/fill/{i}", stdin="x" * 256 * 1024).returncode != 0:
            break
    for i in range(64):
        etcdctl(info, "del", f"/fill/{i}")
    keys = key_count(info)
    # A first run killed right after its compaction: the alarm keeps the revision where it
    # was, so the rerun plans the same compaction again.
    revision = json.loads(etcdctl(info, "endpoint", "status", "-w", "json").stdout)[0]["Status"][
        "header"]["revision"]  # fmt: skip
    assert etcdctl(info, "compact", str(revision), "--physical").returncode == 0
    assert "NOSPACE" in etcdctl(info, "alarm", "list").stdout
    result = run("recover-nospace", "--config", str(info.config_path), "--yes",
                 "--audit-log", str(tmp_path / "audit.log"))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    entries = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    (compact,) = [e for e in entries if e["step_id"] == "compact" and e["note"] != "started"]
    assert compact["ok"] and f"already compacted to revision {revision}" in compact["output_tail"]
    assert etcdctl(info, "alarm", "list").stdout.strip() == ""
    assert etcdctl(info, "put", "/after", "works").returncode == 0
    assert key_count(info) == keys + 1


def test_defrag_with_compaction_twice_succeeds_both_times(
    fragmented: LabInfo, tmp_path: Path
) -> None:
    keys = key_count(fragmented)
    args = ("defrag", "--config", str(fragmented.config_path), "--compact", "--yes",
            "--wait", "0", "--audit-log", str(tmp_path / "audit.log"))  # fmt: skip
    first, second = run(*args), run(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    entries = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    compactions = [e["output_tail"] for e in entries if e["step_id"] == "compact" and e["ok"]]
    assert len(compactions) == 2  # each run compacted, or found it done
    assert key_count(fragmented) == keys


def test_defrag_on_node_runs_etcdctl_on_each_node(fragmented: LabInfo, tmp_path: Path) -> None:
    before = sizes(fragmented)
    result = run("defrag", "--config", str(fragmented.config_path), "--on-node", "--yes",
                 "--wait", "0", "--audit-log", str(tmp_path / "audit.log"))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Finished defragmenting etcd member" in result.stdout
    after = sizes(fragmented)
    assert all(after[n] < before[n] for n in before)


def test_corrupt_alarm_refuses_both_runbooks_and_is_never_disarmed(make_lab) -> None:  # type: ignore[no-untyped-def]
    info: LabInfo = make_lab()
    client = GatewayClient(info.endpoints[1])
    member_id = client.status().member_id
    client._rpc("/maintenance/alarm", {"action": "ACTIVATE", "memberID": str(member_id),
                                        "alarm": "CORRUPT"})  # fmt: skip
    client.close()
    for command in ("defrag", "recover-nospace"):
        result = run(command, "--config", str(info.config_path), "--dry-run")
        assert result.returncode == 1, result.stdout
        assert "[FAIL] no CORRUPT alarm" in result.stdout and "REFUSED" in result.stdout
        assert "DEACTIVATE" not in result.stdout
    assert "CORRUPT" in etcdctl(info, "alarm", "list").stdout


def test_plan_is_refused_when_the_member_list_is_unknown() -> None:
    from dataclasses import replace

    from etcdtui.services import samples
    from etcdtui.ui.samples import sample_connection

    view = replace(samples.healthy(), error="member list failed: timed out after 2.0 s")
    plan = DefragRunbook(sample_connection(), None, DefragOptions()).plan_from(view)  # type: ignore[arg-type]
    assert plan.blocked
    assert any(c.name == "member list" and c.failed for c in plan.checks)


def test_on_node_preflight_refuses_a_changed_host_key_before_any_member_pauses(
    fragmented: LabInfo, tmp_path: Path
) -> None:
    # The member defragmented last (the leader) is on a node whose known_hosts entry holds
    # another node's key, as after a reinstall or a man in the middle.
    client = ClusterClient(connection_of(fragmented))
    leader = client.read(metrics=False).leader
    client.close()
    assert leader is not None
    known_hosts = fragmented.dir / "ssh" / "known_hosts"
    lines = known_hosts.read_text().splitlines()
    port = fragmented.node(leader.name).ssh_port
    mine = next(i for i, line in enumerate(lines) if line.startswith(f"[127.0.0.1]:{port} "))
    other = lines[(mine + 1) % len(lines)].split(" ", 1)[1]
    lines[mine] = f"[127.0.0.1]:{port} {other}"
    known_hosts.write_text("\n".join(lines) + "\n")
    before, keys = sizes(fragmented), key_count(fragmented)
    audit = tmp_path / "audit.log"

    result = run("defrag", "--config", str(fragmented.config_path), "--on-node", "--yes",
                 "--wait", "0", "--audit-log", str(audit))  # fmt: skip

    assert result.returncode == 1, result.stdout + result.stderr
    assert "REFUSED" in result.stdout
    (line,) = [x for x in result.stdout.splitlines() if "SSH to every chosen node" in x]
    assert line.lstrip().startswith("[FAIL]") and f"{leader.name}: host key for" in line
    assert "has CHANGED" in line and "ssh-keygen -R" in line
    assert sizes(fragmented) == before and key_count(fragmented) == keys  # nobody paused
    assert not audit.exists() or not any(
        json.loads(entry)["step_id"].startswith("defrag-")
        for entry in audit.read_text().splitlines()
    )


def test_on_node_preflight_names_every_node_it_logged_into(plain_lab: LabInfo) -> None:
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.models.runbook import Verdict

    connection = connection_of(plain_lab)
    shells = ShellPool(connection.nodes)
    client = ClusterClient(connection)
    try:
        runbook = DefragRunbook(connection, client, DefragOptions(on_node=True), shells)
        check = next(c for c in runbook.plan().checks if c.name.startswith("SSH to every"))
    finally:
        client.close()
        shells.close_all()
    assert check.verdict is Verdict.PASS
    assert sorted(check.reason.split(", ")) == ["node1", "node2", "node3"]


# The arguments of each step as text, exactly as the runbook wrote them before they were typed
# (string pairs), for the sample cluster's plan with --compact and --move-leader.
OLD_ARGS_TEXT = {
    "compact": {"endpoint": "https://10.0.0.11:2379", "revision": "0"},
    "health-before-node2": {},
    "defrag-node2": {"member": "node2", "endpoint": "https://10.0.0.12:2379"},
    "wait-after-node2": {"seconds": "5.0"},
    "health-before-node3": {},
    "defrag-node3": {"member": "node3", "endpoint": "https://10.0.0.13:2379"},
    "wait-after-node3": {"seconds": "5.0"},
    "health-before-node1": {},
    "move-leader-node2": {"endpoint": "https://10.0.0.11:2379",
                          "target": "10501334649042878790", "target_name": "node2"},
    "defrag-node1": {"member": "node1", "endpoint": "https://10.0.0.11:2379"},
}  # fmt: skip


def sample_plan(**options: Any) -> Plan:
    """The defrag plan for the healthy sample cluster (no I/O)."""
    from etcdtui.services import samples
    from etcdtui.ui.samples import sample_connection

    runbook = DefragRunbook(sample_connection(), None, DefragOptions(**options))  # type: ignore[arg-type]
    return runbook.plan_from(samples.healthy())


def test_every_step_kind_has_a_handler() -> None:
    from etcdtui.ui.samples import sample_connection

    defrag = DefragRunbook(sample_connection(), None, DefragOptions())  # type: ignore[arg-type]
    nospace = NospaceRecovery(sample_connection(), None)  # type: ignore[arg-type]
    assert set(nospace.handlers) == set(DefragKind) == set(ARGS)
    assert set(defrag.handlers) == set(DefragKind) - {DefragKind.DISARM, DefragKind.WRITE_CHECK}


@pytest.mark.parametrize("on_node", [False, True])
def test_planned_steps_carry_typed_arguments_and_only_looking_steps_are_read_only(
    on_node: bool,
) -> None:
    plan = sample_plan(compact=True, move_leader=True, on_node=on_node)
    steps = [*plan.steps, disarm_step("https://10.0.0.11:2379", 0x8E9E05C52164694D, "NOSPACE"),
             write_check_step("https://10.0.0.11:2379")]  # fmt: skip
    assert {DefragKind(s.kind) for s in steps} == set(DefragKind) - {
        DefragKind.DEFRAG if on_node else DefragKind.DEFRAG_SSH
    }
    for step in steps:
        kind = DefragKind(step.kind)
        assert type(step.args) is ARGS[kind], step.id
        assert step.read_only == (kind in (DefragKind.HEALTH, DefragKind.WAIT)), step.id
    assert steps[-2].params(DisarmArgs) == DisarmArgs(
        "https://10.0.0.11:2379", 0x8E9E05C52164694D, "NOSPACE"
    )
    assert steps[-1].params(WriteCheckArgs).endpoint == "https://10.0.0.11:2379"


def test_step_arguments_keep_the_text_form_older_runs_wrote() -> None:
    plan = sample_plan(compact=True, move_leader=True)
    typed = {s.id: s.params(ARGS[DefragKind(s.kind)]) for s in plan.steps}
    assert {step_id: encode_args(args) for step_id, args in typed.items()} == OLD_ARGS_TEXT
    for step in plan.steps:
        text = OLD_ARGS_TEXT[step.id]
        assert decode_args(ARGS[DefragKind(step.kind)], text) == step.args, step.id
    by_id = {s.id: s for s in plan.steps}
    assert by_id["compact"].params(CompactArgs).revision == 0
    assert by_id["wait-after-node2"].params(WaitArgs).seconds == 5.0
    assert by_id["move-leader-node2"].params(MoveLeaderArgs).target == 0x91BC3C398FB3C146
    assert by_id["defrag-node1"].params(DefragArgs).member == "node1"
    assert by_id["health-before-node1"].params(NoArgs) == NoArgs()
    disarm = {"endpoint": "https://10.0.0.11:2379", "member_id": "10276657743932975437",
              "alarm": "NOSPACE"}  # fmt: skip
    assert decode_args(DisarmArgs, disarm).member_id == 0x8E9E05C52164694D
    assert encode_args(decode_args(DisarmArgs, disarm)) == disarm
