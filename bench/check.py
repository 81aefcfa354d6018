"""`etcdtui check` against `etcdctl endpoint hashkv --cluster`, same lab, same run.

    .venv/bin/python bench/check.py [--mb 500] [--runs 3] [--members 5] [--etcd-version 3.5]

Starts a lab (5 members by default), fills its database with --mb megabytes of incompressible
values, then alternates `etcdctl endpoint hashkv --cluster` (a process) and `etcdtui check`
(a process, so its peak RSS is its own). Prints the medians, their ratio (target: etcdtui no
more than 1.2 x etcdctl) and etcdtui's peak RSS, with that of the etcdctl processes it runs
where a member's gateway does not serve HashKV (etcd before 3.5.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import lab_down, lab_up

# etcdtui's check in a fresh interpreter; prints its own peak RSS and its children's.
CHILD = """
import resource, sys
from etcdtui import cli
from etcdtui.cli import check
if check not in cli.COMMANDS:
    cli.COMMANDS = (*cli.COMMANDS, check)
code = cli.main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"RSS {own} {kids}", file=sys.stderr)
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--members", type=int, default=5, choices=(3, 5))
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        info = lab_up(root / "lab", members=args.members, etcd_version=args.etcd_version,
                      quota_bytes=8 << 30)  # fmt: skip
        try:
            started = time.monotonic()
            fill(info.endpoints[0], args.mb)
            print(f"filled {args.mb} MB in {time.monotonic() - started:.0f} s")
            env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
            env["ETCDCTL_API"] = "3"
            ctl_times, tui_times, status_times, rss = [], [], [], []
            for _ in range(args.runs):
                # etcdtui's floor: a process that reads the cluster once and hashes nothing.
                t = time.monotonic()
                subprocess.run([sys.executable, "-m", "etcdtui", "status", "--config",
                                str(info.config_path), "--cluster", info.cluster],
                               capture_output=True, env=env, check=False)  # fmt: skip
                status_times.append(time.monotonic() - t)
                t = time.monotonic()
                subprocess.run([info.etcdctl, f"--endpoints={info.endpoints[0]}", "endpoint",
                                "hashkv", "--cluster", "--command-timeout=300s"],
                               env=env, capture_output=True, check=True)  # fmt: skip
                ctl_times.append(time.monotonic() - t)
                t = time.monotonic()
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, "check", "--config", str(info.config_path),
                     "--cluster", info.cluster],
                    capture_output=True, text=True, env=env, check=False,
                )  # fmt: skip
                tui_times.append(time.monotonic() - t)
                if proc.returncode != 0:
                    print(proc.stdout, proc.stderr)
                    return 1
                line = next(x for x in proc.stderr.splitlines() if x.startswith("RSS "))
                rss.append(tuple(int(v) // 1024 for v in line.split()[1:]))
            ctl, tui = statistics.median(ctl_times), statistics.median(tui_times)
            print(f"{args.members} members, etcd {args.etcd_version}, {args.mb} MB of values, "
                  f"{args.runs} runs each (medians, whole processes)")  # fmt: skip
            print(f"  etcdctl endpoint hashkv --cluster   {ctl:6.2f} s")
            print(f"  etcdtui check                       {tui:6.2f} s")
            floor = statistics.median(status_times)
            print(f"  etcdtui status (start-up, one read)  {floor:6.2f} s")
            print(f"  ratio etcdtui / etcdctl: {tui / ctl:.2f} (target <= 1.2)")
            print(f"  etcdtui peak RSS: {max(r[0] for r in rss)} MB; "
                  f"its etcdctl processes: {max(r[1] for r in rss)} MB")  # fmt: skip
        finally:
            lab_down(info.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
