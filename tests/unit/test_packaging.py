"""The wheel carries styles/ and an installed etcdtui finds it, outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEADLESS = """
import asyncio, etcdtui
from etcdtui.config import from_flags
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.paths import styles_dir

async def main():
    app = EtcdtuiApp(from_flags("127.0.0.1:1"), refresh=60)
    async with app.run_test(size=(80, 24)) as pilot:
        summary = lambda: str(app.query_one("#summary").render())
        for _ in range(300):  # the first poll's answer, within 30 s even on a loaded machine
            await app.workers.wait_for_complete()
            await pilot.pause(0.1)
            if "unreachable" in summary():
                break
        print("module=" + etcdtui.__file__)
        print("styles=" + str(styles_dir()))
        print("summary=" + str(app.query_one("#summary").render()).replace("\\n", " "))

asyncio.run(main())
"""


def test_wheel_installs_outside_the_checkout_and_starts_headless(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    wheel = next(dist.glob("etcdtui-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    # Dependencies come from the project's venv (a .pth after the new site-packages), so the
    # test needs no network; etcdtui itself must come from the wheel.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run = subprocess.run(
        [str(python), "-c", HEADLESS], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    printed = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    module_file, styles, summary = printed["module"], printed["styles"], printed["summary"]
    assert module_file.startswith(str(venv))
    assert styles.startswith(str(venv)) and Path(styles, "app.tcss").is_file()
    assert "unreachable" in summary

    version = subprocess.run(
        [str(venv / "bin" / "etcdtui"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("etcdtui ")
