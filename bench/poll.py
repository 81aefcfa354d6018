"""Refresh cost against a 5-member lab, side by side with etcdctl in the same run.

    .venv/bin/python bench/poll.py [--runs N] [--members 3|5] [--etcd-version 3.4|3.5]

Prints medians (this machine is noisy): etcdctl endpoint status --cluster -w json as a whole
process; etcdtui's in-process full refresh (status, member list and alarms of every member),
then with the linearizable health read per member too; the /metrics scrape and parse for
every member; and a refresh with one member frozen (SIGSTOP) against its timeout.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import load_connection
from etcdtui.lab import lab_down, lab_up


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--members", type=int, default=5, choices=(3, 5))
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-") as tmp:
        info = lab_up(Path(tmp) / "lab", members=args.members, etcd_version=args.etcd_version)
        try:
            connection = load_connection(info.config_path, info.cluster)
            env = {**os.environ, **info.etcdctl_env()}
            etcdctl = [info.etcdctl, "endpoint", "status", "--cluster", "-w", "json"]

            def run_etcdctl() -> None:
                subprocess.run(etcdctl, env=env, capture_output=True, check=True)

            client = ClusterClient(connection)
            client.read()  # connections and imports warm, as in the running TUI
            run_etcdctl()
            ctl = timed(run_etcdctl, args.runs)
            ours = timed(lambda: client.read(metrics=False, health=False), args.runs)
            with_health = timed(lambda: client.read(metrics=False), args.runs)
            full = timed(lambda: client.read(metrics=True), args.runs)
            scrape = timed(client.metrics, args.runs)

            frozen_client = ClusterClient(replace(connection, timeout=2.0))
            frozen_client.read()
            pid = info.pid(info.members()[-1].name)
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            try:
                frozen = timed(frozen_client.read, 5)
            finally:
                os.kill(pid, signal.SIGCONT)
            client.close()
            frozen_client.close()
        finally:
            lab_down(info.dir)

    ratio = statistics.median(ours) / statistics.median(ctl)
    print(f"{args.members}-member lab, etcd {args.etcd_version}, {args.runs} runs each")
    print(f"etcdctl endpoint status --cluster -w json   {ms(ctl)}")
    print(f"etcdtui refresh (status+members+alarms)     {ms(ours)}   ratio {ratio:.2f} (<= 0.5)")
    print(f"  + health read per member                  {ms(with_health)}")
    print(f"etcdtui refresh including /metrics          {ms(full)}")
    print(f"/metrics scrape+parse, every member         {ms(scrape)}   (target <= 100 ms)")
    print(f"refresh with one member frozen (timeout 2s) {ms(frozen)}   (target <= 2100 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
