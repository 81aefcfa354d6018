"""Snapshot save throughput against `etcdctl snapshot save`, same member, same run.

    .venv/bin/python bench/snapshot.py [--mb 300] [--runs 3] [--etcd-version 3.5]

Fills a lab's database with --mb megabytes of incompressible values, then alternates
`etcdctl snapshot save` (a process) and `etcdtui snapshot save` (a process, so its peak RSS is
its own) from the same follower. Prints medians and the ratio of throughputs, etcdtui's peak
RSS (and etcdctl's, which etcdtui runs as its stream reader when it is installed), then the
gateway route (no etcdctl) and an encrypted save for comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import lab_down, lab_up

# Runs etcdtui's save in a fresh interpreter and prints its own peak RSS and its children's.
CHILD = """
import resource, sys
from etcdtui.cli import main
code = main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"RSS {own} {kids}", file=sys.stderr)
raise SystemExit(code)
"""


def fill(endpoint: str, megabytes: int) -> None:
    client = GatewayClient(endpoint, timeout=30)
    for i in range(megabytes):
        client.put(f"/bench/{i:06d}".encode(), os.urandom(1024 * 1024))
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        info = lab_up(root / "lab", etcd_version=args.etcd_version, quota_bytes=4 << 30)
        try:
            started = time.monotonic()
            fill(info.endpoints[0], args.mb)
            print(f"filled {args.mb} MB in {time.monotonic() - started:.0f} s")
            source = info.endpoints[1]
            name = info.nodes[1].name
            env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
            env["ETCDCTL_API"] = "3"
            out = root / "out"
            out.mkdir()
            ctl_times, tui_times, rss = [], [], []
            size = 0
            for i in range(args.runs):
                target = out / f"ctl{i}.db"
                t = time.monotonic()
                subprocess.run([info.etcdctl, f"--endpoints={source}", "snapshot", "save",
                                str(target)], env=env, capture_output=True, check=True)  # fmt: skip
                ctl_times.append(time.monotonic() - t)
                size = target.stat().st_size
                target.unlink()
                mine = out / f"tui{i}.db"
                t = time.monotonic()
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, "snapshot", "save", str(mine),
                     "--config", str(info.config_path), "--from", name,
                     "--audit-log", str(root / "audit.log")],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                tui_times.append(time.monotonic() - t)
                line = next(x for x in proc.stderr.splitlines() if x.startswith("RSS "))
                rss.append(tuple(int(v) // 1024 for v in line.split()[1:]))
                mine.unlink()
                (out / f"tui{i}.db.sha256").unlink()
            mb = size / 1e6
            ctl, tui = statistics.median(ctl_times), statistics.median(tui_times)
            print(f"snapshot of {mb:.0f} MB from {name}, {args.runs} runs each (medians)")
            print(f"  etcdctl snapshot save   {ctl:6.2f} s   {mb / ctl:7.1f} MB/s")
            print(f"  etcdtui snapshot save   {tui:6.2f} s   {mb / tui:7.1f} MB/s")
            print("    (the whole etcdtui process: start, read the cluster, stream, check, fsync)")
            print(f"  throughput ratio etcdtui / etcdctl, whole commands: {ctl / tui:.2f} "
                  "(target >= 0.9)")  # fmt: skip
            print(f"  etcdtui peak RSS: {max(r[0] for r in rss)} MB (target <= 150); "
                  f"its etcdctl stream reader: {max(r[1] for r in rss)} MB")  # fmt: skip
            if shutil.which("etcdctl") is None:
                print("  (no etcdctl on PATH: etcdtui used the gateway above)")
            # The gateway, for comparison: PATH without etcdctl.
            gateway_env = {**os.environ, "PATH": "/nonexistent"}
            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "etcdtui", "snapshot", "save",
                            str(out / "gw.db"), "--config", str(info.config_path), "--from", name,
                            "--audit-log", str(root / "audit.log")],
                           env=gateway_env, capture_output=True, check=True)  # fmt: skip
            gw = time.monotonic() - t
            print(f"  etcdtui through the gateway (no etcdctl): {gw:6.2f} s  {mb / gw:6.1f} MB/s")
            key = root / "k.key"
            key.write_bytes(os.urandom(32))
            key.chmod(0o600)
            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "etcdtui", "snapshot", "save",
                            str(out / "enc.db"), "--config", str(info.config_path), "--from",
                            name, "--encrypt", "--key-file", str(key),
                            "--audit-log", str(root / "audit.log")],
                           capture_output=True, check=True)  # fmt: skip
            enc = time.monotonic() - t
            print(f"  etcdtui encrypted save:                  {enc:6.2f} s  {mb / enc:6.1f} MB/s")
        finally:
            lab_down(info.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
