"""The command line as a user runs it: exit codes, one-line errors, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from etcdtui.lab import LabInfo
from tests.helpers.labs import follower

ETCDTUI = str(Path(sys.executable).parent / "etcdtui")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    return subprocess.run(
        [ETCDTUI, *args], capture_output=True, text=True, timeout=60, check=False,
        env={**clean, "XDG_CONFIG_HOME": "/nonexistent", **(env or {})},
    )  # fmt: skip


def test_version_and_module_entry_point() -> None:
    assert run("--version").stdout.startswith("etcdtui 0.")
    module = subprocess.run(
        [sys.executable, "-m", "etcdtui", "--version"], capture_output=True, text=True, check=True
    )
    assert module.stdout == run("--version").stdout


def test_status_table_on_a_healthy_lab_exits_0(plain_lab: LabInfo) -> None:
    result = run("status", "--config", str(plain_lab.config_path), "--cluster", "lab")
    assert result.returncode == 0, result.stderr
    for name in ("node1", "node2", "node3"):
        assert name in result.stdout
    assert "cluster lab: healthy" in result.stdout
    assert result.stdout.count("| true ") >= 1  # a leader


def test_status_json_has_one_row_per_member(plain_lab: LabInfo) -> None:
    result = run("status", "-w", "json", "--endpoints", ",".join(plain_lab.endpoints))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["members"]) == 3 and data["healthy"] is True
    assert sum(m["leader"] for m in data["members"]) == 1
    assert all(len(m["id"]) > 0 and m["db_size"] > 0 for m in data["members"])


def test_status_json_into_a_closed_pipe_is_a_quiet_exit(plain_lab: LabInfo) -> None:
    """`etcdtui status -w json | head -1` once head has gone: no BrokenPipeError traceback."""
    reader, writer = os.pipe()
    os.close(reader)  # every write to the pipe now fails with EPIPE
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    try:
        result = subprocess.run(
            [ETCDTUI, "status", "-w", "json", "--endpoints", ",".join(plain_lab.endpoints)],
            stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60, check=False, env=clean,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""


def test_etcdctl_variables_work_as_defaults(tls_lab: LabInfo) -> None:
    result = run("status", env=tls_lab.etcdctl_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "healthy" in result.stdout


def test_status_exits_1_when_a_member_is_down(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    os.kill(info.pid(follower(info)), signal.SIGKILL)
    result = run("status", "--config", str(info.config_path))
    assert result.returncode == 1
    assert "connection refused" in result.stdout
    assert "UNHEALTHY" in result.stdout and "1 down now" in result.stdout


def test_wrong_ca_ends_in_one_clear_line_per_member(tls_lab: LabInfo) -> None:
    env = tls_lab.etcdctl_env()
    env["ETCDCTL_CACERT"] = env["ETCDCTL_CERT"]  # a certificate that is not the CA
    result = run("status", env=env)
    assert result.returncode == 1
    assert "certificate verify failed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_unreachable_cluster_exits_1_without_traceback() -> None:
    result = run("status", "--endpoints", "127.0.0.1:1", "--timeout", "0.5")
    assert result.returncode == 1
    assert "connection refused" in result.stdout
    assert "unreachable" in result.stdout
    assert "Traceback" not in result.stderr


def test_malformed_config_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "etcdtui.toml"
    config.write_text('[clusters.prod]\nendpoints = ["https://10.0.0.1:2379"]\ntimeout = "x"\n')
    result = run("status", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}: clusters.prod.timeout: expected a number" in result.stderr


def test_config_that_is_not_utf8_or_asks_for_ssh_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[clusters.a]")
    result = run("status", "--config", str(binary))
    assert result.returncode == 2 and "not UTF-8" in result.stderr
    ssh = tmp_path / "ssh.toml"
    ssh.write_text('[clusters.a]\nendpoints = ["https://127.0.0.1:2379"]\nvia = "ssh"\n')
    result = run("status", "--config", str(ssh))
    assert result.returncode == 2 and "clusters.a.via" in result.stderr
