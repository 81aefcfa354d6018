"""The TUI driven like a person would, against real lab clusters."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import tomllib
from dataclasses import replace
from pathlib import Path

from textual.widgets import DataTable, Static

from etcdtui.config import cluster_names, dump_toml, from_flags, load_connection
from etcdtui.lab import LabInfo
from etcdtui.ui.actions import palette_entries
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.backups import BackupsScreen
from etcdtui.ui.screens.dashboard import DashboardScreen
from etcdtui.ui.screens.picker import ClusterPicker
from etcdtui.ui.widgets.footer import KeyFooter
from tests.helpers.labs import connection_of, follower


def rows(app: EtcdtuiApp) -> dict[str, list[str]]:
    table = app.query_one("#members", DataTable)
    result = {}
    for key in table.rows:
        cells = [str(c) for c in table.get_row(key)]
        result[cells[1]] = cells
    return result


async def test_members_appear_with_the_leader_marked(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = rows(app)
        assert sorted(shown) == ["node1", "node2", "node3"]
        assert [cells[0] for cells in shown.values()].count("★") == 1
        assert all(cells[2] == "healthy" for cells in shown.values())
        summary = str(app.query_one("#summary", Static).render())
        assert summary.startswith("HEALTHY") and "leader node" in summary


async def test_killed_member_is_flagged_while_the_others_keep_refreshing(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    app = EtcdtuiApp(connection_of(info), refresh=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        victim = follower(info)
        os.kill(info.pid(victim), signal.SIGKILL)
        before = app.polls
        while app.polls < before + 3:
            await pilot.pause(0.1)
        shown = rows(app)
        assert shown.pop(victim)[2] == "UNREACHABLE"
        assert "connection refused" in rows(app)[victim][-1]
        assert all(cells[2] == "healthy" for cells in shown.values())
        assert "UNHEALTHY" in str(app.query_one("#summary", Static).render())


async def test_pause_stops_polling_and_says_so(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=0.1)
    async with app.run_test(size=(120, 30)) as pilot:
        while app.polls < 2:
            await pilot.pause(0.05)
        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        paused_at = app.polls
        await pilot.pause(0.5)
        assert app.polls == paused_at
        assert "PAUSED" in str(app.query_one("#summary", Static).render())
        await pilot.press("p")
        while app.polls == paused_at:
            await pilot.pause(0.05)
        assert "PAUSED" not in str(app.query_one("#summary", Static).render())


async def test_unreachable_cluster_is_shown_as_such() -> None:
    app = EtcdtuiApp(from_flags("127.0.0.1:1", timeout=0.5), refresh=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "unreachable" in str(app.query_one("#summary", Static).render())
        assert rows(app)["http://127.0.0.1:1"][2] == "UNREACHABLE"


async def test_nospace_alarm_shows_in_the_quota_pane(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab(quota_bytes=4 * 1024 * 1024)
    env = {**os.environ, **info.etcdctl_env()}
    for i in range(64):
        put = subprocess.run(
            [info.etcdctl, "put", f"/fill/{i}"], input="x" * 256 * 1024, env=env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if put.returncode != 0:
            break
    app = EtcdtuiApp(connection_of(info), refresh=60)
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        quota = str(app.query_one("#quota", Static).render())
        assert "ALARM NOSPACE on node" in quota
        assert "CRITICAL" in str(app.query_one("#health", Static).render())
        assert str(app.query_one("#summary", Static).render()).startswith("UNHEALTHY")


async def test_frozen_member_is_unreachable_while_the_others_keep_refreshing(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    victim = follower(info)
    app = EtcdtuiApp(replace(connection_of(info), timeout=0.5), refresh=0.1)
    pid = info.pid(victim)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.polls < 1:
            await pilot.pause(0.05)
        os.kill(pid, signal.SIGSTOP)
        try:
            before = app.polls
            started = time.monotonic()
            while app.polls < before + 3 and time.monotonic() - started < 10:
                await pilot.pause(0.05)
            shown = rows(app)
        finally:
            os.kill(pid, signal.SIGCONT)
    assert app.polls >= before + 3  # polling goes on: each costs one timeout, not one per call
    assert shown[victim][2] == "UNREACHABLE" and "timed out after 0.5 s" in shown[victim][-1]
    assert all(cells[2] == "healthy" for name, cells in shown.items() if name != victim)


async def test_read_only_hides_every_changing_action(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60, read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        shown_keys = {b.key for b, _, _ in app.screen.query_one(KeyFooter).shown()}
        assert not {"d", "a", "n"} & shown_keys and {"r", "s"} <= shown_keys  # backups: a read
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)  # no runbook screen opened
        palette = [entry.name for entry, _ in palette_entries(app.screen)]
        assert not any(t.startswith(("Defragment", "NOSPACE", "Add a member")) for t in palette)
        assert any("read-only" in n.message for n in app._notifications)  # d said why
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert "s" in shown and not {"R", "C", "B"} & shown  # saving yes, restoring no
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)


async def test_s_opens_the_backups_screen(plain_lab: LabInfo, tmp_path: Path) -> None:
    connection = replace(connection_of(plain_lab), snapshot_dir=str(tmp_path))
    app = EtcdtuiApp(connection, refresh=60)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, BackupsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert str(tmp_path) in str(app.screen.query_one("#backups-summary", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_enter_opens_member_detail_with_its_node(plain_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(plain_lab), refresh=60)
    async with app.run_test(size=(120, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        text = str(app.screen.query_one("#detail", Static).render())
        name = text.split()[0]
        node = next(n for n in plain_lab.nodes if n.name == name)
        assert f"127.0.0.1:{node.ssh_port}" in text and "Profile         lab" in text
        assert "Applied index" in text and "bytes)" in text
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert "DB size vs quota" in str(app.screen.query_one("Markdown").source)  # type: ignore[attr-defined]


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
        polls = app.polls
        while app.polls == polls:
            await pilot.pause(0.05)
        assert len(rows(app)) == 5
        assert all(len(s.db_size) == 5 for s in app.history.samples)


async def test_backoff_when_no_member_answers() -> None:
    app = EtcdtuiApp(from_flags("127.0.0.1:1", timeout=0.2), refresh=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        while app.polls < 3:
            await pilot.pause(0.05)
        assert app.poller.failures >= 3
        assert app.poller.next_delay() >= 0.1 * 2**3
        assert "retrying in" in str(app.query_one("#summary", Static).render())
        app.poller.failures = 5000  # hours of an unreachable cluster: the pause stays capped
        assert app.poller.next_delay() == 30.0


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
        await app.workers.wait_for_complete()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any("nothing new" in n.message for n in app._notifications)
    flags = EtcdtuiApp(from_flags(plain_lab.endpoints[0]), refresh=60)
    async with flags.run_test(size=(80, 24)) as pilot:
        await flags.workers.wait_for_complete()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any("not read from a config file" in n.message for n in flags._notifications)
