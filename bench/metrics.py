"""The /metrics scrape and parse of every member, against a lab this script starts (or --lab).

    .venv/bin/python bench/metrics.py [--runs N] [--members 3|5] [--etcd-version 3.4|3.5]
                                      [--lab DIR]

Times `ClusterClient.metrics()`: every member's /metrics fetched in parallel (~160 KB each)
and the figures etcdtui reads picked out of it, as a dashboard refresh does; connections and
imports warm. Then, on one member's text, the parse alone. Prints medians and min-max
(target: the scrape and parse of 5 members <= 40 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.metrics import parse_metrics
from etcdtui.config import load_connection
from etcdtui.lab import lab_down, lab_up, load_lab
from etcdtui.lab.state import LabInfo


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:6.1f} ms   "
        f"min-max {min(values) * 1000:6.1f}-{max(values) * 1000:6.1f} ms"
    )


def measure(info: LabInfo, runs: int) -> None:
    client = ClusterClient(load_connection(info.config_path, info.cluster))
    try:
        client.read()  # every member known, connections open
        scraped = client.metrics()
        failed = {e: v for e, v in scraped.items() if isinstance(v, Exception)}
        if failed:
            raise SystemExit(f"scrape failed: {failed}")
        endpoint = client.endpoints[0]
        text = client.client(endpoint).metrics_text()
        whole = timed(client.metrics, runs)
        parse = timed(lambda: parse_metrics(text, endpoint), runs)
    finally:
        client.close()
    print(f"{len(scraped)}-member lab, etcd {info.etcd_version}, {runs} runs; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"/metrics scrape+parse, every member   {ms(whole)}   (target <= 40 ms)")
    print(f"parse of one member's {len(text) // 1024} KB        {ms(parse)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--members", type=int, default=5, choices=(3, 5))
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    parser.add_argument("--lab", type=Path, default=None, help="use this running lab")
    args = parser.parse_args()
    if args.lab is not None:
        measure(load_lab(args.lab), args.runs)
        return 0
    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-") as tmp:
        info = lab_up(Path(tmp) / "lab", members=args.members, etcd_version=args.etcd_version)
        try:
            measure(info, args.runs)
        finally:
            lab_down(info.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
