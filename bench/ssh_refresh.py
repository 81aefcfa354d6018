"""A full status refresh through SSH (a --netns lab) against the direct one (a plain lab).

    .venv/bin/python bench/ssh_refresh.py [--runs N] [--members 3|5] [--tls]   # root only

Both labs run at once, so both figures come from the same run. Prints medians (this machine
is noisy): etcdctl endpoint status --cluster on the plain lab as a process; etcdtui's full
refresh (status, member list, alarms, a linearizable read per member) directly on the plain
lab and through SSH on the netns lab, where no client port is reachable from here; the same
with /metrics; and what the first refresh costs (one SSH connection per node), with the
number of SSH connections still open after all the refreshes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from poll import timed  # bench/poll.py, beside this script

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import load_connection
from etcdtui.lab import lab_down, lab_up


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def line(label: str, values: list[float]) -> str:
    return f"  {label:<52} median {median_ms(values):7.1f} ms   max {max(values) * 1000:7.1f} ms"


def healthy(client: ClusterClient, metrics: bool = False) -> None:
    view = client.read(metrics=metrics)
    if not view.healthy:
        raise SystemExit(f"not healthy: {[m.problem for m in view.members]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--members", type=int, default=5, choices=(3, 5))
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/ssh_refresh.py needs root (lab up --netns)")

    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-") as tmp:
        plain = lab_up(Path(tmp) / "plain", members=args.members, tls=args.tls)
        try:
            locked = lab_up(Path(tmp) / "netns", members=args.members, tls=args.tls, netns=True)
        except BaseException:
            lab_down(plain.dir)
            raise
        try:
            direct = ClusterClient(load_connection(plain.config_path, "lab"))
            started = time.perf_counter()
            via_ssh = open_cluster(load_connection(locked.config_path, "lab"))
            healthy(via_ssh)
            first = time.perf_counter() - started
            healthy(direct)
            env = {**os.environ, **plain.etcdctl_env()}
            etcdctl = [plain.etcdctl, "endpoint", "status", "--cluster", "-w", "json"]
            runs = args.runs
            # Interleaved rounds, so a noisy moment hits both sides alike.
            results: dict[str, list[float]] = {k: [] for k in ("ctl", "d", "s", "dm", "sm")}
            for _ in range(runs):
                results["ctl"] += timed(
                    lambda: subprocess.run(etcdctl, env=env, capture_output=True, check=True), 1
                )
                results["d"] += timed(lambda: healthy(direct), 1)
                results["s"] += timed(lambda: healthy(via_ssh), 1)
                results["dm"] += timed(lambda: healthy(direct, metrics=True), 1)
                results["sm"] += timed(lambda: healthy(via_ssh, metrics=True), 1)
            shells = getattr(via_ssh.routes, "shells", None)
            connections = len(shells.connected()) if shells is not None else 0
            print(f"{args.members} members, etcd {plain.etcd_version}, "
                  f"{'TLS' if args.tls else 'plain HTTP'}, {runs} runs each")  # fmt: skip
            print(line("etcdctl endpoint status --cluster (plain lab)", results["ctl"]))
            print(line("etcdtui refresh, direct (plain lab)", results["d"]))
            print(line("etcdtui refresh, through SSH (netns lab)", results["s"]))
            print(line("etcdtui refresh + /metrics, direct", results["dm"]))
            print(line("etcdtui refresh + /metrics, through SSH", results["sm"]))
            ratio = median_ms(results["s"]) / median_ms(results["d"])
            ratio_m = median_ms(results["sm"]) / median_ms(results["dm"])
            print(f"  ratio SSH / direct: {ratio:.2f} (with /metrics {ratio_m:.2f}); target <= 2")
            print(f"  first refresh through SSH (connects to every node): {first * 1000:.0f} ms")
            print(f"  SSH connections open after {2 * runs + 1} refreshes: {connections}")
            via_ssh.close()
            direct.close()
        finally:
            lab_down(locked.dir)
            lab_down(plain.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
