"""The consistency check in the TUI: the Leader & health pane's Consistency line, and the
member detail's hash and repair action, from fixed readings."""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from etcdtui.services import samples
from etcdtui.services.consistency import MemberHash, Reading, check_interval
from etcdtui.ui.samples import sample_app
from etcdtui.ui.screens.detail import MemberDetailScreen, describe
from etcdtui.ui.widgets.panes import HealthPane, consistency_lines

HOSTILE = "[b]evil\x1b[2J"


def reading(names: list[str], bad: str = "") -> Reading:
    members = tuple(
        MemberHash(name, f"http://{name}:2379", 7 if name == bad else 42, 100, -1, 0.1,
                   consistent=name != bad)
        for name in names
    )  # fmt: skip
    minority = (bad,) if bad else ()
    verdict = f"{bad} differs from the majority" if bad else "consistent: every hash agrees"
    return Reading("prod", members, not bad, verdict, minority, revision=100,
                   taken_at=time.time() - 180)  # fmt: skip


def test_consistency_line_names_the_minority_and_when_it_ran() -> None:
    view = samples.healthy()
    names = [m.name for m in view.members]
    lines = consistency_lines(view, reading(names, bad=names[1]), checking=False)
    text = "\n".join(line.plain for line in lines)
    assert text.startswith("Consistency  3 min ago: ")
    assert f"{names[1]} differs from the majority" in text
    assert consistency_lines(view, None, checking=False) == []
    assert "checking" in consistency_lines(view, None, checking=True)[0].plain


def test_a_hostile_member_name_in_the_verdict_is_data() -> None:
    view = samples.healthy()
    lines = consistency_lines(view, reading([HOSTILE, "b", "c"], bad=HOSTILE), checking=True)
    assert "\x1b" not in lines[0].plain and "[b]evil" in lines[0].plain
    assert lines[0].plain.endswith("checking again…")


def test_check_interval_is_off_by_default_and_slow_on_a_large_db() -> None:
    view = samples.healthy()
    assert check_interval(0, view) == 0
    assert check_interval(60, view) == 60  # the samples' DBs are under 1 GB
    large = max((m.status.db_size for m in view.members if m.status), default=0) > 1 << 30
    assert check_interval(60, view) == (600 if large else 60)


async def test_pane_and_detail_show_the_reading() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.view  # type: ignore[attr-defined]
        names = [m.name for m in view.members]
        pane = app.query_one("#health", HealthPane)
        pane.show_consistency(reading(names, bad=names[2]))
        await pilot.pause()
        health = app.query_one("#health", Static).render()
        assert isinstance(health, Content)
        assert f"{names[2]} differs from the majority" in health.plain
        member = view.members[2]
        text = describe(member, view, app.history, None, [], reading(names, bad=names[2]))  # type: ignore[attr-defined]
        assert "Consistency     hash 7 at revision 100: DIFFERS from the majority" in text.plain
        assert isinstance(MemberDetailScreen, type)
