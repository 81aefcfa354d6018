"""`etcdtui check` against `etcdctl endpoint hashkv --cluster`, same lab, same run.

    .venv/bin/python bench/check.py [--mb 500] [--runs 3] [--members 5] [--etcd-version 3.5]
    .venv/bin/python bench/check.py --lab DIR [--runs 5]

Starts a lab (5 members by default), fills its database with --mb megabytes of incompressible
values, then alternates `etcdctl endpoint hashkv --cluster` (a process), `etcdtui check`
(a process, so its peak RSS is its own) and `etcdtui status` (what any command costs to start
and read once). Prints the medians of the wall-clock and CPU times, the ratio (target:
etcdtui no more than 1.2 x etcdctl) and etcdtui's peak RSS, with that of the etcdctl processes
it runs (HashKV over gRPC). `--lab DIR` measures a lab already running (`etcdtui lab up`)
instead.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import LabInfo, lab_down, lab_up, load_lab

# etcdtui's check in a fresh interpreter; prints its own peak RSS and its children's, and how
# long importing the command line took.
CHILD = """
import resource, sys, time
started = time.perf_counter()
from etcdtui import cli
from etcdtui.cli import check
imported = time.perf_counter() - started
if check not in cli.COMMANDS:
    cli.COMMANDS = (*cli.COMMANDS, check)
code = cli.main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"RSS {own} {kids}", file=sys.stderr)
print(f"IMPORT {imported}", file=sys.stderr)
import gc
gc.freeze()  # as the etcdtui program does before it exits (cli.run)
raise SystemExit(code)
"""


def fill(endpoint: str, megabytes: int) -> None:
    """--mb one-megabyte values, four writers at once."""

    def write(part: int) -> None:
        client = GatewayClient(endpoint, timeout=60)
        try:
            for i in range(part, megabytes, 4):
                client.put(f"/bench/{i:06d}".encode(), os.urandom(1024 * 1024))
        finally:
            client.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))


@dataclass
class Timed:
    """One kind of run, every time it ran: wall-clock seconds, CPU seconds of its processes."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def line(self, label: str) -> str:
        wall, cpu = statistics.median(self.wall), statistics.median(self.cpu)
        return f"  {label:<40} {wall:6.2f} s   (CPU {cpu:5.2f} s)"


def timed(into: Timed, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `argv`, adding its wall-clock and CPU time (its own and its children's) to `into`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    into.wall.append(time.monotonic() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    into.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return done


def measure(info: LabInfo, runs: int) -> int:
    """Interleave the runs, then print the medians side by side."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    target = ["--config", str(info.config_path), "--cluster", info.cluster]
    ctl, tui, floor = Timed(), Timed(), Timed()
    rss: list[tuple[int, ...]] = []
    imports: list[float] = []
    for _ in range(runs):
        # etcdtui's floor: a process that reads the cluster once and hashes nothing.
        timed(floor, [sys.executable, "-m", "etcdtui", "status", *target], env)
        done = timed(ctl, [info.etcdctl, f"--endpoints={info.endpoints[0]}", "endpoint",
                           "hashkv", "--cluster", "--command-timeout=300s"], env)  # fmt: skip
        if done.returncode != 0:
            print(done.stdout, done.stderr)
            return 1
        done = timed(tui, [sys.executable, "-c", CHILD, "check", *target], env)
        if done.returncode != 0:
            print(done.stdout, done.stderr)
            return 1
        said = dict(x.split(" ", 1) for x in done.stderr.splitlines() if " " in x)
        rss.append(tuple(int(v) // 1024 for v in said["RSS"].split()))
        imports.append(float(said["IMPORT"]))
    print(ctl.line("etcdctl endpoint hashkv --cluster"))
    print(tui.line("etcdtui check"))
    print(floor.line("etcdtui status (start-up, one read)"))
    print(f"  etcdtui check: importing its command line took {statistics.median(imports):.2f} s")
    ratio = statistics.median(tui.wall) / statistics.median(ctl.wall)
    print(f"  ratio etcdtui / etcdctl: {ratio:.2f} (target <= 1.2)")
    print(f"  etcdtui peak RSS: {max(r[0] for r in rss)} MB; "
          f"its etcdctl processes: {max(r[1] for r in rss)} MB")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--members", type=int, default=5, choices=(3, 5))
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    parser.add_argument("--lab", type=Path, help="measure this running lab instead (no fill)")
    args = parser.parse_args()
    if args.lab:
        return measure(load_lab(args.lab), args.runs)
    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-", dir="/var/tmp") as tmp:
        info = lab_up(Path(tmp) / "lab", members=args.members, etcd_version=args.etcd_version,
                      quota_bytes=8 << 30)  # fmt: skip
        try:
            started = time.monotonic()
            fill(info.endpoints[0], args.mb)
            print(f"filled {args.mb} MB in {time.monotonic() - started:.0f} s")
            print(f"{args.members} members, etcd {args.etcd_version}, {args.mb} MB of values, "
                  f"{args.runs} runs each (medians, whole processes)")  # fmt: skip
            return measure(info, args.runs)
        finally:
            lab_down(info.dir)


if __name__ == "__main__":
    raise SystemExit(main())
