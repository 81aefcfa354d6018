"""Regenerate every screenshot in screenshots/ from fixed data: `make screenshots`."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["TZ"] = "UTC"  # the summary shows the refresh time
time.tzset()

from textual.pilot import Pilot  # noqa: E402

from etcdtui.ui.runbook_samples import defrag_mid_run  # noqa: E402
from etcdtui.ui.samples import (  # noqa: E402
    sample_app,
    sample_backups_screen,
    sample_kube_screen,
    sample_runbook_screen,
)

Steps = Callable[[Pilot[int]], Awaitable[None]]


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
]


async def shoot(name: str, scenario: str, size: tuple[int, int], steps: Steps) -> Path:
    app = sample_app("healthy", via_ssh=True) if scenario == "via-ssh" else sample_app(scenario)
    async with app.run_test(size=size) as pilot:
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
