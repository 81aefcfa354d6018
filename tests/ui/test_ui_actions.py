"""Every action findable: one table feeds the footer, the palette, the help and read-only.

Driven like a person at 80x24, on the fixed sample cluster (no network: nothing here opens a
runbook that would reach its addresses).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from textual.command import CommandList, CommandPalette
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Markdown, Static
from textual.widgets._footer import FooterKey

from etcdtui.models import ClusterView, Histogram
from etcdtui.models.units import human_seconds
from etcdtui.services import samples
from etcdtui.services.health import FSYNC_GOOD, FSYNC_WARN, QUOTA_CRIT, QUOTA_WARN
from etcdtui.ui.actions import (
    ACTIONS,
    BY_ID,
    ActionCommands,
    Where,
    entries_for,
    where_of,
)
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.samples import (
    sample_app,
    sample_backups_screen,
    sample_kube_screen,
    sample_runbook_screen,
)
from etcdtui.ui.screens.audit import AuditScreen
from etcdtui.ui.screens.backups import BackupsScreen
from etcdtui.ui.screens.dashboard import DashboardScreen
from etcdtui.ui.screens.detail import MemberDetailScreen
from etcdtui.ui.screens.help import HelpScreen
from etcdtui.ui.screens.kube import KubeScreen
from etcdtui.ui.screens.runbook import RunbookScreen
from etcdtui.ui.widgets.footer import KeyFooter
from tests.helpers.dashboard import settle
from tests.helpers.terminal import plain_screen

os.environ["TZ"] = "UTC"
time.tzset()
SIZE = (80, 24)


async def until(pilot, condition: Callable[[], bool], seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


def notes(app: EtcdtuiApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def names(app: EtcdtuiApp) -> list[str]:
    table = app.screen.query_one("#members", DataTable)
    return [str(table.get_row(key)[1]) for key in table.rows]


# --- the palette -----------------------------------------------------------------------------


async def discovered(screen: Screen[object]) -> list[tuple[str, str]]:
    """(prompt text, help) of every palette entry the action provider offers on `screen`."""
    provider = ActionCommands(screen)
    return [(str(hit.text) + " " + str(hit.prompt), hit.help or "")
            async for hit in provider.discover()]  # fmt: skip


def screens_to_visit() -> list[tuple[Where, Callable[[], Screen[object]] | None]]:
    from pathlib import Path

    from etcdtui.runbooks.audit import AuditLog

    return [
        (Where.DASHBOARD, None),
        (Where.RUNBOOK, sample_runbook_screen),
        (Where.BACKUPS, sample_backups_screen),
        (Where.KUBE, sample_kube_screen),
        (Where.AUDIT, lambda: AuditScreen(AuditLog(Path("/nonexistent/etcdtui-audit.log")))),
    ]


@pytest.mark.parametrize(
    ("where", "make"), screens_to_visit(), ids=[str(w) for w, _ in screens_to_visit()]
)
async def test_every_action_of_a_screen_is_in_its_palette_and_help_with_its_key(
    where: Where, make: Callable[[], Screen[object]] | None
) -> None:
    app = sample_app("nospace")  # the NOSPACE key is offered only while the alarm is on
    app.switch.clusters = ["prod", "staging"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if make is not None:
            await app.push_screen(make())
            await settle(pilot)
        assert where_of(app.screen) is where
        offered = await discovered(app.screen)
        for entry in entries_for(where):
            node = app if entry.action.startswith("app.") else app.screen
            name = entry.action.removeprefix("app.").split("(")[0]
            if not node.check_action(name, ()):
                continue  # not possible in this state (abort while nothing runs)
            assert any(entry.name in text and entry.key_display in text for text, _ in offered), (
                entry.id
            )
        app.action_help()  # `?` in a focused input types a `?`: the action itself
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = app.screen.text
        for entry in entries_for(where):
            assert f"| `{entry.key_display}` | {entry.name}" in help_text, entry.id
        # this screen's key table comes first
        assert help_text.index(f"## Keys: {where.value}") < help_text.index("## Keys:", 1) + 1


async def test_member_detail_palette_and_help_list_its_keys() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemberDetailScreen)
        offered = " ".join(text for text, _ in await discovered(app.screen))
        for entry in entries_for(Where.DETAIL):
            if entry.id != "remove-unstarted":  # only for a member never started
                assert entry.name in offered, entry.id
        await pilot.press("question_mark")
        await pilot.pause()
        text = app.screen.text  # type: ignore[attr-defined]
        assert text.index("## Keys: member detail") < text.index("## Keys: dashboard")


def test_every_table_entry_belongs_somewhere_and_ids_are_unique() -> None:
    assert len(BY_ID) == len(ACTIONS)
    assert all(entry.screens and entry.help and entry.title for entry in ACTIONS)


@pytest.mark.parametrize(
    ("word", "name"),
    [("defrag", "Defragment…"), ("backup", "Backups…"), ("kube", "Kubernetes…"),
     ("add", "Add a member…"), ("cluster", "Switch cluster…"),
     ("pause", "Pause / resume refresh"), ("nospace", "NOSPACE recovery…")],
)  # fmt: skip
async def test_typing_a_word_in_the_palette_finds_its_action(word: str, name: str) -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon")  # k9s: `:` opens the palette
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*word)
        commands = app.screen.query_one(CommandList)

        def prompts() -> list[str]:
            return [str(commands.get_option_at_index(i).prompt)
                    for i in range(commands.option_count)]  # fmt: skip

        await until(pilot, lambda: any(name in p for p in prompts()))
        assert name in prompts()[0]


async def test_scale_out_is_reachable_from_the_palette() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")  # Textual's key works beside `:`
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"add a member", "enter")
        # The sample's every node runs a member: the runbook says what is missing.
        await until(pilot, lambda: any("No node of the config is free" in n for n in notes(app)))
        assert isinstance(app.screen, DashboardScreen)


# --- the footer ------------------------------------------------------------------------------


def footer_keys(app: EtcdtuiApp) -> list[FooterKey]:
    footer = app.screen.query_one(KeyFooter)
    return [k for k in footer.query(FooterKey) if k.display]


@pytest.mark.parametrize(
    ("scenario", "read_only", "keys"),
    [("healthy", False, ()), ("nospace", False, ()), ("healthy", True, ()),
     ("healthy", False, ("enter",))],
    ids=["dashboard", "nospace", "read-only", "detail"],
)  # fmt: skip
async def test_footer_at_80_columns_shows_help_first_and_only_whole_keys(
    scenario: str, read_only: bool, keys: tuple[str, ...]
) -> None:
    app = sample_app(scenario, read_only=read_only)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*keys)
        await pilot.pause()
        footer = app.screen.query_one(KeyFooter)
        await until(pilot, lambda: bool(footer_keys(app)) and footer_keys(app)[0].region.width > 0)
        shown = footer_keys(app)
        assert shown[0].key_display == "?" and shown[0].description == "Help"
        for key in shown:  # every key lies inside the footer: none is cut
            assert key.region.right <= footer.region.right, key.description
            assert key.region.width >= len(key.key_display) + 1 + len(key.description)
        screen_text = plain_screen(app)
        last = screen_text.splitlines()[-1]
        for key in shown:
            assert f"{key.key_display} {key.description}" in last
        words = {f"{k.key_display} {k.description}" for k in shown}
        if scenario == "nospace":
            assert "n NOSPACE" in words
        if read_only:
            assert not {"d Defrag", "a Add"} & words
        if keys:
            assert {"esc Back", "d Defrag", "s Backups"} <= words


async def test_a_click_on_a_footer_key_presses_it() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The footer builds its keys after the screen settles: on a loaded machine, later.
        await until(pilot, lambda: any(k.description == "Help" for k in footer_keys(app)))
        help_key = next(k for k in footer_keys(app) if k.description == "Help")
        await pilot.click(help_key)
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_the_footer_is_rebuilt_only_when_its_keys_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rebuilt: list[int] = []
    recompose = Footer.recompose

    async def counted(self: Footer) -> None:
        rebuilt.append(1)
        await recompose(self)

    monkeypatch.setattr(Footer, "recompose", counted)
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: any(k.description == "Help" for k in footer_keys(app)))
        await pilot.pause(0.1)
        built, keys = len(rebuilt), [k.description for k in footer_keys(app)]
        assert built == 1, "the first keys need one build, however often the bindings refresh"
        for _ in range(3):  # what focus changes and refreshes do: the same keys
            app.screen.refresh_bindings()
            await pilot.pause(0.05)
        assert len(rebuilt) == built
        await pilot.resize_terminal(40, 24)  # fewer keys fit: rebuilt
        await until(pilot, lambda: len(rebuilt) > built)
        await until(pilot, lambda: len(footer_keys(app)) < len(keys))
        narrow = [k.description for k in footer_keys(app)]
        assert narrow[0] == "Help" and set(narrow) < set(keys)


# --- k9s habits: filter, sort, copy, mouse ---------------------------------------------------


async def test_slash_filters_members_by_name_url_or_id_and_esc_clears() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"node2")
        await pilot.pause()
        assert names(app) == ["node2"]
        title = str(app.screen.query_one("#members").border_title)
        assert "1 of 3" in title
        await pilot.press("enter")  # keeps the filter, back to the table
        assert app.screen.focused is app.screen.query_one("#members")
        assert names(app) == ["node2"]
        await pilot.press("escape")
        await pilot.pause()
        assert names(app) == ["node1", "node2", "node3"]
        await pilot.press("slash", *"fd4223")  # an ID's start
        await pilot.pause()
        assert names(app) == ["node3"]
        await pilot.press("escape")
        await pilot.press("slash", *"10.0.0.11:2380")  # a peer URL
        await pilot.pause()
        assert names(app) == ["node1"]
        await pilot.press("escape")
        await pilot.pause()
        assert names(app) == ["node1", "node2", "node3"]
        assert not app.screen.query_one("#filter").display


async def test_one_key_sorts_by_each_column_and_a_header_click_reverses() -> None:
    view = samples.healthy()
    # node3 smallest, node1 largest: the size order differs from the name order.
    sizes = {"node1": 900_000_000, "node2": 500_000_000, "node3": 100_000_000}
    members = tuple(replace(m, status=replace(m.status, db_size=sizes[m.name]))  # type: ignore[arg-type]
                    for m in view.members)  # fmt: skip
    app = EtcdtuiApp(None, refresh=3600, source=samples.FixedSource(replace(view, members=members)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#members")
        await pilot.press("S")  # NAME
        assert "sorted by NAME ▲" in str(table.border_title)
        assert names(app) == ["node1", "node2", "node3"]
        for _ in range(len(("STATE", "ID", "VERSION", "TERM", "INDEX", "APPLIED", "DB SIZE"))):
            await pilot.press("S")
        assert "sorted by DB SIZE" in str(table.border_title)
        assert names(app) == ["node3", "node2", "node1"]
        await pilot.click(table, offset=cell_offset(table, "NAME", -1))  # its header
        await pilot.pause()
        assert "sorted by NAME ▲" in str(table.border_title)
        assert names(app) == ["node1", "node2", "node3"]
        await pilot.click(table, offset=cell_offset(table, "NAME", -1))  # again: reversed
        await pilot.pause()
        assert "sorted by NAME ▼" in str(table.border_title)
        assert names(app) == ["node3", "node2", "node1"]
        assert isinstance(app.screen, DashboardScreen)
        help_text = HelpScreen().text
        assert "`S`" in help_text and "header" in help_text


def cell_offset(table: DataTable[object], column: str, row: int) -> tuple[int, int]:
    """Where to click, relative to the table, for a cell (row -1: the header)."""
    inner_x = table.content_region.x - table.region.x
    inner_y = table.content_region.y - table.region.y
    x = inner_x
    for col in table.ordered_columns:
        if str(col.label.plain) == column:
            return x + 1, inner_y + 1 + row
        x += col.get_render_width(table)
    raise AssertionError(column)


async def test_y_copies_the_selected_member_id_and_says_so() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "y")
        await pilot.pause()
        expected = format(samples.IDS[1], "x")
        assert app.clipboard == expected
        assert any(expected in n and "node2" in n for n in notes(app))
        await pilot.press("down", "enter", "y")  # in member detail too
        await pilot.pause()
        assert app.clipboard == format(samples.IDS[2], "x")


async def test_a_click_selects_a_row_and_a_double_click_opens_it() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#members", DataTable)
        await pilot.click(table, offset=cell_offset(table, "NAME", 2))
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert table.cursor_row == 2
        await pilot.click(table, offset=cell_offset(table, "NAME", 1))
        await pilot.pause()
        await pilot.click(table, offset=cell_offset(table, "NAME", 1))  # a second single click
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen) and table.cursor_row == 1
        await pilot.double_click(table, offset=cell_offset(table, "NAME", 1))
        await until(pilot, lambda: isinstance(app.screen, MemberDetailScreen))
        assert app.screen.key == format(samples.IDS[1], "x")  # type: ignore[attr-defined]


# --- keys that do nothing say why ------------------------------------------------------------


async def test_c_with_one_cluster_says_why() -> None:
    app = sample_app("healthy")
    app.switch.clusters = ["prod"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        assert any("only one cluster is configured" in n for n in notes(app))
        assert isinstance(app.screen, DashboardScreen)


async def test_n_without_an_alarm_says_why() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert any("no NOSPACE alarm is active" in n for n in notes(app))


async def test_read_only_shows_a_badge_and_changing_keys_say_read_only() -> None:
    app = sample_app("healthy", read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "READ-ONLY" in plain_screen(app).splitlines()[0]  # the header, on every screen
        assert "READ-ONLY" in str(app.screen.query_one("#summary", Static).render())
        for key in ("d", "a"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)
        assert sum("read-only" in n for n in notes(app)) == 2
        offered = " ".join(text for text, _ in await discovered(app.screen))
        assert "Defragment" not in offered and "Add a member" not in offered
        assert "Backups" in offered  # a read
        await pilot.press("enter")
        await pilot.pause()
        assert "READ-ONLY" in plain_screen(app).splitlines()[0]
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, MemberDetailScreen)
        assert sum("read-only" in n for n in notes(app)) == 3
        detail = str(app.screen.query_one("#detail", Static).render())
        actions = detail.split("Actions", 1)[1]
        assert "defragment" not in actions and "replace" not in actions


async def test_member_detail_lists_only_keys_that_work_there() -> None:
    app = sample_app("healthy")
    pressed: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        # Record instead of opening a runbook, which would reach the sample's addresses.
        app.action_defrag = lambda: pressed.append("d")  # type: ignore[method-assign]
        app.action_snapshot = lambda: pressed.append("s")  # type: ignore[method-assign]
        app.action_replace_member = lambda name: pressed.append("R")  # type: ignore[method-assign]
        detail = str(app.screen.query_one("#detail", Static).render())
        listed = [line.split()[0] for line in detail.split("Actions", 1)[1].splitlines()[1:]
                  if line.strip()]  # fmt: skip
        assert listed == ["d", "s", "R", "y"]
        await pilot.press("d", "s", "R")
        await pilot.pause()
        assert pressed == ["d", "s", "R"]
        await pilot.press("X")  # not listed: node2 has started; says why
        await pilot.pause()
        assert any("never started" in n for n in notes(app))


# --- help ------------------------------------------------------------------------------------


def test_help_thresholds_come_from_the_health_rules() -> None:
    text = HelpScreen().text
    assert f"**{QUOTA_WARN:.0%}**" in text and f"**{QUOTA_CRIT:.0%}**" in text
    assert f"**{human_seconds(FSYNC_GOOD)}**" in text and f"**{human_seconds(FSYNC_WARN)}**" in text
    assert text.index("## Keys: dashboard") < text.index("## Members")


async def test_help_opens_on_this_screens_keys() -> None:
    app = sample_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        markdown = app.screen.query_one(Markdown)
        assert markdown.source.startswith("# etcdtui help")  # type: ignore[attr-defined]
        assert "Keys: dashboard" in plain_screen(app)  # at the top, in view


# --- the other screens bind what the table says ----------------------------------------------


@pytest.mark.parametrize(
    ("cls", "where"),
    [(RunbookScreen, Where.RUNBOOK), (BackupsScreen, Where.BACKUPS), (KubeScreen, Where.KUBE),
     (AuditScreen, Where.AUDIT)],
)  # fmt: skip
def test_screens_bind_the_keys_the_table_lists(cls: type[Screen[object]], where: Where) -> None:
    bound = {(b.id, b.key, b.action) for b in cls.BINDINGS if not isinstance(b, tuple)}
    table = {(e.id, e.key, e.action) for e in entries_for(where) if e.screens == {where}}
    assert table <= bound, "a key the table lists is not bound"
    assert {b for b in bound if b[0] not in BY_ID} == set(), "a key missing from the table"


# --- one number per metric per refresh -------------------------------------------------------


def _slow_lately(
    view: ClusterView, earlier: list[ClusterView]
) -> tuple[ClusterView, list[ClusterView]]:
    """node3: fast fsyncs for hours, then slow ones in the last minute. Its lifetime p99 is
    fast, its last minute's slow: the window's number must show everywhere."""
    bounds = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024)

    def fsync(fast: float, slow: float) -> Histogram:
        buckets = tuple((b, fast + (slow if b >= 0.064 else 0.0)) for b in bounds)
        return Histogram((*buckets, (float("inf"), fast + slow)), fast + slow, fast * 0.0005)

    def with_fsync(v: ClusterView, h: Histogram) -> ClusterView:
        m = v.members[2]
        assert m.metrics is not None
        node3 = replace(m, metrics=replace(m.metrics, wal_fsync=h))
        return replace(v, members=(*v.members[:2], node3))

    older = [with_fsync(v, fsync(100_000, 0)) for v in earlier]
    return with_fsync(view, fsync(100_000, 50)), older


async def test_the_same_p99_shows_in_every_pane_the_detail_and_the_findings() -> None:
    view, earlier = _slow_lately(samples.healthy(), samples.history(samples.healthy()))
    app = EtcdtuiApp(None, refresh=3600, source=samples.FixedSource(view))
    for v in earlier:
        app.history.add(v)
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(pilot)
        node3 = view.members[2]
        assert node3.metrics is not None and node3.member_id is not None
        latency = app.history.latency(node3.member_id)
        assert latency is not None and latency.wal_fsync is not None
        shown = human_seconds(latency.wal_fsync)
        lifetime = human_seconds(node3.metrics.wal_fsync_p99)
        assert shown != lifetime  # the case that used to disagree
        health = str(app.screen.query_one("#health", Static).render())
        disk = str(app.screen.query_one("#disk", Static).render())
        assert f"node3 WAL fsync p99 {shown} over the last 60 s" in health
        disk_row = next(line for line in disk.splitlines() if line.startswith("node3"))
        assert f"{shown} CRITICAL" in disk_row or f"{shown} WARNING" in disk_row
        assert app.screen.query_one("#disk").border_subtitle == "p99 over the last 60 s"
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        detail = str(app.screen.query_one("#detail", Static).render())
        assert "Metrics (p99 over the last 60 s)" in detail
        assert f"WAL fsync p99        {shown}" in detail
        assert f"node3 WAL fsync p99 {shown} over the last 60 s" in detail
        for text in (health, disk, detail):
            assert lifetime not in text.replace(shown, "")


# --- the sample histories fill their histograms ---------------------------------------------


def test_sample_history_gives_the_window_the_views_own_p99() -> None:
    app = sample_app("healthy")
    view = samples.healthy()
    app.history.add(view)
    for member in view.members:
        assert member.member_id is not None and member.metrics is not None
        latency = app.history.latency(member.member_id)
        assert latency is not None and latency.span == pytest.approx(60.0)
        assert latency.wal_fsync == pytest.approx(member.metrics.wal_fsync_p99)


def test_palette_entries_differ_per_screen() -> None:
    dashboard = {e.id for e in entries_for(Where.DASHBOARD)}
    runbook = {e.id for e in entries_for(Where.RUNBOOK)}
    assert "defrag" in dashboard and "defrag" not in runbook
    assert "runbook-execute" in runbook and "runbook-execute" not in dashboard
    assert {"help", "palette", "quit"} <= dashboard & runbook
