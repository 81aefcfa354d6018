"""Switching clusters and reloading the config: nothing of the old cluster stays on screen."""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

from textual.widgets import Static

from etcdtui.config import cluster_names, dump_toml, from_flags, load_connection
from etcdtui.lab import LabInfo
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.picker import ClusterPicker
from tests.helpers.dashboard import first_refresh, rows
from tests.helpers.labs import connection_of


async def test_switching_clusters_leaves_nothing_stale(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first, second = make_lab(members=3), make_lab(members=5)
    config = tmp_path / "two.toml"
    config.write_text(
        first.config_path.read_text().replace("[clusters.lab", "[clusters.small")
        + "\n"
        + second.config_path.read_text().replace("[clusters.lab", "[clusters.big")
    )
    app = EtcdtuiApp(None, refresh=60, config_path=config, clusters=cluster_names(config))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ClusterPicker)
        await pilot.press("enter")  # "small", the first
        while app.polls < 1:
            await pilot.pause(0.05)
        assert len(rows(app)) == 3
        await pilot.press("c", "down", "enter")
        await pilot.pause()
        assert app.connection.cluster == "big"
        assert app.history.samples == type(app.history.samples)() or app.polls >= 1
        # The switch polls at once (the next timed poll is a minute away): wait for its rows.
        deadline = time.monotonic() + 30
        while len(rows(app)) != 5:
            assert time.monotonic() < deadline, rows(app)
            await pilot.pause(0.05)
        assert all(len(s.db_size) == 5 for s in app.history.samples)


async def test_a_changed_config_file_is_reloaded_and_its_ghost_member_leaves(
    plain_lab: LabInfo, tmp_path: Path
) -> None:
    """What replace-member leaves behind: the config lists a member that is gone. Once the
    config is rewritten, the dashboard drops the UNREACHABLE row and its CRITICAL finding."""
    ghost = "http://127.0.0.1:1"  # a removed member's client URL: nothing answers there
    data = tomllib.loads(plain_lab.config_path.read_text())
    clean = dump_toml(data)
    data["clusters"][plain_lab.cluster]["endpoints"].append(ghost)
    config = tmp_path / "etcdtui.toml"
    config.write_text(dump_toml(data))
    connection = load_connection(config, plain_lab.cluster)
    app = EtcdtuiApp(connection, refresh=0.2, config_path=config, clusters=cluster_names(config))
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 20
        while ghost not in rows(app):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        assert rows(app)[ghost][2] == "UNREACHABLE"
        assert "CRITICAL" in str(app.query_one("#health", Static).render())
        config.write_text(clean)
        stamp = config.stat().st_mtime_ns + 1_000_000_000
        os.utime(config, ns=(stamp, stamp))  # a new mtime even on a coarse clock
        while ghost in rows(app) or app.connection.endpoints != connection.endpoints[:-1]:
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        polls = app.polls
        while app.polls < polls + 2:
            await pilot.pause(0.05)
        assert ghost not in rows(app) and len(rows(app)) == 3
        assert "CRITICAL" not in str(app.query_one("#health", Static).render())
        assert any("Config file changed" in (n.title or "") for n in app._notifications)


async def test_ctrl_r_reloads_the_config_and_says_when_nothing_changed(
    plain_lab: LabInfo,
) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60, config_path=plain_lab.config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await first_refresh(app, pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any("nothing new" in n.message for n in app._notifications)
    flags = EtcdtuiApp(from_flags(plain_lab.endpoints[0]), refresh=60)
    async with flags.run_test(size=(80, 24)) as pilot:
        await flags.workers.wait_for_complete()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any("not read from a config file" in n.message for n in flags._notifications)
