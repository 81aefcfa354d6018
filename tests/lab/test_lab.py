"""The lab against real etcd, sshd and ssh processes: no mocks.

Two labs live for the whole module (3.5 plain and 3.4 TLS, each with a spare) for the tests
that leave them running; the tests that take a lab down start their own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from etcdtui.config import load_connection
from etcdtui.errors import LabError, UsageError
from etcdtui.lab import (
    LabInfo,
    LabUsageError,
    env_file_text,
    etcd_binaries,
    lab_down,
    lab_up,
    load_lab,
    member_env,
    member_healthy,
    process_alive,
)
from etcdtui.lab.probe import ssl_context

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = [pytest.mark.xdist_group("test_lab"), pytest.mark.slow]


def _ssh(
    info: LabInfo, node: str, command: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run `command` on a lab node through its sshd, as the runbooks will."""
    ssh_dir = info.dir / "ssh"
    options = {
        "UserKnownHostsFile": str(ssh_dir / "known_hosts"),
        "StrictHostKeyChecking": "yes",
        "BatchMode": "yes",
        "ConnectTimeout": "5",
    }
    argv = ["ssh", "-i", str(ssh_dir / "id_ed25519"), "-p", str(info.node(node).ssh_port)]
    argv += [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]
    return subprocess.run(
        [*argv, "127.0.0.1", command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _etcdctl(info: LabInfo, *args: str, endpoints: list[str] | None = None) -> str:
    env = {**os.environ, **info.etcdctl_env()}
    if endpoints:
        env["ETCDCTL_ENDPOINTS"] = ",".join(endpoints)
    proc = subprocess.run(
        [info.etcdctl, "--command-timeout=5s", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _healthy(info: LabInfo, url: str) -> bool:
    return member_healthy(url, ssl_context(info.cacert, info.cert, info.key))


def _wait_until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


def _all_pids(info: LabInfo) -> list[int]:
    """Every etcd and sshd pid of the lab, from its pid files and lab.json."""
    pids = [pid for node in info.nodes if (pid := info.pid(node.name)) is not None]
    state = json.loads((info.dir / "lab.json").read_text())
    pids += [n["sshd_pid"] for n in state["nodes"]]
    return pids


def _processes_under(folder: Path) -> list[int]:
    """Live processes whose command line or environment mentions `folder` (sshd and etcd do)."""
    mark = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if mark in text and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def spare_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    info = lab_up(tmp_path_factory.mktemp("plain") / "lab", spares=1, etcd_version="3.5")
    yield info
    if (info.dir / "lab.json").exists():
        lab_down(info.dir)


@pytest.fixture(scope="module")
def tls_spare_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    info = lab_up(tmp_path_factory.mktemp("tls") / "lab", spares=1, tls=True, etcd_version="3.4")
    yield info
    if (info.dir / "lab.json").exists():
        lab_down(info.dir)


@pytest.mark.parametrize("members", [1, 2, 4, 6])
def test_refuses_a_member_count_other_than_3_or_5(tmp_path: Path, members: int) -> None:
    with pytest.raises(LabUsageError) as caught:
        lab_up(tmp_path / "lab", members=members)
    assert isinstance(caught.value, UsageError)  # the CLI exits 2 on it
    assert "\n" not in str(caught.value) and str(members) in str(caught.value)
    assert not (tmp_path / "lab").exists()


def test_refuses_an_unknown_etcd_version(tmp_path: Path) -> None:
    with pytest.raises(LabUsageError, match=r"3\.4 or 3\.5"):
        lab_up(tmp_path / "lab", etcd_version="3.6")
    assert etcd_binaries("3.4")[2] is None  # 3.4 has no etcdutl
    assert all(Path(p).is_file() for p in etcd_binaries("3.5") if p)


def test_refuses_a_folder_whose_path_a_shell_would_split(tmp_path: Path) -> None:
    with pytest.raises(LabUsageError, match="spaces"):
        lab_up(tmp_path / "my lab")
    assert not (tmp_path / "my lab").exists()


def test_lab_down_on_a_folder_without_a_lab_refuses(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no lab in"):
        lab_down(tmp_path)
    (tmp_path / "lab.json").write_text('{"something": "else"}')
    with pytest.raises(LabError, match="not written by etcdtui"):
        lab_down(tmp_path)
    assert (tmp_path / "lab.json").exists()


@pytest.mark.parametrize(
    ("version", "tls", "members"),
    [("3.4", False, 3), ("3.4", True, 5), ("3.5", False, 5), ("3.5", True, 3)],
)
def test_up_serves_writes_config_and_down_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory, version: str, tls: bool, members: int
) -> None:
    folder = tmp_path_factory.mktemp("updown") / "lab"
    progress: list[str] = []
    info = lab_up(
        folder, members=members, tls=tls, etcd_version=version, on_progress=progress.append
    )
    try:
        assert [n.name for n in info.members()] == [f"node{i}" for i in range(1, members + 1)]
        assert progress and progress[-1].startswith("lab is up")
        assert all(_healthy(info, url) for url in info.endpoints)
        status = json.loads(_etcdctl(info, "endpoint", "status", "-w", "json"))
        assert {s["Status"]["version"] for s in status} == {
            "3.4.23" if version == "3.4" else "3.5.1"
        }
        _etcdctl(info, "put", "/lab/probe", "hello")
        assert _etcdctl(info, "get", "--print-value-only", "/lab/probe").strip() == "hello"
        conn = load_connection(info.config_path, "lab")
        assert conn.endpoints == info.endpoints
        assert conn.tls.enabled is tls
        if tls:
            assert all(url.startswith("https://") for url in info.endpoints)
            keys = list((folder / "pki").glob("*.key"))
            assert keys and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
            # Client cert auth is on: the CA alone does not get an answer.
            assert not member_healthy(info.endpoints[0], ssl_context(info.cacert, None, None))
        assert load_lab(folder) == info
        pids = _all_pids(info)
        assert len(pids) == 2 * members and all(process_alive(pid) for pid in pids)
    finally:
        lines = lab_down(folder)
    assert any("removed" in line for line in lines)
    assert not [pid for pid in pids if process_alive(pid)]
    assert not _processes_under(folder)
    assert not folder.exists()
    with pytest.raises(LabError, match="no lab"):
        lab_down(folder)


def test_config_describes_every_node_and_points_at_live_endpoints(spare_lab: LabInfo) -> None:
    conn = load_connection(spare_lab.config_path, "lab")
    assert [n.name for n in conn.nodes] == ["node1", "node2", "node3", "spare1"]
    assert all(_healthy(spare_lab, url) for url in conn.endpoints)
    for node in conn.nodes:
        lab_node = spare_lab.node(node.name)
        assert node.ssh.port == lab_node.ssh_port and node.ssh.host == "127.0.0.1"
        assert node.ssh.host_key_policy == "strict"
        assert node.ssh.identity_file and Path(node.ssh.identity_file).is_file()
        assert node.profile == "lab" and not node.sudo
        assert conn.profile_command(node, "stop") == f"{lab_node.service} stop"
        assert node.peer_urls == (lab_node.peer_url,)
        assert node.data_dir == lab_node.data_dir
    assert [n.member for n in conn.nodes] == ["node1", "node2", "node3", ""]
    known = (spare_lab.dir / "ssh" / "known_hosts").read_text().splitlines()
    assert sorted(line.split()[0] for line in known) == sorted(
        f"[127.0.0.1]:{n.ssh_port}" for n in spare_lab.nodes
    )
    env_text = Path(spare_lab.node("node1").env_file).read_text()
    assert "ETCD_NAME=node1" in env_text and "ETCD_INITIAL_CLUSTER_STATE=new" in env_text
    assert "LAB_ETCD_BIN" not in env_text  # etcd warns about ETCD_* names it does not know


def test_service_script_over_ssh_and_etcd_outlives_the_session(spare_lab: LabInfo) -> None:
    node = spare_lab.node("node2")
    active = _ssh(spare_lab, "node2", f"{node.service} is-active")
    assert (active.returncode, active.stdout.strip()) == (0, "active"), active.stderr
    old_pid = spare_lab.pid("node2")
    assert old_pid is not None

    stopped = _ssh(spare_lab, "node2", f"{node.service} stop")
    assert stopped.returncode == 0, stopped.stderr
    assert spare_lab.pid("node2") is None and not process_alive(old_pid)
    inactive = _ssh(spare_lab, "node2", f"{node.service} is-active")
    assert (inactive.returncode, inactive.stdout.strip()) == (3, "inactive")
    others = [n.client_url for n in spare_lab.members() if n.name != "node2"]
    _etcdctl(spare_lab, "put", "/lab/while-node2-is-down", "1", endpoints=others)

    began = time.monotonic()
    started = _ssh(spare_lab, "node2", f"{node.service} start")
    assert started.returncode == 0, started.stderr
    assert time.monotonic() - began < 10  # the SSH session ended: etcd did not hold it open
    time.sleep(1)  # give a SIGHUP from the session's end time to arrive
    new_pid = spare_lab.pid("node2")
    assert new_pid is not None and new_pid != old_pid and process_alive(new_pid)
    fields = Path(f"/proc/{new_pid}/stat").read_text().rsplit(")", 1)[1].split()
    assert int(fields[3]) == new_pid  # its own session: the SSH login's end cannot reach it
    assert _wait_until(lambda: _healthy(spare_lab, node.client_url))

    again = _ssh(spare_lab, "node2", f"{node.service} start")
    assert again.returncode == 0 and spare_lab.pid("node2") == new_pid  # start when running: no-op


def test_stop_resumes_a_frozen_member_first(spare_lab: LabInfo) -> None:
    node = spare_lab.node("node3")
    pid = spare_lab.pid("node3")
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    began = time.monotonic()
    stop = subprocess.run([node.service, "stop"], capture_output=True, text=True, timeout=30)
    assert stop.returncode == 0, stop.stderr
    assert time.monotonic() - began < 10 and not process_alive(pid)
    start = subprocess.run([node.service, "restart"], capture_output=True, text=True, timeout=30)
    assert start.returncode == 0, start.stderr
    assert _wait_until(lambda: _healthy(spare_lab, node.client_url))


def test_a_spare_runs_sshd_but_no_etcd(spare_lab: LabInfo) -> None:
    spare = spare_lab.node("spare1")
    assert not spare.member and spare not in spare_lab.members()
    assert spare.client_url not in spare_lab.endpoints
    login = _ssh(spare_lab, "spare1", "echo logged-in")
    assert login.stdout.strip() == "logged-in", login.stderr
    inactive = _ssh(spare_lab, "spare1", f"{spare.service} is-active")
    assert (inactive.returncode, inactive.stdout.strip()) == (3, "inactive")
    start = _ssh(spare_lab, "spare1", f"{spare.service} start")
    assert start.returncode != 0 and "no member configuration" in start.stderr
    assert spare_lab.pid("spare1") is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", _port(spare.client_url)), timeout=1).close()
    members = json.loads(_etcdctl(spare_lab, "member", "list", "-w", "json"))["members"]
    assert spare.peer_url not in {url for m in members for url in m["peerURLs"]}


def test_a_node_session_skips_the_accounts_bashrc(spare_lab: LabInfo) -> None:
    # Bash runs ~/.bashrc for a command sshd starts unless it is nested (SHLVL above 1):
    # this machine's own rc files (pyenv, cargo) are not a node's.
    session = _ssh(spare_lab, "node1", 'echo "$SHLVL $PATH"')
    level, path = session.stdout.split(maxsplit=1)
    assert int(level) >= 2, session.stdout
    assert ".pyenv" not in path and ".cargo" not in path


def test_lab_up_refuses_a_folder_with_a_running_lab(spare_lab: LabInfo) -> None:
    with pytest.raises(LabError, match=r"a lab is already running in .*lab down --dir"):
        lab_up(spare_lab.dir)
    assert all(_healthy(spare_lab, url) for url in spare_lab.endpoints)


def test_two_labs_run_side_by_side(spare_lab: LabInfo, tls_spare_lab: LabInfo) -> None:
    def ports(info: LabInfo) -> set[int]:
        return {p for n in info.nodes for p in (n.ssh_port, _port(n.client_url), _port(n.peer_url))}

    assert not ports(spare_lab) & ports(tls_spare_lab)
    assert len(ports(spare_lab)) == 3 * len(spare_lab.nodes)
    assert all(_healthy(spare_lab, url) for url in spare_lab.endpoints)
    assert all(_healthy(tls_spare_lab, url) for url in tls_spare_lab.endpoints)
    ids = {
        json.loads(_etcdctl(info, "member", "list", "-w", "json"))["header"]["cluster_id"]
        for info in (spare_lab, tls_spare_lab)
    }
    assert len(ids) == 2


def test_a_failed_lab_up_stops_what_it_started(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    seen: list[int] = []

    def fail_at_etcd(line: str) -> None:
        if line.startswith("starting etcd"):
            seen.extend(int(p.read_text()) for p in folder.glob("nodes/*/sshd/sshd.pid"))
            raise RuntimeError("interrupted on purpose")

    with pytest.raises(RuntimeError, match="on purpose"):
        lab_up(folder, spares=1, on_progress=fail_at_etcd)
    assert len(seen) == 4
    assert not [pid for pid in seen if process_alive(pid)]
    assert not folder.exists()


def test_a_member_that_cannot_start_fails_lab_up_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "lab"

    def break_node1(line: str) -> None:
        if line.startswith("starting etcd"):
            env = folder / "nodes" / "node1" / "etcd.env"
            env.write_text(env.read_text() + "ETCD_QUOTA_BACKEND_BYTES=lots\n")

    with pytest.raises(LabError) as caught:
        lab_up(folder, etcd_version="3.4", on_progress=break_node1)
    message = str(caught.value)
    assert "\n" not in message and "etcd did not start on node1: " in message
    assert "ETCD_QUOTA_BACKEND_BYTES" in message  # the reason, from the member's log
    assert not _processes_under(folder)
    assert not folder.exists()


def test_an_existing_folder_keeps_its_files_and_a_stopped_lab_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    first = lab_up(tmp_path, etcd_version="3.5")
    # A crash or reboot: every process gone without lab down.
    for pid in _all_pids(first):
        os.kill(pid, signal.SIGKILL)
    assert _wait_until(lambda: not _processes_under(tmp_path))
    second = lab_up(tmp_path, etcd_version="3.5")
    assert second.endpoints != first.endpoints
    assert all(_healthy(second, url) for url in second.endpoints)
    lab_down(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert not _processes_under(tmp_path)
    (tmp_path / "ssh").mkdir()
    with pytest.raises(LabUsageError, match="already holds ssh"):
        lab_up(tmp_path)


def test_quota_reaches_nospace(tmp_path: Path) -> None:
    info = lab_up(tmp_path / "lab", etcd_version="3.5", quota_bytes=256 * 1024)
    try:
        assert "ETCD_QUOTA_BACKEND_BYTES=262144\n" in Path(info.nodes[0].env_file).read_text()
        env = {**os.environ, **info.etcdctl_env()}
        value = "x" * 100_000
        errors = ""
        for i in range(20):
            proc = subprocess.run(
                [info.etcdctl, "put", f"/big/{i}"],
                input=value,
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if proc.returncode != 0:
                errors = proc.stderr
                break
        assert "database space exceeded" in errors
    finally:
        lab_down(info.dir)


def test_lab_down_stops_a_member_added_later_on_a_spare(tls_spare_lab: LabInfo) -> None:
    """The runbook path: member add, write the spare's env file over SSH, start it over SSH."""
    spare = tls_spare_lab.node("spare1")
    # etcd refuses member add ("unhealthy cluster") until every member has been connected for
    # 5 s, so right after lab up this takes a few tries, as a runbook's would.
    added = ""
    deadline = time.monotonic() + 15
    while not added:
        try:
            added = _etcdctl(
                tls_spare_lab, "member", "add", "spare1", f"--peer-urls={spare.peer_url}"
            )
        except AssertionError as exc:
            if "unhealthy cluster" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    initial = next(
        line.split("=", 1)[1].strip('"')
        for line in added.splitlines()
        if line.startswith("ETCD_INITIAL_CLUSTER=")
    )
    env = member_env(
        "spare1",
        spare.data_dir,
        spare.client_url,
        spare.peer_url,
        initial,
        "existing",
        tls_spare_lab.token,
        tls_spare_lab.node_tls("spare1"),
        tls_spare_lab.quota_bytes,
    )
    wrote = _ssh(tls_spare_lab, "spare1", f"cat > {spare.env_file}", stdin=env_file_text(env))
    assert wrote.returncode == 0, wrote.stderr
    started = _ssh(tls_spare_lab, "spare1", f"{spare.service} start")
    assert started.returncode == 0, started.stderr
    assert _wait_until(lambda: _healthy(tls_spare_lab, spare.client_url), timeout=30)
    members = json.loads(_etcdctl(tls_spare_lab, "member", "list", "-w", "json"))["members"]
    assert len(members) == 4
    pids = _all_pids(tls_spare_lab)
    spare_pid = tls_spare_lab.pid("spare1")
    assert spare_pid in pids and len(pids) == 8

    lines = lab_down(tls_spare_lab.dir)
    assert f"stopped etcd on spare1 (pid {spare_pid})" in lines
    assert not [pid for pid in pids if process_alive(pid)]
    assert not tls_spare_lab.dir.exists()
