"""Snapshot save throughput against `etcdctl snapshot save`, same member, same run.

    .venv/bin/python bench/snapshot.py [--mb 300] [--runs 3] [--etcd-version 3.5] [--tree DIR]

Fills a lab's database with --mb megabytes of incompressible values, then takes turns from the
same follower: `etcdctl snapshot save` (a process), a floor (a bare Python process that runs
etcdctl and hashes the file as it is written: what no save that checks every byte can beat
here), `etcdtui snapshot save` (a process, so its peak RSS and CPU are its own), then etcdtui
through the gateway (no etcdctl on its PATH) and the gateway's stream read and thrown away
(what no client of the gateway can beat). Both sides
use the same etcdctl: the one on PATH, else the lab's, which etcdtui then finds first on PATH.
Prints medians with min-max, the ratios of throughputs, etcdtui's peak RSS and CPU.
`--tree DIR` runs the etcdtui of another checkout (say, the code before a change).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.clients.etcd import GatewayClient
from etcdtui.lab import LabInfo, lab_down, lab_up

ROOT = Path(__file__).resolve().parent.parent

# Runs etcdtui's save in a fresh interpreter; prints its own peak RSS (MB) and CPU seconds.
CHILD = """
import resource, sys
from etcdtui.cli import main
code = main(sys.argv[1:])
own = resource.getrusage(resource.RUSAGE_SELF)
print(f"RSS {own.ru_maxrss // 1024} CPU {own.ru_utime + own.ru_stime:.2f}", file=sys.stderr)
raise SystemExit(code)
"""

# The least a verified save can cost on top of etcdctl: a bare interpreter (no etcdtui, no
# config, no read of the members, no sidecar) that runs etcdctl and hashes the file while it
# is written, as etcdtui does, checking etcd's trailer at the end. No client that verifies
# every byte can beat it on this machine.
FLOOR = """
import hashlib, os, subprocess, sys, time
etcdctl, endpoint, target = sys.argv[1:4]
proc = subprocess.Popen([etcdctl, f"--endpoints={endpoint}", "snapshot", "save", target],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        handle = open(target + ".part", "rb", buffering=0)
        break
    except FileNotFoundError:
        time.sleep(0.005)
body, buffer, tail, done = hashlib.sha256(), bytearray(512 * 1024), b"", False
view = memoryview(buffer)
while True:
    count = handle.readinto(buffer)
    if count:
        body.update(tail)
        body.update(view[: count - 32])
        tail = bytes(view[count - 32 : count])
    elif done:
        break
    elif proc.poll() is not None:
        done = True
    else:
        time.sleep(0.002)
assert proc.wait() == 0 and body.digest() == tail
"""


def fill(endpoint: str, megabytes: int) -> None:
    client = GatewayClient(endpoint, timeout=30)
    for i in range(megabytes):
        client.put(f"/bench/{i:06d}".encode(), os.urandom(1024 * 1024))
    client.close()


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


class Sides:
    """The commands each side runs, and what each run measured."""

    def __init__(self, info: LabInfo, root: Path, tree: Path) -> None:
        self.info, self.root, self.tree = info, root, tree
        self.source = info.endpoints[1]
        self.name = info.nodes[1].name
        self.etcdctl = shutil.which("etcdctl") or info.etcdctl
        path = f"{Path(self.etcdctl).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
        self.env |= {"ETCDCTL_API": "3", "PATH": path}
        self.times: dict[str, list[float]] = {}
        self.usage: dict[str, list[tuple[int, float]]] = {}
        self.size = 0

    def record(self, side: str, seconds: float) -> None:
        self.times.setdefault(side, []).append(seconds)

    def etcdctl_save(self, target: Path) -> None:
        subprocess.run([self.etcdctl, f"--endpoints={self.source}", "snapshot", "save",
                        str(target)], env=self.env, capture_output=True, check=True)  # fmt: skip
        self.size = target.stat().st_size
        target.unlink()

    def etcdtui_save(self, side: str, target: Path, gateway: bool) -> None:
        env = {**self.env, "PATH": "/nonexistent"} if gateway else self.env
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, "snapshot", "save", str(target),
             "--config", str(self.info.config_path), "--from", self.name,
             "--audit-log", str(self.root / "audit.log")],
            cwd=self.tree, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"etcdtui failed: {proc.stderr}")
        self.record(side, time.monotonic() - started)
        line = next(x for x in proc.stderr.splitlines() if x.startswith("RSS "))
        words = line.split()
        self.usage.setdefault(side, []).append((int(words[1]), float(words[3])))
        target.unlink()
        target.with_name(target.name + ".sha256").unlink()

    def floor_save(self, target: Path) -> None:
        subprocess.run([sys.executable, "-c", FLOOR, self.etcdctl, self.source, str(target)],
                       env=self.env, check=True)  # fmt: skip
        target.unlink()

    def gateway_read(self) -> None:
        """The gateway's stream, read and thrown away."""
        client = GatewayClient(self.source, timeout=30)
        response = client._client._session.post(
            f"{self.source}/v3/maintenance/snapshot", json={}, stream=True, timeout=(5, 60)
        )
        for _ in response.iter_content(1 << 20):
            pass
        response.close()
        client.close()


def report(sides: Sides, runs: int) -> None:
    mb = sides.size / 1e6
    ctl = statistics.median(sides.times["etcdctl"])
    print(f"snapshot of {mb:.0f} MB from {sides.name}, {runs} runs each, taken in turns; "
          f"etcdctl {sides.etcdctl}; etcdtui from {sides.tree}")  # fmt: skip
    print("  (seconds: median [min-max]; MB/s of the median; ratio = etcdtui MB/s / etcdctl's)")
    labels = {
        "etcdctl": "etcdctl snapshot save",
        "floor": "python + etcdctl, hashed as written",
        "etcdtui": "etcdtui snapshot save",
        "gateway": "etcdtui, no etcdctl (gateway)",
        "raw": "the gateway's stream, thrown away",
    }
    for side, label in labels.items():
        times = sides.times[side]
        median = statistics.median(times)
        line = (f"  {label:34} {median:6.2f} s [{min(times):.2f}-{max(times):.2f}] "
                f"{mb / median:6.1f} MB/s  ratio {ctl / median:4.2f}")  # fmt: skip
        if side in sides.usage:
            rss = max(u[0] for u in sides.usage[side])
            cpu = statistics.median(u[1] for u in sides.usage[side])
            line += f"  peak RSS {rss} MB, CPU {cpu:.2f} s"
        print(line)
    print("  targets: etcdtui ratio >= 0.95 with RSS <= 150 MB; the gateway route >= 0.8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout etcdtui runs from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        info = lab_up(root / "lab", etcd_version=args.etcd_version, quota_bytes=4 << 30)
        try:
            print(f"filled {args.mb} MB in {timed(lambda: fill(info.endpoints[0], args.mb)):.0f} s")
            sides = Sides(info, root, args.tree.resolve())
            out = root / "out"
            out.mkdir()
            for i in range(args.runs):
                ctl = out / f"ctl{i}.db"
                sides.record("etcdctl", timed(functools.partial(sides.etcdctl_save, ctl)))
                sides.record("floor", timed(functools.partial(sides.floor_save, out / "f.db")))
                sides.etcdtui_save("etcdtui", out / f"tui{i}.db", gateway=False)
                sides.etcdtui_save("gateway", out / f"gw{i}.db", gateway=True)
                sides.record("raw", timed(sides.gateway_read))
            report(sides, args.runs)
        finally:
            lab_down(info.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
