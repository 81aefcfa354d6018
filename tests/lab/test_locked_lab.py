"""A locked-down cluster (`lab up --netns --tls`): etcd answers only through SSH.

Every test here would fail if etcdtui quietly connected directly: from the host, nothing
listens on the members' client URLs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

from textual.widgets import DataTable, Static

from etcdtui.clients.private_dirs import PREFIX, private_base
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import dump_toml, load_connection
from etcdtui.lab import LabInfo
from etcdtui.lab.procs import read_pid
from etcdtui.lab.sshd import start_sshd, stop_pid
from etcdtui.lab.state import sshd_dir
from etcdtui.ui.app import EtcdtuiApp
from tests.helpers.labs import connection_of
from tests.helpers.slow_door import SlowDoor, slow_doors

ETCDTUI = [sys.executable, "-m", "etcdtui"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ETCDTUI, *args], capture_output=True, text=True, timeout=timeout)


def test_direct_connection_fails_and_status_works_through_ssh(locked_lab: LabInfo) -> None:
    assert locked_lab.cacert and locked_lab.cert and locked_lab.key
    direct = run("status", "--endpoints", ",".join(locked_lab.endpoints),
                 "--cacert", locked_lab.cacert, "--cert", locked_lab.cert,
                 "--key", locked_lab.key, "--timeout", "1")  # fmt: skip
    assert direct.returncode == 1
    assert "unreachable" in direct.stdout
    through = run("status", "--config", str(locked_lab.config_path), "-w", "json")
    assert through.returncode == 0, through.stdout + through.stderr
    data = json.loads(through.stdout)
    assert data["via"] == "ssh" and data["healthy"] is True
    assert sorted(m["endpoint"] for m in data["members"]) == sorted(locked_lab.endpoints)
    assert all(m["db_size"] > 0 and m["quota_bytes"] for m in data["members"])


async def test_dashboard_shows_the_locked_cluster_with_a_via_ssh_badge(
    locked_lab: LabInfo,
) -> None:
    app = EtcdtuiApp(connection_of(locked_lab), refresh=60)
    async with app.run_test(size=(120, 30)) as pilot:
        while app.polls < 1:  # the first refresh connects to every node first
            await pilot.pause(0.1)
        await pilot.pause()
        table = app.query_one("#members", DataTable)
        states = sorted(str(table.get_row(key)[2]) for key in table.rows)
        assert states == ["healthy"] * 3
        summary = str(app.query_one("#summary", Static).render())
        assert summary.startswith("HEALTHY") and "via ssh" in summary
        assert "via ssh" in app.sub_title


def test_certificates_from_a_node_work_and_leave_nothing_behind(
    locked_lab: LabInfo, tmp_path: Path
) -> None:
    data = tomllib.loads(locked_lab.config_path.read_text())
    data["clusters"]["lab"]["certs_on_node"] = "node2"
    config = tmp_path / "certs.toml"
    config.write_text(dump_toml(data))
    before = set(private_base().glob(f"{PREFIX}*"))
    result = run("status", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(via ssh): healthy" in result.stdout
    assert set(private_base().glob(f"{PREFIX}*")) <= before
    # In-process too: the copies exist while connected, and go with close().
    client = open_cluster(load_connection(config, "lab"))
    try:
        assert client.read(metrics=False).healthy
        made = set(private_base().glob(f"{PREFIX}{os.getpid()}-*"))
        assert len(made) == 1
    finally:
        client.close()
    assert not any(p.exists() for p in made)


def _behind_slow_doors(info: LabInfo, folder: Path, doors: dict[str, SlowDoor]) -> Path:
    """`info`'s config with each node's SSH reached through its door (and its host key
    known at the door's address)."""
    data = tomllib.loads(info.config_path.read_text())
    keys = dict(
        line.split(" ", 1) for line in Path(info.dir / "ssh/known_hosts").read_text().splitlines()
    )
    known = folder / "known_hosts"
    lines = []
    for name, node in data["clusters"]["lab"]["nodes"].items():
        ssh = node["ssh"]
        host_key = keys[ssh["host"] if ssh["port"] == 22 else f"[{ssh['host']}]:{ssh['port']}"]
        ssh |= {"host": "127.0.0.1", "port": doors[name].port, "known_hosts": str(known)}
        lines.append(f"[127.0.0.1]:{doors[name].port} {host_key}")
    known.write_text("\n".join(lines) + "\n")
    config = folder / "slow.toml"
    config.write_text(dump_toml(data))
    return config


def test_slow_ssh_handshakes_do_not_eat_the_members_timeout(
    locked_lab: LabInfo, tmp_path: Path
) -> None:
    """Every node greets 1.5 s late and etcd's timeout is 1 s: the SSH connections open under
    their own (5 s) timeout first, and the members are then read within theirs."""
    targets = {n.name: (n.address, n.ssh_port) for n in locked_lab.nodes}
    with slow_doors(targets, delay=1.5) as doors:
        config = _behind_slow_doors(locked_lab, tmp_path, doors)
        result = run("status", "--config", str(config), "--timeout", "1")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "(via ssh): healthy" in result.stdout
        assert all(door.accepted >= 1 for door in doors.values())


def test_a_node_that_cannot_be_reached_fails_its_member_at_once_then_is_tried_again(
    locked_lab: LabInfo, tmp_path: Path
) -> None:
    targets = {n.name: (n.address, n.ssh_port) for n in locked_lab.nodes}
    with slow_doors(targets, delay=0) as doors:
        config = _behind_slow_doors(locked_lab, tmp_path, doors)
        doors["node1"].refusing = True
        client = open_cluster(load_connection(config, "lab"))
        try:
            view = client.read(metrics=False)
            states = {m.name or m.endpoint: m.reachable for m in view.members}
            down = next(m for m in view.members if not m.reachable)
            assert sorted(states.values()) == [False, True, True], states
            assert "node1" in down.error and "timed out" not in down.error, down.error
            doors["node1"].refusing = False
            # The failure holds for that refresh only: a later call tries the node again.
            time.sleep(client.connection.timeout + 1.5)
            assert client.client(down.endpoint).status().version
        finally:
            client.close()


def test_client_cert_auth_is_probed_through_the_tunnels(locked_lab: LabInfo) -> None:
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.clients.via_ssh import client_without_certificate
    from etcdtui.services.kube.report import probe_without_certificate

    connection = connection_of(locked_lab)
    cluster = open_cluster(connection, ShellPool(connection.nodes))
    try:
        probe = probe_without_certificate(lambda e: client_without_certificate(cluster, e))
        # Through each member's own SSH tunnel: a direct attempt would time out instead.
        assert [probe(e) for e in locked_lab.endpoints] == ["refused"] * 3
    finally:
        cluster.close()


def test_defrag_runs_through_ssh_and_a_node_without_forwarding_falls_back(make_lab) -> None:  # type: ignore[no-untyped-def]
    info: LabInfo = make_lab(tls=True, netns=True)
    audit = str(info.dir / "audit.log")
    defrag = run("defrag", "--config", str(info.config_path), "--yes", "--wait", "0",
                 "--audit-log", audit)  # fmt: skip
    assert defrag.returncode == 0, defrag.stdout + defrag.stderr
    assert defrag.stdout.count("ok in") >= 3
    before = json.loads(run("status", "--config", str(info.config_path), "-w", "json").stdout)

    # node3's sshd now refuses TCP forwarding (same host key, same address, same port).
    node3 = info.node("node3")
    folder = sshd_dir(info.dir, "node3")
    pid = read_pid(folder / "sshd.pid")
    assert pid is not None
    stop_pid(pid)
    start_sshd(folder, 22, info.dir / "ssh" / "authorized_keys", host=node3.address,
               netns=node3.netns, forwarding=False)  # fmt: skip

    # The first read finds out that node3 refuses forwarding, then starts etcdctl on it:
    # more than the lab's 2 s on a loaded machine, so this status gets a longer timeout.
    after = run("status", "--config", str(info.config_path), "-w", "json", "--timeout", "6")
    assert after.returncode == 0, after.stdout + after.stderr
    data = json.loads(after.stdout)
    assert any("node3" in note and "etcdctl" in note for note in data["notes"]), data["notes"]
    same = ("name", "id", "endpoint", "healthy", "leader", "learner", "version")
    assert [{k: m[k] for k in same} for m in data["members"]] == [
        {k: m[k] for k in same} for m in before["members"]
    ]
    table = run("status", "--config", str(info.config_path))
    assert "note: node3: the SSH server refuses port forwarding" in table.stdout
    # A runbook step on node3 takes the same route (a new process: it finds the refusal again,
    # so its reads get the same longer timeout).
    again = run("defrag", "--config", str(info.config_path), "--yes", "--wait", "0",
                "--timeout", "6", "--audit-log", audit)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr

    # A frozen member behind a tunnel costs one timeout, and is shown as unreachable.
    victim = info.pid("node2")
    assert victim is not None
    os.kill(victim, signal.SIGSTOP)
    try:
        client = open_cluster(replace(load_connection(info.config_path, "lab"), timeout=1.0))
        try:
            client.read(metrics=False)  # connects to every node first
            view = client.read()
        finally:
            client.close()
    finally:
        os.kill(victim, signal.SIGCONT)
    by_name = {m.name: m for m in view.members}
    assert not by_name["node2"].reachable and "timed out" in by_name["node2"].problem
    assert view.duration < 2 * 1.0  # one timeout, not one after another
    assert by_name["node1"].reachable
