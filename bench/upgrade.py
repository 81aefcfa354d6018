"""`etcdtui upgrade` against a hand-run of the same steps, each on a fresh 3-member 3.4 lab.

    .venv/bin/python bench/upgrade.py [--runs 3]

The runbook: `etcdtui upgrade --to 3.5 --yes` (read-only checks, a verified snapshot, then
followers first and the leader last, each waited for and the cluster re-checked, then the
verification), timed from the process start.

The hand-run does the same steps with etcdctl, curl and OpenSSH (one multiplexed connection per
node, as an operator's ssh ControlMaster would): the checks (endpoint health and status, alarm
list; on each node the new etcd's --version, its lab.env and df), `etcdctl snapshot save` and
`snapshot status`, then per member over SSH the node's own stop, switch (the profile's
`upgrade` command, word for word) and start, `endpoint status` polled until the member answers
on 3.5.1, `endpoint health` of the whole cluster; at the end /version polled until the cluster
version is 3.5, and the key count. The bare hand-run (the first version of this bench) runs the
service scripts locally with no check at all; it is printed for scale.

Prints the figures of each run and their medians side by side: the total, the time per member
(stop until it answers on the new version) and the longest stretch with one member down, and
the runbook's overhead over the same-steps hand-run (target: under 20 %).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.lab import LabInfo, LabNode, lab_down, lab_up
from etcdtui.lab.binaries import etcd_binaries
from tests.helpers.labs import connection_of
from tests.helpers.upgrade import RUN_CLI, audit_rows, point_at_new_etcd, put_keys, upgrade_argv

Figures = tuple[float, float, float]  # total, per member (mean), longest stretch one down
NEW = "3.5.1"
POLL = 0.1


def _when(row: dict[str, object]) -> float:
    return datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00")).timestamp()


def installed_env(cache: Path) -> dict[str, str]:
    """The environment of an installed etcdtui: its bytecode compiled once and kept (here in
    `cache`, out of the source tree), not compiled afresh by every run."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def runbook(info: LabInfo, work: Path) -> Figures:
    audit = work / "audit.log"
    env = installed_env(work.parent / "pycache")
    started = time.monotonic()
    done = subprocess.run(upgrade_argv(info, audit, "--to", "3.5", "--yes"), env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"etcdtui upgrade failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    total = time.monotonic() - started
    rows = [r for r in audit_rows(audit) if r["runbook"] == "upgrade"]
    down = []
    for m in info.members():
        stop = next(_when(r) for r in rows if r["step_id"] == f"stop-{m.name}")
        up = next(_when(r) for r in rows if r["step_id"] == f"wait-{m.name}" and r["ok"])
        down.append(up - stop)
    return total, statistics.mean(down), max(down)


def _etcdctl(info: LabInfo, *args: str, check: bool = True) -> str:
    env = {**os.environ, **info.etcdctl_env()}
    if "--endpoints" in args:  # etcdctl refuses a flag and its variable together
        env.pop("ETCDCTL_ENDPOINTS")
    return subprocess.run([info.etcdctl, *args], env=env, capture_output=True, text=True,
                          timeout=30, check=check).stdout  # fmt: skip


class Ssh:
    """OpenSSH to the lab's nodes, one multiplexed connection per node (ControlMaster)."""

    def __init__(self, info: LabInfo, work: Path) -> None:
        self.info = info
        self.control = work / "ssh-%C"

    def run(self, node: LabNode, command: str) -> str:
        ssh_dir = self.info.dir / "ssh"
        argv = ["ssh", "-q", "-o", "BatchMode=yes", "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self.control}", "-o", "ControlPersist=120",
                "-o", f"UserKnownHostsFile={ssh_dir / 'known_hosts'}",
                "-o", "StrictHostKeyChecking=yes", "-i", str(ssh_dir / "id_ed25519"),
                "-p", str(node.ssh_port), f"root@{node.address}", command]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              check=True).stdout  # fmt: skip

    def close(self) -> None:
        for node in self.info.members():
            subprocess.run(["ssh", "-o", f"ControlPath={self.control}", "-O", "exit",
                            "-p", str(node.ssh_port), f"root@{node.address}"],
                           capture_output=True, timeout=10, check=False)  # fmt: skip


def _status(info: LabInfo, endpoint: str) -> dict[str, object]:
    out = _etcdctl(info, "--endpoints", endpoint, "endpoint", "status", "-w", "json",
                   check=False)  # fmt: skip
    try:
        status: dict[str, object] = json.loads(out)[0]["Status"]
    except (ValueError, LookupError):
        return {}
    return status


def _cluster_version(info: LabInfo) -> str:
    args = ["curl", "-fsS", "--max-time", "2", f"{info.endpoints[0]}/version"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False).stdout
    try:
        return str(json.loads(out)["etcdcluster"])
    except (ValueError, LookupError):
        return ""


def hand_run(info: LabInfo, work: Path) -> Figures:
    """The runbook's steps by hand: etcdctl, curl, and the profile's commands over ssh."""
    new = etcd_binaries("3.5")[0]
    connection = connection_of(info)
    nodes = {n.member_name: n for n in connection.nodes}
    ssh = Ssh(info, work)
    started = time.monotonic()
    try:
        _etcdctl(info, "endpoint", "health")
        status = json.loads(_etcdctl(info, "endpoint", "status", "-w", "json"))
        _etcdctl(info, "alarm", "list")
        for m in info.members():
            for action in ("upgrade_check", "upgrade_flags"):
                ssh.run(m, connection.profile_command(nodes[m.name], action))
            ssh.run(m, f"df -Pk {shlex.quote(m.data_dir)}")
        _etcdctl(info, "--endpoints", info.endpoints[0], "snapshot", "save",
                 str(work / "hand.db"))  # fmt: skip
        _etcdctl(info, "snapshot", "status", str(work / "hand.db"))
        leader = {e["Status"]["leader"] for e in status}
        order = sorted(info.members(), key=lambda m: any(
            e["Status"]["header"]["member_id"] in leader and e["Endpoint"] == m.client_url
            for e in status))  # fmt: skip
        down = []
        for m in order:
            began = time.monotonic()
            for action in ("stop", "upgrade", "start"):
                ssh.run(m, connection.profile_command(nodes[m.name], action))
            while _status(info, m.client_url).get("version") != NEW:
                time.sleep(POLL)
            down.append(time.monotonic() - began)
            _etcdctl(info, "endpoint", "health")
        while not _cluster_version(info).startswith("3.5"):
            time.sleep(POLL)
        _etcdctl(info, "endpoint", "status", "-w", "json")
        _etcdctl(info, "get", "", "--from-key", "--keys-only", "--limit=1", "-w", "json")
    finally:
        ssh.close()
    assert new in (info.dir / "nodes" / order[0].name / "lab.env").read_text()
    return time.monotonic() - started, statistics.mean(down), max(down)


def bare_hand_run(info: LabInfo, work: Path) -> Figures:
    """The first version of the hand-run: service scripts run locally, no check at all."""
    new = etcd_binaries("3.5")[0]
    started = time.monotonic()
    _etcdctl(info, "--endpoints", info.endpoints[0], "snapshot", "save", str(work / "hand.db"))
    status = json.loads(_etcdctl(info, "endpoint", "status", "-w", "json"))
    leader = {e["Status"]["leader"] for e in status}
    order = sorted(info.members(), key=lambda m: any(
        e["Status"]["header"]["member_id"] in leader and e["Endpoint"] == m.client_url
        for e in status))  # fmt: skip
    down = []
    for m in order:
        began = time.monotonic()
        subprocess.run([m.service, "stop"], check=True, timeout=60)
        env_file = m.node_dir / "lab.env"
        lines = [x for x in env_file.read_text().splitlines() if not x.startswith("LAB_ETCD_BIN=")]
        env_file.write_text("\n".join([*lines, f"LAB_ETCD_BIN={new}"]) + "\n")
        subprocess.run([m.service, "start"], check=True, timeout=60)
        while _status(info, m.client_url).get("version") != NEW:
            time.sleep(POLL)
        down.append(time.monotonic() - began)
    return time.monotonic() - started, statistics.mean(down), max(down)


RUNS: dict[str, Callable[[LabInfo, Path], Figures]] = {
    "etcdtui upgrade": runbook,
    "hand-run, same steps": hand_run,
    "bare hand-run": bare_hand_run,
}


def show(name: str, figures: Figures) -> str:
    total, per, down = figures
    return f"{name:24} {total:7.1f}s {per:10.1f}s {down:8.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[Figures]] = {name: [] for name in RUNS}
    bench_dir = Path(tempfile.mkdtemp(prefix="etcdtui-bench-"))
    # What `pip install` does: compile etcdtui's bytecode once, before anything is timed.
    warm_up = [sys.executable, "-c", RUN_CLI, "upgrade", "--help"]
    env = installed_env(bench_dir / "pycache")
    subprocess.run(warm_up, env=env, capture_output=True, check=True, timeout=120)
    for i in range(args.runs):
        for name, run in RUNS.items():
            with tempfile.TemporaryDirectory(dir=bench_dir) as tmp:
                work = Path(tmp)
                info = lab_up(work / "lab", etcd_version="3.4")
                try:
                    point_at_new_etcd(info, work / "snapshots")
                    put_keys(info, 200)
                    results[name].append(run(info, work))
                finally:
                    lab_down(info.dir)
            print(f"run {i + 1}: {show(name, results[name][-1])}", flush=True)
    medians = {k: tuple(statistics.median(f[i] for f in v) for i in range(3))
               for k, v in results.items()}  # fmt: skip
    print(f"\n{'(median of ' + str(args.runs) + ')':24} {'total':>8} {'per member':>11} "
          f"{'one down':>9}")  # fmt: skip
    for name, figures in medians.items():
        print(show(name, figures))  # type: ignore[arg-type]
    shutil.rmtree(bench_dir, ignore_errors=True)
    ours, theirs = medians["etcdtui upgrade"][0], medians["hand-run, same steps"][0]
    bare = medians["bare hand-run"][0]
    print(
        f"overhead over the same steps by hand: {100 * (ours / theirs - 1):+.0f} % "
        f"(target: under 20 %); over the bare hand-run: {100 * (ours / bare - 1):+.0f} %"
    )


if __name__ == "__main__":
    main()
