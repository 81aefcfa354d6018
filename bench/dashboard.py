"""The dashboard as a person meets it, against a lab this script starts and stops itself.

    .venv/bin/python bench/dashboard.py [--runs N] [--presses N] [--rss-minutes M]
                                        [--only start|keys|rss] [--members 3|5]
                                        [--etcd-version 3.4|3.5] [--no-cache]

start: a fresh `python -c` process (cold imports, as when a user types etcdtui) builds
       EtcdtuiApp on the lab's config, runs it headless (run_test, 100x30) and reports two
       moments of one run: the first frame painted with the cluster's cached last view (every
       member in the table, marked stale), and the first frame of the first live refresh
       (app.polls >= 1, every member in the table). The view cache lives in the bench's own
       XDG_STATE_HOME; the previous run (at first the untimed one) saved it. One untimed run
       first, so .pyc files (kept in the temp dir, as an installed etcdtui has them), the page
       cache and the view cache are warm. Beside it, `etcdctl endpoint status --cluster -w
       table` as a whole process.
keys:  in-process, refresh 1 s, connection timeout 1 s, one follower frozen with SIGSTOP: keys
       that change the screen without etcd (1-4 focus panes, i cycles the interval, p pauses),
       timed from `await pilot.press(key)` to the first frame painted that shows the change.
rss:   a child process runs the app headless at a 1 s refresh; its VmRSS is sampled from
       /proc/PID/status after a warm-up.

Frames are caught by wrapping app._display, which each screen update goes through (headless
too: the compositor renders, only the write to the terminal is skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etcdtui.config import Connection, load_connection
from etcdtui.lab import LabInfo, lab_down, lab_up

ROOT = Path(__file__).resolve().parent.parent

# Run as `python -c CHILD ROOT MODE CONFIG CLUSTER MEMBERS SECONDS`. Its first line is the
# earliest moment a script can see; the parent's clock also covers interpreter start-up.
CHILD = r"""
import time
T0 = time.monotonic()
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from etcdtui.config import load_connection
from etcdtui.ui.app import EtcdtuiApp
IMPORTED = time.monotonic()
mode, config, cluster = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
members, seconds = int(sys.argv[5]), float(sys.argv[6])
WALL_OFFSET = time.time() - time.monotonic()

async def main():
    app = EtcdtuiApp(load_connection(config, cluster), refresh=2.0 if mode == "start" else 1.0)
    marks = {}
    display = app._display

    def watched(screen, renderable):
        display(screen, renderable)
        marks.setdefault("frame", time.monotonic())
        dashboard = app.dashboard
        if dashboard is None or dashboard.query_one("#members").row_count != members:
            return
        if "cached" not in marks and getattr(dashboard, "stale", False):
            marks["cached"] = time.monotonic()
            marks["cpu_cached"] = time.process_time()
        if "shown" not in marks and app.polls >= 1:
            marks["shown"] = time.monotonic()
            marks["cpu_shown"] = time.process_time()

    app._display = watched
    async with app.run_test(size=(100, 30)):
        marks["ready"] = time.monotonic()
        if mode == "start":
            while "shown" not in marks and time.monotonic() < T0 + seconds:
                await asyncio.sleep(0.002)
            view = app.view
            print(json.dumps({
                "t0": T0, "imported": IMPORTED, "ready": marks["ready"],
                "frame": marks.get("frame"), "cached": marks.get("cached"),
                "shown": marks.get("shown"), "cpu_cached": marks.get("cpu_cached"),
                "cpu_shown": marks.get("cpu_shown"),
                "refreshed": view.taken_at - WALL_OFFSET if view else None,
                "read": view.duration if view else None,
            }), flush=True)
        else:
            import gc
            pauses, began = [], {}

            def timed_gc(phase, info):  # full collections stop the UI thread
                if info["generation"] == 2:
                    if phase == "start":
                        began["at"] = time.perf_counter()
                    elif "at" in began:
                        pauses.append(time.perf_counter() - began.pop("at"))

            gc.callbacks.append(timed_gc)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                print(json.dumps({"polls": app.polls, "history": len(app.history.samples),
                                  "gc2": pauses}), flush=True)
                pauses = []
                await asyncio.sleep(1.0)

asyncio.run(main())
"""

PANES = {"1": "members", "2": "health", "3": "quota", "4": "disk"}
# One cycle of presses. Never `i` while paused (the summary then shows PAUSED, not the interval);
# the six `i` come back to back and bring the interval back to 1 s, so that the timer keeps
# polling at its own pace for most of the run.
CYCLE = ["2", "p", "3", "p", "4", "1", "2", "i", "i", "i", "i", "i", "i", "3", "4", "1"]


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"


def spread(values: list[float]) -> str:
    """Median and the machine's noise: min-max over the runs."""
    low, high = min(values) * 1000, max(values) * 1000
    return f"median {statistics.median(values) * 1000:6.0f} ms   min-max {low:4.0f}-{high:4.0f} ms"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def child_command(info: LabInfo, mode: str, seconds: float) -> list[str]:
    members = str(len(info.members()))
    return [sys.executable, "-c", CHILD, str(ROOT), mode, str(info.config_path), info.cluster,
            members, str(seconds)]  # fmt: skip


# --- 1. cold start -------------------------------------------------------------------------


def installed_env(pycache: Path) -> dict[str, str]:
    """This environment as an installed etcdtui would see it: with .pyc files.

    The sandbox sets PYTHONDONTWRITEBYTECODE and etcdtui is an editable install, so every new
    process would compile etcdtui from source; pip compiles an installed package once. The
    .pyc files go under `pycache`, not into the repository; the state (the view cache) beside
    them, not into the user's own.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    state = pycache.parent / "state"
    return env | {"PYTHONPYCACHEPREFIX": str(pycache), "XDG_STATE_HOME": str(state)}


def cold_start(info: LabInfo, runs: int, pycache: Path, cache: bool = True) -> None:
    """`cache=False`: every run starts with no view cache (as before one existed)."""
    command = child_command(info, "start", 30.0)
    env = installed_env(pycache)
    rows: list[dict[str, float]] = []
    for run in range(runs + 1):
        if not cache:
            shutil.rmtree(env["XDG_STATE_HOME"], ignore_errors=True)
        spawned = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env)
        exited = time.monotonic()
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"cold start run failed ({done.returncode}): {done.stderr[-2000:]}")
        marks = json.loads(lines[-1])
        if marks["shown"] is None:
            raise SystemExit("cold start: the first refresh was not on screen within 30 s")
        if run == 0:
            continue  # untimed: writes the .pyc files and the view cache, warms the page cache
        if marks["cached"] is None and cache:
            raise SystemExit("cold start: the cached view was never painted")
        rows.append({k: v for k, v in marks.items() if v is not None} | {
            "spawned": spawned, "exited": exited})  # fmt: skip

    ctl_env = {**os.environ, **info.etcdctl_env()}
    etcdctl = [info.etcdctl, "endpoint", "status", "--cluster", "-w", "table"]
    ctl = []
    for run in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(etcdctl, env=ctl_env, capture_output=True, check=True, timeout=30)
        if run:
            ctl.append(time.perf_counter() - started)

    def col(f: Callable[[dict[str, float]], float]) -> list[float]:
        return [f(r) for r in rows]

    live = col(lambda r: r["shown"] - r["spawned"])
    target = "(target median <= 500 ms)"
    parts = [
        ("interpreter start", col(lambda r: r["t0"] - r["spawned"])),
        ("imports", col(lambda r: r["imported"] - r["t0"])),
        ("imports -> first frame", col(lambda r: r["frame"] - r["imported"])),
        ("app start -> first read", col(lambda r: r["refreshed"] - r["read"] - r["imported"])),
        ("first read (etcd)", col(lambda r: r["read"])),
        ("read done -> on screen", col(lambda r: r["shown"] - r["refreshed"])),
    ]  # fmt: skip
    if cache:
        cached = col(lambda r: r["cached"] - r["spawned"])
        print(f"process start -> first paint, cached view (stale)  {spread(cached)}   {target}")
        print(f"process start -> first live render                 {spread(live)}")
        parts.insert(3, ("first frame -> cached view", col(lambda r: r["cached"] - r["frame"])))
    else:
        print(f"process start -> first live render, no view cache  {spread(live)}   {target}")
    print(f"etcdctl endpoint status --cluster -w table, whole  {spread(ctl)}")
    ratios = [("live", live)] + ([("cached paint", cached)] if cache else [])
    print("  ratio to etcdctl (medians): " + ", ".join(
        f"{name} {statistics.median(v) / statistics.median(ctl):.1f}x" for name, v in ratios
    ))  # fmt: skip
    whole = col(lambda r: r["exited"] - r["spawned"])
    print(f"  whole subprocess incl. exit (parent): {spread(whole)}")
    # CPU time of the whole process (every thread) until then: what load on the machine
    # does not inflate, unlike the wall times above.
    cpu = [("live", col(lambda r: r["cpu_shown"]))]
    if cache:
        cpu.insert(0, ("cached paint", col(lambda r: r["cpu_cached"])))
    print("  process CPU until: " + " · ".join(f"{n} {spread(v)}" for n, v in cpu))
    print("  medians: " + " · ".join(f"{n} {statistics.median(v) * 1000:.0f} ms" for n, v in parts))


# --- 2. key press to screen update with a frozen member --------------------------------------


class FrameWatch:
    """Notes the first frame painted while `predicate` holds, by wrapping app._display."""

    def __init__(self, app: Any) -> None:
        self.predicate: Callable[[], bool] | None = None
        self.seen: float | None = None
        display = app._display

        def watched(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and self.predicate is not None and self.predicate():
                self.seen = time.perf_counter()
                self.predicate = None

        app._display = watched

    def arm(self, predicate: Callable[[], bool]) -> None:
        self.seen = None
        self.predicate = predicate


class GcPauses:
    """Times full (generation 2) garbage collections, which stop every thread."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began: float | None = None
        gc.callbacks.append(self._timed)

    def _timed(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began is not None:
            self.pauses.append(time.perf_counter() - self._began)
            self._began = None

    def stop(self) -> None:
        gc.callbacks.remove(self._timed)

    def summary(self) -> str:
        if not self.pauses:
            return "no full GC while measuring"
        return (
            f"full GC: {len(self.pauses)} collections, median "
            f"{statistics.median(self.pauses) * 1000:.0f} ms, max {max(self.pauses) * 1000:.0f} ms"
        )


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"keys: timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _keys(info: LabInfo, connection: Connection, presses: int) -> None:
    from textual.widgets import Static
    from textual.worker import WorkerState

    from etcdtui.ui.app import EtcdtuiApp
    from etcdtui.ui.poller import INTERVALS

    app = EtcdtuiApp(replace(connection, timeout=1.0), refresh=1.0)
    watch = FrameWatch(app)
    rng = random.Random(7)
    async with app.run_test(size=(100, 30)) as pilot:
        await _until(lambda: app.view is not None, 30, "the first refresh")
        view = app.view
        assert view is not None
        follower = next(m for m in reversed(view.members) if m.reachable and not m.is_leader)
        pid = info.pid(follower.name)
        if pid is None:
            raise SystemExit(f"keys: no pid for {follower.name}")
        dashboard = app.dashboard
        shows: list[float] = []
        show = dashboard.show

        def timed_show(*args: Any) -> None:
            started = time.perf_counter()
            show(*args)
            shows.append(time.perf_counter() - started)

        dashboard.show = timed_show  # type: ignore[method-assign]
        summary = dashboard.query_one("#summary", Static)

        def text() -> str:
            return str(summary.content)

        def shown_check(key: str) -> Callable[[], bool]:
            """What the screen shows once `key` took effect, decided before it is pressed."""
            if key in PANES:
                pane = PANES[key]
                return lambda: getattr(app.focused, "id", "") == pane
            if key == "p":
                pausing = not app.poller.paused
                return lambda: ("PAUSED" in text()) == pausing
            later = [i for i in INTERVALS if i > app.poller.interval]
            wanted = f"every {(later[0] if later else INTERVALS[0]):g} s"
            return lambda: wanted in text()

        os.kill(pid, signal.SIGSTOP)
        try:
            await _until(
                lambda: any(not m.reachable for m in (app.view.members if app.view else ())),
                15,
                f"{follower.name} to show as unreachable",
            )
            stalls: list[float] = []
            measuring = True

            async def heartbeat() -> None:  # how long the event loop is kept from running
                while measuring:
                    started = time.perf_counter()
                    await asyncio.sleep(0.005)
                    stalls.append(time.perf_counter() - started - 0.005)

            beat = asyncio.create_task(heartbeat())
            gc_pauses = GcPauses()
            polls_before, shows_before = app.polls, len(shows)
            window = time.perf_counter()
            latency: dict[str, list[float]] = {}
            calls: list[float] = []
            busy: list[float] = []
            idle: list[float] = []
            for n in range(presses):
                key = CYCLE[n % len(CYCLE)]
                check = shown_check(key)
                polling = any(
                    w.group == "poll" and w.state == WorkerState.RUNNING for w in app.workers
                )
                watch.arm(check)
                started = time.perf_counter()
                await pilot.press(key)
                calls.append(time.perf_counter() - started)
                deadline = time.perf_counter() + 5.0
                while watch.seen is None and time.perf_counter() < deadline:
                    await asyncio.sleep(0.001)
                if watch.seen is None:
                    raise SystemExit(f"keys: `{key}` was not on screen within 5 s")
                latency.setdefault(key, []).append(watch.seen - started)
                (busy if polling else idle).append(watch.seen - started)
                await asyncio.sleep(rng.uniform(0.05, 0.35))  # land at every phase of a poll
            window = time.perf_counter() - window
            polls = app.polls - polls_before
            measuring = False
            gc_pauses.stop()
            await beat
            frozen_shown = app.view is not None and any(
                m.name == follower.name and not m.reachable for m in app.view.members
            )
        finally:
            os.kill(pid, signal.SIGCONT)
    if polls < 2:
        raise SystemExit(f"keys: only {polls} polls in {window:.1f} s: polling was not running")

    every = [v for values in latency.values() for v in values]
    p50, p95 = pct(every, 50), pct(every, 95)
    print(
        f"key press -> screen updated, {follower.name} frozen       p50 {p50 * 1000:6.1f} ms   "
        f"p95 {p95 * 1000:6.1f} ms   max {max(every) * 1000:6.1f} ms   (target p95 <= 100 ms)"
    )
    per_key = " · ".join(
        f"{k} (n={len(v)}) p50 {pct(v, 50) * 1000:.0f} / max {max(v) * 1000:.0f}"
        for k, v in sorted(latency.items())
    )
    print(f"  by key (ms): {per_key}")
    split = " · ".join(
        f"{len(v)} {name}: p50 {pct(v, 50) * 1000:.0f} p95 {pct(v, 95) * 1000:.0f} ms"
        for name, v in (("with a poll in flight", busy), ("without", idle))
        if v
    )
    print(f"  presses {split}")
    print(
        f"  while measuring: {polls} polls done in {window:.1f} s (timeout 1 s, refresh 1 s), "
        f"{follower.name} shown unreachable: {'yes' if frozen_shown else 'NO'}"
    )
    window_shows = shows[shows_before:]
    print(
        f"  UI thread per refresh (dashboard.show): {ms(window_shows)} · event loop stalls "
        f"p95 {pct(stalls, 95) * 1000:.1f} ms, max {max(stalls) * 1000:.1f} ms · "
        f"pilot.press() call itself p50 {pct(calls, 50) * 1000:.0f} ms"
    )
    print(f"  {gc_pauses.summary()}")


def key_latency(info: LabInfo, presses: int) -> None:
    asyncio.run(_keys(info, load_connection(info.config_path, info.cluster), presses))


# --- 3. RSS over a long run -------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def rss_run(info: LabInfo, minutes: float, pycache: Path) -> None:
    total = minutes * 60
    warm = min(30.0, total / 4)
    every = min(10.0, max(1.0, (total - warm) / 6))
    # The child runs past the last sample; it is stopped once the samples are in.
    child = subprocess.Popen(
        child_command(info, "rss", total + 60),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=installed_env(pycache),
    )
    latest: dict[str, int] = {"polls": 0, "history": 0}
    gc_pauses: list[tuple[float, float]] = []  # (seconds since start, pause)

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("{"):
                values = json.loads(line)
                at = time.monotonic() - began
                gc_pauses.extend((at, pause) for pause in values.pop("gc2"))
                latest.update(values)

    began = time.monotonic()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    samples: list[tuple[float, int, int]] = []
    try:
        next_at = began + warm
        while True:
            time.sleep(max(0.0, next_at - time.monotonic()))
            if child.poll() is not None:
                raise SystemExit(f"rss: the app exited early ({child.returncode})")
            samples.append((time.monotonic() - began, rss_kb(child.pid), latest["polls"]))
            if next_at >= began + total - 0.5:
                break
            next_at = min(next_at + every, began + total)
        history = latest["history"]
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        reader.join(timeout=5)
    (_, start, polls0), (_, end, polls1) = samples[0], samples[-1]
    growth = (end - start) / 1024
    print(
        f"RSS at 1 s refresh over {minutes:g} min (after {warm:.0f} s warm-up)  "
        f"start {start / 1024:.1f} MB   end {end / 1024:.1f} MB   growth {growth:+.1f} MB   "
        f"polls {polls1 - polls0} ({polls1} in all)   (target growth <= 10 MB)"
    )
    trail = " ".join(f"{kb / 1024:.1f}" for _, kb, _ in samples)
    print(f"  samples every {every:.0f} s (MB): {trail} · history holds {history} refreshes")
    measured = [(at, pause) for at, pause in gc_pauses if warm <= at <= total]
    if measured:
        trail = " ".join(f"{pause * 1000:.0f}" for _, pause in measured)
        print(
            f"  full GC pauses on the UI thread after warm-up ({len(measured)}, in order, ms): "
            f"{trail}"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="cold starts (and etcdctl runs)")
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--rss-minutes", type=float, default=10.0)
    parser.add_argument("--only", choices=("start", "keys", "rss"))
    parser.add_argument("--members", type=int, default=5, choices=(3, 5))
    parser.add_argument("--etcd-version", default="3.5", choices=("3.4", "3.5"))
    parser.add_argument(
        "--no-cache", action="store_true", help="start: every run without a view cache"
    )
    args = parser.parse_args()
    parts = [args.only] if args.only else ["start", "keys", "rss"]

    with tempfile.TemporaryDirectory(prefix="etcdtui-bench-") as tmp:
        info = lab_up(Path(tmp) / "lab", members=args.members, etcd_version=args.etcd_version)
        try:
            runs = {
                "start": f"{args.runs} cold starts",
                "keys": f"{args.presses} key presses",
                "rss": f"RSS over {args.rss_minutes:g} min",
            }
            print(
                f"{args.members}-member lab, etcd {args.etcd_version}, {os.cpu_count()} CPUs; "
                + ", ".join(runs[part] for part in parts),
                flush=True,
            )
            if "start" in parts:
                cold_start(info, args.runs, Path(tmp) / "pycache", cache=not args.no_cache)
            if "keys" in parts:
                key_latency(info, args.presses)
            if "rss" in parts:
                rss_run(info, args.rss_minutes, Path(tmp) / "pycache")
        finally:
            lab_down(info.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
