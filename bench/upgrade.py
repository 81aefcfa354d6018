"""`etcdtui upgrade` against a hand-run of the same steps, each on a fresh 3-member 3.4 lab.

    .venv/bin/python bench/upgrade.py [--runs 3]

The runbook: `etcdtui upgrade --to 3.5 --yes` (snapshot first, followers first, leader last).
The hand-run: `etcdctl snapshot save`, then per member (same order) the node's service script
stop, LAB_ETCD_BIN switched in lab.env, start, and `etcdctl endpoint status` polled until the
member answers on 3.5.1. Prints the medians of the total, the time per member and the longest
stretch with one member down, and the runbook's overhead (target: under 20 %).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.lab import LabInfo, lab_down, lab_up
from etcdtui.lab.binaries import etcd_binaries
from tests.helpers.upgrade import audit_rows, point_at_new_etcd, put_keys, upgrade_argv

Figures = tuple[float, float, float]  # total, per member (mean), longest stretch one down


def _when(row: dict[str, object]) -> float:
    return datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00")).timestamp()


def runbook(info: LabInfo, work: Path) -> Figures:
    audit = work / "audit.log"
    started = time.monotonic()
    subprocess.run(upgrade_argv(info, audit, "--to", "3.5", "--yes"), check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    total = time.monotonic() - started
    rows = [r for r in audit_rows(audit) if r["runbook"] == "upgrade"]
    down = []
    for m in info.members():
        stop = next(_when(r) for r in rows if r["step_id"] == f"stop-{m.name}")
        up = next(_when(r) for r in rows if r["step_id"] == f"wait-{m.name}" and r["ok"])
        down.append(up - stop)
    return total, statistics.mean(down), max(down)


def _etcdctl(info: LabInfo, *args: str) -> str:
    env = {**os.environ, **info.etcdctl_env()}
    if "--endpoints" in args:  # etcdctl refuses a flag and its variable together
        env.pop("ETCDCTL_ENDPOINTS")
    return subprocess.run([info.etcdctl, *args], env=env, capture_output=True, text=True,
                          timeout=30, check=True).stdout  # fmt: skip


def hand_run(info: LabInfo, work: Path) -> Figures:
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
        while True:
            try:
                out = _etcdctl(info, "--endpoints", m.client_url, "endpoint", "status", "-w",
                               "json")  # fmt: skip
                if json.loads(out)[0]["Status"]["version"] == "3.5.1":
                    break
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.1)
        down.append(time.monotonic() - began)
    return time.monotonic() - started, statistics.mean(down), max(down)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[Figures]] = {"etcdtui upgrade": [], "hand-run (etcdctl)": []}
    for _ in range(args.runs):
        for name, run in (("etcdtui upgrade", runbook), ("hand-run (etcdctl)", hand_run)):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                info = lab_up(work / "lab", etcd_version="3.4")
                try:
                    point_at_new_etcd(info, work / "snapshots")
                    put_keys(info, 200)
                    results[name].append(run(info, work))
                finally:
                    lab_down(info.dir)
    medians = {k: tuple(statistics.median(f[i] for f in v) for i in range(3))
               for k, v in results.items()}  # fmt: skip
    print(f"{'(median of ' + str(args.runs) + ')':24} {'total':>8} {'per member':>11} "
          f"{'one down':>9}")  # fmt: skip
    for name, (total, per, down) in medians.items():
        print(f"{name:24} {total:7.1f}s {per:10.1f}s {down:8.1f}s")
    ours, theirs = medians["etcdtui upgrade"][0], medians["hand-run (etcdctl)"][0]
    print(f"overhead: {100 * (ours / theirs - 1):+.0f} % (target: under 20 %)")


if __name__ == "__main__":
    main()
