"""Runbooks say what happened: etcd's cause first, ABORTED not FAILED, one run id, nothing
"untouched" that was changed, a learner of our own named as such, and state keyed by the
cluster's identity. No terminal; real sockets and files where it matters."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from etcdtui.config import Connection, NodeConfig, SshTarget
from etcdtui.config.identity import cluster_key, connection_key
from etcdtui.models import Member, MemberView
from etcdtui.models.runbook import Check, Plan, RunReport, Step, StepResult, Verdict
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.audit_rows import INTERRUPTED, RUNNING, step_rows
from etcdtui.runbooks.engine import Outcome, execute, outcome
from etcdtui.runbooks.etcd_log import failure_cause, with_cause
from etcdtui.runbooks.lock import local_lock_path
from etcdtui.runbooks.membership.ports import LISTENING_SCRIPT, listening, taken
from etcdtui.runbooks.membership.runbook import MemberChangeRunbook
from etcdtui.runbooks.render import render_report
from etcdtui.runbooks.restore.journal import (
    ClusterLock,
    NodePaths,
    RestoreState,
    SnapshotFacts,
    journals,
    pending_restore,
    save,
)
from etcdtui.runbooks.restore.kinds import NodeArgs, RestoreKind
from etcdtui.services import samples
from etcdtui.snapshots.catalogue import default_snapshot_dir, legacy_snapshot_dir
from etcdtui.ui.runbook_samples import RUN_ID, ScriptedDefrag

# The end of a real etcd 3.5.1 log when its peer port is taken (etcd --logger=zap).
ZAP_TAIL = """\
etcd on spare1: etcd exited at once; the end of /tmp/lab/spare1/etcd.log:
{"level":"info","ts":"2026-12-07T00:53:18.641Z","caller":"embed/etcd.go:367","msg":"closing etcd server","name":"default"}
{"level":"warn","ts":"2026-12-07T00:53:18.641Z","caller":"etcdmain/etcd.go:145","msg":"failed to start etcd","error":"listen tcp 127.0.0.1:23999: bind: address already in use"}
{"level":"fatal","ts":"2026-12-07T00:53:18.641Z","caller":"etcdmain/etcd.go:203","msg":"discovery failed","error":"listen tcp 127.0.0.1:23999: bind: address already in use","stacktrace":"go.etcd.io/etcd/server/v3/etcdmain.startEtcdOrProxyV2\\n\\t/tmp/etcd.go:203"}
"""  # noqa: E501

# --- etcd's failure cause -------------------------------------------------------------------


def test_cause_is_the_last_fatal_line_of_etcds_json_log() -> None:
    assert failure_cause(ZAP_TAIL) == (
        "discovery failed: listen tcp 127.0.0.1:23999: bind: address already in use"
    )


def test_cause_reads_capnslog_and_a_json_line_behind_the_services_words() -> None:
    capnslog = (
        "2024-01-02 03:04:05.678901 I | etcdmain: etcd Version: 3.4.23\n"
        "2024-01-02 03:04:05.678902 C | etcdmain: listen tcp 127.0.0.1:2380: bind: address "
        "already in use\n"
    )
    assert failure_cause(capnslog) == (
        "etcdmain: listen tcp 127.0.0.1:2380: bind: address already in use"
    )
    prefixed = 'spare1: {"level":"error","msg":"failed to write","error":"no space left on device"}'
    assert failure_cause(prefixed) == "failed to write: no space left on device"


def test_a_go_panic_is_named_by_its_message_when_no_log_line_says_more() -> None:
    trace = (
        "panic: failed to create WAL: open /data/member/wal/0.tmp: no space left on device\n\n"
        "goroutine 1 [running]:\ngo.etcd.io/etcd/etcdmain.startEtcd(...)\n"
        "\tgo.etcd.io/etcd/etcdmain/etcd.go:160 +0xdfc\n"
    )
    assert failure_cause(trace) == (
        "failed to create WAL: open /data/member/wal/0.tmp: no space left on device"
    )
    assert failure_cause("\tgo.etcd.io/etcd/etcdmain/etcd.go:160 +0xdfc") == ""


def test_output_without_an_etcd_error_is_left_as_it_is() -> None:
    plain = 'ssh: connect to host node2 port 22: Connection refused\n{"level":"info","msg":"x"}'
    assert failure_cause(plain) == "" and with_cause(plain) == plain
    assert with_cause(ZAP_TAIL).splitlines()[0].endswith("bind: address already in use")
    assert with_cause(ZAP_TAIL).splitlines()[1:] == ZAP_TAIL.splitlines()  # raw, folded below
    assert with_cause(with_cause(ZAP_TAIL)) == with_cause(ZAP_TAIL)


# --- how a run ends, and under which id -----------------------------------------------------


def test_an_aborted_run_is_aborted_in_the_report_the_audit_log_and_under_the_plans_id(
    tmp_path: Path,
) -> None:
    runbook = ScriptedDefrag()
    plan = runbook.plan()
    audit = AuditLog(tmp_path / "audit.log")
    done: list[int] = []
    report = execute(runbook, plan, audit, lambda e: done.append(e.index) if e.kind == "result"
                     else None, should_abort=lambda: len(done) == 3)  # fmt: skip
    assert report.run_id == RUN_ID  # the id the screen showed with the plan
    assert outcome(report) is Outcome.ABORTED and not report.ok
    text = render_report(report)
    assert "ABORTED after 3 of 9 steps: aborted by the user before step 4" in text
    assert text.rstrip().endswith(f"defrag: ABORTED (run {RUN_ID})") and "FAILED" not in text
    entries = audit.recent()
    assert {e.run_id for e in entries} == {RUN_ID}
    abort = entries[-1]
    assert (abort.step, abort.step_id, abort.exit_code) == (4, "abort", 130)
    assert abort.command.startswith("not run: ") and "aborted by the user" in abort.note


def test_a_failed_step_leads_with_etcds_cause(tmp_path: Path) -> None:
    runbook = ScriptedDefrag(fail_at=3)
    report = execute(runbook, runbook.plan(), AuditLog(tmp_path / "audit.log"))
    assert outcome(report) is Outcome.FAILED
    first = render_report(report).splitlines()[1]
    assert first.startswith("STOPPED after 3 of 9 steps: step 3 (defrag-node2 on node2) failed: ")
    assert first.endswith(
        "discovery failed: listen tcp 10.0.0.12:2380: bind: address already in use"
    )


def _member_change_plan() -> Plan:
    steps = (
        Step("prepare", "prepare", "spare1", "mv data data.old", "empty data dir"),
        Step("add", "add", "spare1", "member add spare1 --learner", "learner first"),
        Step("env", "env", "spare1", "write env", "join"),
        Step("start", "start", "spare1", "start etcd", "start"),
        Step("catch-up", "catch_up", "spare1", "wait for the learner", "in sync"),
        Step("promote", "promote", "spare1", "member promote", "voting"),
        Step("pointers", "apiserver", "node1", "edit --etcd-servers", "use it"),
    )
    return Plan("add-member", "lab", steps)


def test_left_untouched_never_names_the_learner_that_was_added() -> None:
    plan = _member_change_plan()
    results = [StepResult(s, True, 0, "ok", 0.1) for s in plan.steps[:4]]
    results.append(StepResult(plan.steps[4], False, 1, "not caught up within 120 s", 120.0))
    report = RunReport(plan, "run-1", results=results, stopped="step 5 (catch-up) failed")
    lines = render_report(report).splitlines()
    assert "not run, left untouched: node1" in lines  # spare1 was added and started


def test_pending_names_our_own_learner_and_refuses_any_other() -> None:
    node = NodeConfig("spare1", SshTarget("spare1.example"), peer_urls=("https://10.0.0.14:2380",),
                      client_urls=("https://10.0.0.14:2379",))  # fmt: skip
    connection = Connection("prod", ("https://10.0.0.11:2379",), nodes=(node,))
    runbook = MemberChangeRunbook(connection, None, None, "spare1")  # type: ignore[arg-type]
    ours = Member(0xABC, "spare1", node.peer_urls, node.client_urls, is_learner=True)
    view = samples.healthy()
    mine = replace(view, members=(*view.members, MemberView("https://10.0.0.14:2379", ours)))
    pending = next(c for c in runbook.preflight(mine, None, ours) if "pending" in c.name)
    assert pending.name == "no other member change pending"
    assert (pending.verdict, pending.reason) == (
        Verdict.PASS,
        "pending: only this run's own learner abc (continuing)",
    )
    stranger = Member(0xDEF, "", ("https://10.0.0.15:2380",), (), is_learner=True)
    theirs = replace(view, members=(*view.members, MemberView("", stranger)))
    checks = runbook.preflight(theirs, None, ours)
    refused = next(c for c in checks if "pending" in c.name)
    assert refused.verdict is Verdict.FAIL and "def" in refused.reason


# --- the new member's ports -----------------------------------------------------------------


def test_a_listening_port_is_found_in_proc_net_tcp_and_named() -> None:
    import subprocess

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        text = subprocess.run(["sh", "-c", LISTENING_SCRIPT], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip
    found = listening(text)
    assert ("127.0.0.1", port) in found
    urls = [f"http://127.0.0.1:{port}", f"http://127.0.0.2:{port}", "http://127.0.0.1:1"]
    assert taken(urls, found) == [f"http://127.0.0.1:{port}"]
    # A wildcard listener holds the port on every address.
    assert taken([f"https://10.0.0.14:{port}"], {("0.0.0.0", port)}) == [
        f"https://10.0.0.14:{port}"
    ]
    assert taken([f"https://[::1]:{port}"], {("::", port)}) == [f"https://[::1]:{port}"]


def test_listening_reads_ipv6_and_mapped_addresses() -> None:
    text = (
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:0950 00000000:0000 0A\n"  # 127.0.0.1:2384 listening
        "   1: 0100007F:0951 0100007F:1234 01\n"  # established: not a listener
        "   0: 00000000000000000000000001000000:094F 00000000000000000000000000000000:0000 0A\n"
        "   1: 0000000000000000FFFF00000100007F:0953 00000000000000000000000000000000:0000 0A\n"
    )
    assert listening(text) == {("127.0.0.1", 2384), ("::1", 2383), ("127.0.0.1", 2387)}


# --- the audit log as steps -----------------------------------------------------------------


def test_audit_rows_pair_started_with_results_and_name_steps_that_never_ended(
    tmp_path: Path,
) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    common: dict[str, Any] = {"cluster": "lab", "runbook": "defrag", "target": "node2",
                              "duration": 0.0}  # fmt: skip
    audit.record(run_id="r1", step=0, step_id="plan", command="2 steps", exit_code=0, **common)
    audit.record(run_id="r1", step=1, step_id="defrag-node2", command="defrag", exit_code=-1,
                 note="started", **common)  # fmt: skip
    audit.record(run_id="r1", step=1, step_id="defrag-node2", command="defrag", exit_code=0,
                 output="409 MB -> 322 MB", **common | {"duration": 1.5})  # fmt: skip
    audit.record(run_id="r1", step=2, step_id="defrag-node3", command="defrag", exit_code=-1,
                 note="started", **common)  # fmt: skip
    rows = step_rows(audit.recent())
    assert [r.state for r in rows] == ["plan", "ok", RUNNING]
    done = rows[1]
    # Both records may fall in one millisecond: the pair is ordered, not necessarily apart.
    assert done.started_at <= done.ended_at and done.duration == 1.5
    assert done.last.output_tail == "409 MB -> 322 MB"
    assert rows[2].ended_at == "" and rows[2].duration is None
    # Anything later for the same cluster: that step was cut short, not running.
    audit.record(run_id="r2", step=0, step_id="plan", command="1 step", exit_code=0, **common)
    assert [r.state for r in step_rows(audit.recent())][2] == INTERRUPTED
    # ... and so is one long past.
    assert step_rows(audit.recent()[:4], now=4e9)[2].state == INTERRUPTED


# --- state keyed by the cluster's identity --------------------------------------------------


def _two_labs(tmp_path: Path) -> tuple[Connection, Connection]:
    first, second = tmp_path / "a" / "etcdtui.toml", tmp_path / "b" / "etcdtui.toml"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("")
    return (
        Connection("lab", ("http://127.0.0.1:2379",), source=str(first)),
        Connection("lab", ("http://127.0.0.1:2379",), source=str(second)),
    )


def _journal(connection: Connection, run: str) -> RestoreState:
    facts = SnapshotFacts("/b/snap.db", "ab" * 32, 10, 7, 20, 3, 1, "3.5.0", "ok", False)
    paths = NodePaths.for_run("n1", "m1", "/var/lib/etcd", run, True, False)
    step = Step("swap-n1", RestoreKind.SWAP, "n1", "mv a b", "why", True, NodeArgs("n1"))
    return RestoreState(connection.cluster, run, facts, "tok", (paths,), (step,),
                        source=connection.source)  # fmt: skip


def test_two_clusters_named_lab_never_share_snapshots_journals_or_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    one, two = _two_labs(tmp_path)
    assert connection_key(one) != connection_key(two)
    assert connection_key(one).startswith("lab-")
    assert default_snapshot_dir(one) != default_snapshot_dir(two)
    # The same function as the run lock's file: one identity for every piece of state.
    assert local_lock_path(one).stem == connection_key(one)
    assert (
        ClusterLock("lab", tmp_path, one.source).path
        != ClusterLock("lab", tmp_path, two.source).path
    )
    save(_journal(one, "20260101T000000Z-aaaa"), tmp_path)
    assert pending_restore(one, tmp_path) is not None
    assert pending_restore(two, tmp_path) is None
    # The same file by another path (a symlinked folder) is the same cluster.
    (tmp_path / "alias").symlink_to(tmp_path / "a")
    alias = replace(one, source=str(tmp_path / "alias" / "etcdtui.toml"))
    assert connection_key(alias) == connection_key(one)
    assert cluster_key("lab", "") == "lab"  # a cluster from no file: its name, as before


def test_a_journal_in_the_old_name_only_folder_is_still_found_for_its_own_config(
    tmp_path: Path,
) -> None:
    one, two = _two_labs(tmp_path)
    old = _journal(one, "20260101T000000Z-aaaa")
    old.path = tmp_path / "lab" / f"{old.run}.json"  # where etcdtui wrote it before
    save(old, tmp_path)
    found = pending_restore(one, tmp_path)
    assert found is not None and found.path == old.path  # resumed where it is
    assert pending_restore(two, tmp_path) is None  # another config's cluster named lab
    anonymous = _journal(replace(one, source=""), "20260102T000000Z-bbbb")
    save(anonymous, tmp_path)  # written before sources were recorded: its name must do
    assert [s.run for s in journals("lab", tmp_path, one.source)] == [old.run, anonymous.run]


def test_the_old_snapshot_folder_is_pointed_at_not_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    one, _ = _two_labs(tmp_path)
    assert legacy_snapshot_dir(one) is None
    old = tmp_path / "state" / "etcdtui" / "snapshots" / "lab"
    old.mkdir(parents=True)
    (old / "lab-20260101-000000.db").write_bytes(b"x")
    assert legacy_snapshot_dir(one) == old
    assert legacy_snapshot_dir(replace(one, snapshot_dir=str(tmp_path / "mine"))) is None


def test_verification_failure_after_all_steps_is_failed_not_aborted() -> None:
    plan = ScriptedDefrag().plan()
    results = [StepResult(s, True, 0, "ok", 0.1) for s in plan.steps]
    failed = [Check("cluster healthy", Verdict.FAIL, "no leader")]
    report = RunReport(plan, "r", results=results, verification=failed)
    assert outcome(report) is Outcome.FAILED
    assert "defrag: FAILED (run r)" in render_report(report)


def test_a_taken_client_port_on_the_new_node_stops_the_plan(make_lab) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import urlsplit

    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.clients.via_ssh import open_cluster
    from tests.helpers.labs import connection_of

    info = make_lab(etcd_version="3.5", spares=1)
    spare = info.node("spare1")
    client = urlsplit(spare.client_url)
    connection = connection_of(info)
    shells = ShellPool(connection.nodes)
    cluster = open_cluster(connection, shells)
    try:
        runbook = MemberChangeRunbook(connection, cluster, shells, "spare1")
        with socket.socket() as squatter:  # the lab's nodes are this machine: so is its port
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((client.hostname or "127.0.0.1", client.port or 0))
            squatter.listen()
            plan = runbook.plan()
        ports = next(c for c in plan.checks if c.name == "spare1: peer and client ports free")
        assert ports.verdict is Verdict.FAIL and plan.blocked
        assert ports.reason.startswith(f"in use: {spare.client_url}: etcd could not bind")
        assert spare.peer_url not in ports.reason  # the peer port is free, and checked
        again = next(c for c in runbook.plan().checks if c.name == ports.name)
        assert again.verdict is Verdict.PASS and spare.peer_url in again.reason
    finally:
        cluster.close()
        shells.close_all()
