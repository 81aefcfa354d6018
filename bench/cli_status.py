"""`etcdtui status -w json` as a whole process, side by side with etcdctl in the same run.

    .venv/bin/python bench/cli_status.py [--runs N] [--members 3|5] [--etcd-version 3.4|3.5]
                                         [--lab DIR]

Starts a lab (or uses the one in --lab DIR, left running), then runs, in turns, N times
each: `etcdtui --config C --cluster lab status -w json` (the installed console script, as a
user types it, its .pyc files kept in a temporary directory as an installed etcdtui has them),
`etcdctl endpoint status --cluster -w json`, and a floor: the least a Python process on
etcd3-py (imported as narrowly as etcdtui does) spends to ask what etcdctl asks. One untimed
run of each first, so .pyc files and the page cache are warm. Prints each side's median wall
time, min-max, the CPU time (user+sys) of the median run, and the ratios of the medians to
etcdctl's (target: etcdtui's median <= 0.20 s and <= 4x etcdctl's).
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

from etcdtui.lab import lab_down, lab_up, load_lab
from etcdtui.lab.state import LabInfo

# The least a client on etcd3-py can cost: a bare interpreter that imports etcd3-py's client
# as narrowly as etcdtui does (etcdtui/clients/etcd3_client.py, which imports nothing else of
# etcdtui) and asks what etcdctl asks, the member list and every member's status, in
# parallel, then prints the JSON. No config, no health read, no /metrics, no alarms, and no
# version probe when a client is made (as etcdtui's).
FLOOR = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit
from etcdtui.clients.etcd3_client import client_class
import semantic_version
class Client(client_class()):
    def _retrieve_version(self):  # no version probe per client, as etcdtui's
        self.server_version = self.cluster_version = "3.4.0"
        self.server_version_sem = self.cluster_version_sem = semantic_version.Version("3.4.0")
def post(url, path):
    where = urlsplit(url)
    return Client(where.hostname, where.port, timeout=2).call_rpc(path, data={}, raw=True).json()
urls = sys.argv[1:]
with ThreadPoolExecutor(len(urls)) as pool:
    members = pool.submit(post, urls[0], "/cluster/member/list")
    statuses = list(pool.map(lambda url: post(url, "/maintenance/status"), urls))
print(json.dumps({"members": members.result(), "statuses": statuses}))
"""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole process; it must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {process.returncode}: {error.strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def etcdtui_argv() -> list[str]:
    """The console script next to this interpreter, else `python -m etcdtui`."""
    script = Path(sys.executable).with_name("etcdtui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "etcdtui"]


def summary(name: str, samples: list[tuple[float, float]]) -> str:
    walls = sorted(wall for wall, _ in samples)
    median = statistics.median(walls)
    cpu = statistics.median(cpu for _, cpu in samples)
    return (
        f"{name:<44} median {median * 1000:7.1f} ms   min-max {walls[0] * 1000:6.1f}-"
        f"{walls[-1] * 1000:6.1f} ms   cpu {cpu * 1000:6.1f} ms"
    )


def installed_env(pycache: Path) -> dict[str, str]:
    """The environment etcdtui runs in, as when installed: .pyc files written and read.

    The sandbox sets PYTHONDONTWRITEBYTECODE and etcdtui is an editable install, so every run
    would compile etcdtui's sources again; its .pyc files go under `pycache` instead. etcdtui
    is given its config: the ETCDCTL_* variables are for etcdctl only.
    """
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("ETCDCTL_")}  # fmt: skip
    return env | {"PYTHONPYCACHEPREFIX": str(pycache)}


def measure(info: LabInfo, runs: int, pycache: Path) -> None:
    env = {**os.environ, **info.etcdctl_env()}
    ours_env = installed_env(pycache)
    ours = [*etcdtui_argv(), "--config", str(info.config_path), "--cluster", info.cluster,
            "status", "-w", "json"]  # fmt: skip
    etcdctl = [info.etcdctl or shutil.which("etcdctl") or "etcdctl", "endpoint", "status",
               "--cluster", "-w", "json"]  # fmt: skip
    floor = [sys.executable, "-c", FLOOR, *info.endpoints]
    sides = [(ours, ours_env), (etcdctl, env), (floor, ours_env)]
    samples: list[list[tuple[float, float]]] = [[] for _ in sides]
    for argv, environment in sides:
        run(argv, environment)
    for i in range(runs):
        # Taken in turns, and the order turns too: load drifts hit every side.
        order = list(zip(sides, samples, strict=True))
        for (argv, environment), taken in order if i % 2 == 0 else reversed(order):
            taken.append(run(argv, environment))
    ours_samples, ctl_samples, floor_samples = samples
    ctl = statistics.median(w for w, _ in ctl_samples)
    ratio = statistics.median(w for w, _ in ours_samples) / ctl
    floor_ratio = statistics.median(w for w, _ in floor_samples) / ctl
    load = os.getloadavg()[0]
    print(f"{len(info.members())}-member lab, etcd {info.etcd_version}, {runs} runs each, "
          f"alternated; load average {load:.2f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(summary("etcdctl endpoint status --cluster -w json", ctl_samples))
    print(summary("etcdtui status -w json", ours_samples))
    print(summary("floor: python + etcd3-py, etcdctl's calls", floor_samples))
    print(f"ratio of medians {ratio:.2f} (target <= 4; the floor's {floor_ratio:.2f}), "
          "etcdtui median target <= 200 ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--members", type=int, default=5, choices=(3, 5))
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    parser.add_argument("--lab", type=Path, default=None, help="use this running lab")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-") as tmp:
        pycache = Path(tmp) / "pycache"
        if args.lab is not None:
            measure(load_lab(args.lab), args.runs, pycache)
            return 0
        info = lab_up(Path(tmp) / "lab", members=args.members, etcd_version=args.etcd_version)
        try:
            measure(info, args.runs, pycache)
        finally:
            lab_down(info.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
