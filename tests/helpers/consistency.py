"""Consistency as the tests need it: `etcdtui check` run in-process, known values written, and
one member's stored value corrupted in its bbolt file while it is stopped."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time
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
