"""Regenerate every screenshot in screenshots/ from fixed data: `make screenshots`."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["TZ"] = "UTC"  # the summary shows the refresh time
time.tzset()

from textual.pilot import Pilot  # noqa: E402

from etcdtui.models import ClusterView  # noqa: E402
from etcdtui.services import samples, view_cache  # noqa: E402
from etcdtui.ui.app import EtcdtuiApp  # noqa: E402
from etcdtui.ui.runbook_samples import defrag_mid_run  # noqa: E402
from etcdtui.ui.samples import (  # noqa: E402
    sample_app,
    sample_backups_screen,
    sample_connection,
    sample_kube_screen,
    sample_runbook_screen,
)
from etcdtui.ui.widgets import stale  # noqa: E402

Steps = Callable[[Pilot[int]], Awaitable[None]]
CACHED_AGE = 240.0  # the cached view was saved 4 minutes before the screenshot


class NotAnsweredYet:
    """A cluster whose first poll has not returned when the screenshot is taken."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view
        self.released = threading.Event()

    def read(self, metrics: bool = True, health: bool = True) -> ClusterView:
        self.released.wait(30)
        return self.view

    def close(self) -> None:
        self.released.set()


def cached_app() -> EtcdtuiApp:
    """A start on the healthy sample cluster: its view saved 4 minutes earlier, painted stale
    while the first poll waits. The clock is the sample's, so the picture does not change."""
    view = samples.healthy()
    clock = SimpleNamespace(time=lambda: view.taken_at + CACHED_AGE,
                            localtime=time.localtime, strftime=time.strftime)  # fmt: skip
    view_cache.time = clock  # type: ignore[assignment]
    stale.time = clock  # type: ignore[assignment]
    cache = view_cache.ViewCache(Path(tempfile.mkdtemp(prefix="etcdtui-shots-")))
    clock.time = lambda: view.taken_at  # saved when the sample was taken
    cache.save(sample_connection(), view)
    clock.time = lambda: view.taken_at + CACHED_AGE
    return EtcdtuiApp(sample_connection(), refresh=3600, source=NotAnsweredYet(view),
                      view_cache=cache)  # fmt: skip


async def nothing(pilot: Pilot[int]) -> None:
    pass


async def detail(pilot: Pilot[int]) -> None:
    await pilot.press("down", "down", "enter")


async def help_screen(pilot: Pilot[int]) -> None:
    await pilot.press("question_mark")


async def defrag_plan(pilot: Pilot[int]) -> None:
    await pilot.app.push_screen(sample_runbook_screen())
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)


async def backups(pilot: Pilot[int]) -> None:
    await pilot.app.push_screen(sample_backups_screen())
    await pilot.pause(0.3)


async def kubernetes(pilot: Pilot[int]) -> None:
    await pilot.app.push_screen(sample_kube_screen())
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)


async def runbook_mid_run(pilot: Pilot[int]) -> None:
    await defrag_mid_run(pilot)


SHOTS: list[tuple[str, str, tuple[int, int], Steps]] = [
    ("dashboard-healthy", "healthy", (160, 45), nothing),
    ("dashboard-80x24", "healthy", (80, 24), nothing),
    ("dashboard-frozen-member", "frozen-member", (160, 45), nothing),
    ("dashboard-nospace", "nospace", (160, 45), nothing),
    ("member-detail", "healthy", (100, 45), detail),
    ("help", "healthy", (100, 40), help_screen),
    ("runbook-defrag-plan", "healthy", (130, 42), defrag_plan),
    ("backups", "healthy", (120, 24), backups),
    ("dashboard-via-ssh", "via-ssh", (160, 45), nothing),
    ("kubernetes", "healthy", (140, 45), kubernetes),
    ("runbook-defrag-mid-run-80x24", "healthy", (80, 24), runbook_mid_run),
    ("dashboard-cached-start", "cached", (120, 30), nothing),
]


async def shoot(name: str, scenario: str, size: tuple[int, int], steps: Steps) -> Path:
    if scenario == "cached":
        app = cached_app()
    elif scenario == "via-ssh":
        app = sample_app("healthy", via_ssh=True)
    else:
        app = sample_app(scenario)
    async with app.run_test(size=size) as pilot:
        if scenario != "cached":  # its first poll is held until the app ends
            # The poll's worker starts after the first paint: wait for what it shows.
            while app.polls < 1:
                await pilot.pause(0.02)
            await app.workers.wait_for_complete()
        await pilot.pause()
        await steps(pilot)
        await pilot.pause(0.2)
        path = ROOT / "screenshots" / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(path.parent))
    return path


async def main() -> None:
    (ROOT / "screenshots").mkdir(exist_ok=True)
    for shot in SHOTS:
        print(await shoot(*shot))


if __name__ == "__main__":
    asyncio.run(main())
