"""Consistency as the tests need it: `etcdtui check` run in-process, known values written, and
one member's stored value corrupted in its bbolt file while it is stopped."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import LabInfo

KEYS = 30


def value_of(i: int) -> bytes:
    """A value unique in the file, so its bytes are found where it is stored."""
    return f"consistency-value-{i:04d}-abcdefghijklmnop".encode()


def run_cli(*argv: str) -> tuple[int, str]:
    """etcdtui's command line in this process: (exit status, stdout). `check` and `repair`
    are registered here until cli/__init__.py lists them."""
    from etcdtui import cli
    from etcdtui.cli import check, repair

    commands = cli.COMMANDS
    missing = tuple(m for m in (check, repair) if m not in commands and hasattr(m, "register"))
    cli.COMMANDS = (*commands, *missing)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = cli.main(list(argv))
    finally:
        cli.COMMANDS = commands
    return code, out.getvalue()


def check_json(info: LabInfo) -> tuple[int, dict[str, Any]]:
    code, out = run_cli("check", "--config", str(info.config_path), "--cluster", info.cluster,
                        "-w", "json")  # fmt: skip
    return code, json.loads(out)


def put_values(info: LabInfo) -> dict[bytes, bytes]:
    client = GatewayClient(info.endpoints[0], timeout=5)
    written = {f"consistency/{i:04d}".encode(): value_of(i) for i in range(KEYS)}
    try:
        for key, value in written.items():
            client.put(key, value)
    finally:
        client.close()
    return written


def values_on(endpoint: str, keys: list[bytes]) -> dict[bytes, bytes | None]:
    client = GatewayClient(endpoint, timeout=5)
    try:
        return {key: client.get(key) for key in keys}
    finally:
        client.close()


def corrupt(info: LabInfo, node: str, value: bytes, new_byte: bytes = b"X") -> int:
    """Stop `node`'s etcd, change one byte of `value` where its db holds it, start it again;
    how many copies of the value the file held (each changed the same way)."""
    lab_node = info.node(node)
    service(lab_node.service, "stop")
    db = Path(lab_node.data_dir) / "member" / "snap" / "db"
    data = bytearray(db.read_bytes())
    found, start = 0, data.find(value)
    while start >= 0:
        data[start + len(value) - 1 : start + len(value)] = new_byte
        found += 1
        start = data.find(value, start + 1)
    assert found, f"{value!r} is not in {db}"
    db.write_bytes(bytes(data))
    service(lab_node.service, "start")
    wait_answers(lab_node.client_url)
    return found


def service(script: str, action: str) -> None:
    subprocess.run([script, action], check=True, capture_output=True, timeout=30)


def wait_answers(endpoint: str, within: float = 30.0) -> None:
    client = GatewayClient(endpoint, timeout=2)
    deadline = time.monotonic() + within
    try:
        while True:
            try:
                if client.status().leader_id:
                    return
            except Exception:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise AssertionError(f"{endpoint} has no leader after {within:g} s")
            time.sleep(0.2)
    finally:
        client.close()


def repair_argv(info: LabInfo, member: str, audit: Path, *flags: str) -> list[str]:
    """`etcdtui repair MEMBER` for the lab, journaled to `audit`."""
    return ["repair", member, "--config", str(info.config_path), "--cluster", info.cluster,
            "--audit-log", str(audit), *flags]  # fmt: skip


def repair_stopped_after(info: LabInfo, member: str, step_id: str, audit: Path) -> str:
    """Run a repair of `member` and abort it once step `step_id` has succeeded; what the
    report says stopped it."""
    from etcdtui.clients.session import cluster_session
    from etcdtui.config import load_connection
    from etcdtui.runbooks.audit import AuditLog
    from etcdtui.runbooks.engine import Event, execute
    from etcdtui.runbooks.repair.runbook import RepairRunbook
    from etcdtui.services.consistency import ConsistencyCheck

    done = False

    def on_event(event: Event) -> None:
        nonlocal done
        if event.kind == "result" and event.step is not None and event.step.id == step_id:
            done = event.result is not None and event.result.ok

    connection = load_connection(info.config_path, info.cluster)
    with cluster_session(connection, nodes=True) as session:
        assert session.shells is not None
        read = ConsistencyCheck(session.client).read
        runbook = RepairRunbook(connection, session.client, session.shells, member, read,
                                audit_path=audit)  # fmt: skip
        report = execute(runbook, runbook.plan(), AuditLog(audit), on_event=on_event,
                         should_abort=lambda: done)  # fmt: skip
    assert done, report.stopped
    return report.stopped


def enable_corrupt_check(info: LabInfo, every: str = "2s") -> None:
    """Turn on etcd's own periodic corruption check on every member (the leader compares
    its peers' HashKV with its own every `every`, and raises CORRUPT naming a peer that
    differs): the flag goes into each member's env file, and each restarts in turn."""
    for node in info.members():
        path = Path(node.env_file)
        lines = [x for x in path.read_text().splitlines() if "CORRUPT_CHECK_TIME" not in x]
        path.write_text("\n".join([*lines, f"ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME={every}"]) + "\n")
        service(node.service, "restart")
        wait_answers(node.client_url)


def wait_corrupt_alarm(endpoint: str, within: float = 60.0) -> set[int]:
    """The member IDs that CORRUPT alarms name, once etcd has raised at least one."""
    client = GatewayClient(endpoint, timeout=5)
    deadline = time.monotonic() + within
    try:
        while True:
            named = {a.member_id for a in client.alarms() if a.kind == "CORRUPT"}
            if named:
                return named
            if time.monotonic() > deadline:
                raise AssertionError(f"etcd raised no CORRUPT alarm within {within:g} s")
            time.sleep(0.5)
    finally:
        client.close()


def activate_corrupt_alarm(endpoint: str, member_id: int) -> None:
    """Raise a CORRUPT alarm naming `member_id` through the Maintenance Alarm API (etcd
    accepts ACTIVATE from a client), as etcd 3.4.21 to 3.4.22 and 3.5.5 to 3.5.6 raise it."""
    body = {"action": "ACTIVATE", "memberID": str(member_id), "alarm": "CORRUPT"}
    request = urllib.request.Request(
        endpoint + "/v3/maintenance/alarm", json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@dataclass
class WriteRate:
    """What a steady write load reached: puts per second, and puts that failed."""

    per_second: float = 0.0
    failed: int = -1


@contextlib.contextmanager
def steady_writes(info: LabInfo, rate: float = 200.0) -> Iterator[WriteRate]:
    """A write load paced at `rate` puts/s on every member, from a process of its own
    (tests/helpers/put_load.py) while the block runs; what it reached is filled in after."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.put_load", str(rate), *info.endpoints],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root,
    )  # fmt: skip
    reached = WriteRate()
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "STARTED"
        yield reached
    finally:
        out, _ = proc.communicate("", timeout=60)
        line = next((x for x in out.splitlines() if x.startswith("PUTS ")), "")
        if line:
            done, failed, seconds = line.split()[1:]
            reached.per_second, reached.failed = int(done) / float(seconds), int(failed)
