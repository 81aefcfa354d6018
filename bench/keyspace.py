"""`etcdtui keyspace` against etcdctl, same lab, same run.

    .venv/bin/python bench/keyspace.py [--keys 1000000] [--groups 50] [--runs 3]

Fills a lab with --keys keys in --groups Kubernetes-shaped groups
(/registry/<resource>/<namespace>/<name>, 100-byte values) through batched transactions,
then alternates `etcdctl get / --prefix --keys-only | wc -l` and etcdtui's live keys-only
scan (a process each, same follower, the scan's rate limit lifted so both run flat out; the
default rate is timed once too). Then saves a snapshot and times `etcdtui keyspace
--snapshot` on it, with its peak RSS. Prints medians and the targets: the live scan no
slower than 1.5x etcdctl, the snapshot read under 10 s and 300 MB.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.lab import lab_down, lab_up

# etcdtui's keyspace command in a fresh interpreter (registered here, whether or not the
# command list has it yet), printing its own peak RSS.
CHILD = """
import resource, sys
import etcdtui.cli as cli
from etcdtui.cli import keyspace
if keyspace not in cli.COMMANDS:
    cli.COMMANDS = (*cli.COMMANDS, keyspace)
code = cli.main(sys.argv[1:])
print(f"RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
raise SystemExit(code)
"""
BATCH = 128  # etcd's default --max-txn-ops


def key_of(index: int, groups: int) -> bytes:
    group = index % groups
    return f"/registry/res{group % 10}/ns-{group:02d}/obj-{index:07d}".encode()


def fill(endpoint: str, keys: int, groups: int) -> None:
    """Put `keys` keys with 100-byte values, BATCH per transaction, four at a time."""
    import requests

    session = requests.Session()
    session.trust_env = False
    value = base64.b64encode(b"v" * 100).decode()

    def batch(start: int) -> None:
        ops = [{"request_put": {"key": base64.b64encode(key_of(i, groups)).decode(),
                                "value": value}}
               for i in range(start, min(start + BATCH, keys))]  # fmt: skip
        response = session.post(f"{endpoint}/v3/kv/txn", json={"success": ops}, timeout=60)
        response.raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, keys, BATCH)))
    session.close()


def run_child(*argv: str) -> tuple[float, int, str]:
    """Seconds, peak RSS (KiB) and stdout of one etcdtui run."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True,
                          check=True, timeout=3600)  # fmt: skip
    seconds = time.monotonic() - started
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("RSS"))
    return seconds, rss, done.stdout


def etcdctl_count(etcdctl: str, endpoint: str) -> tuple[float, int]:
    """Seconds and line count of `etcdctl get / --prefix --keys-only | wc -l`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    started = time.monotonic()
    # The arguments are the lab's own paths and URLs, passed as argv: no shell.
    ctl = subprocess.Popen([etcdctl, f"--endpoints={endpoint}", "--command-timeout=600s", "get",
                            "/", "--prefix", "--keys-only"], env=env,
                           stdout=subprocess.PIPE)  # fmt: skip
    count = subprocess.run(["wc", "-l"], stdin=ctl.stdout, capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    ctl.wait(timeout=600)
    return time.monotonic() - started, int(count)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        info = lab_up(root / "lab", etcd_version=args.etcd_version, quota_bytes=8 << 30)
        try:
            started = time.monotonic()
            fill(info.endpoints[0], args.keys, args.groups)
            print(f"filled {args.keys:,} keys in {args.groups} groups in "
                  f"{time.monotonic() - started:.0f} s")  # fmt: skip
            measure(info.etcdctl, info.endpoints[1], root, args)
        finally:
            lab_down(info.dir)
    return 0


def measure(etcdctl: str, endpoint: str, root: Path, args: argparse.Namespace) -> None:
    """Time the live scans and the snapshot read, and print them beside etcdctl."""
    ctl, tui = [], []
    for _ in range(args.runs):
        seconds, count = etcdctl_count(etcdctl, endpoint)
        assert count == 2 * args.keys, count  # etcdctl prints a blank line after each key
        ctl.append(seconds)
        seconds, _, out = run_child("keyspace", f"--endpoints={endpoint}", "-w", "json",
                                    "--rate", "100000000")  # fmt: skip
        assert f'"keys": {args.keys}' in out
        tui.append(seconds)
    paced, _, out = run_child("keyspace", f"--endpoints={endpoint}", "-w", "json")
    ratio = statistics.median(tui) / statistics.median(ctl)
    print(f"live keys-only, {args.keys:,} keys (median of {args.runs}):")
    print(f"  etcdctl get / --prefix --keys-only | wc -l  {statistics.median(ctl):6.2f} s")
    print(f"  etcdtui keyspace (rate unbounded)            {statistics.median(tui):6.2f} s"
          f"  = {ratio:.2f}x etcdctl (target <= 1.5x)")  # fmt: skip
    print(f"  etcdtui keyspace (default rate limit)        {paced:6.2f} s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    snap = root / "snap.db"
    subprocess.run([etcdctl, f"--endpoints={endpoint}", "snapshot", "save", str(snap)],
                   env=env | {"ETCDCTL_API": "3"}, capture_output=True, check=True)  # fmt: skip
    reads = [run_child("keyspace", "--snapshot", str(snap), "-w", "json") for _ in range(args.runs)]
    seconds = statistics.median(r[0] for r in reads)
    rss = max(r[1] for r in reads)
    print(f"snapshot mode on {snap.stat().st_size / 1e6:.0f} MB (median of {args.runs}):")
    print(f"  etcdtui keyspace --snapshot  {seconds:6.2f} s (target < 10 s), "
          f"peak RSS {rss / 1024:.0f} MB (target < 300 MB)")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
