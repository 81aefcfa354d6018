"""Numbers and text as the user reads them: sizes like etcdctl, bars, sparklines, `status`."""

from __future__ import annotations

import json

import pytest
from textual.content import Content

from etcdtui.models import (
    Alarm,
    ClusterView,
    Member,
    MemberHealth,
    MemberMetrics,
    MemberStatus,
    MemberView,
)
from etcdtui.models.runbook import Check, Plan, RunReport, Step, Verdict
from etcdtui.models.severity import Severity, worst
from etcdtui.models.text import printable
from etcdtui.models.units import human_bytes, human_seconds
from etcdtui.runbooks.render import render_plan, render_report
from etcdtui.services.status import render_json, render_table, verdict
from etcdtui.ui.format import (
    escape,
    markup,
    plain,
    quota_bar,
    severity_content,
    severity_markup,
    sparkline,
)

# --- human_bytes: go-humanize's Bytes, as etcdctl prints dbSize ------------------------------
# Expected values worked out by hand from go-humanize: e = floor(log1000(s)),
# v = floor(s / 1000**e * 10 + 0.5) / 10, "%.1f" below 10 else "%.0f" (Go rounds half to even).


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (9, "9 B"),
        (10, "10 B"),
        (803, "803 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1024, "1.0 kB"),
        (1050, "1.1 kB"),
        (2449, "2.4 kB"),
        (2450, "2.5 kB"),
        (9949, "9.9 kB"),
        (9950, "10 kB"),
        (9999, "10 kB"),
        (12_500, "12 kB"),  # v = 12.5, "%.0f" rounds half to even
        (13_500, "14 kB"),
        (20_480, "20 kB"),
        (999_999, "1000 kB"),
        (1_000_000, "1.0 MB"),
        (1_048_576, "1.0 MB"),
        (9_999_000, "10 MB"),
        (104_857_600, "105 MB"),
        (999_999_000, "1000 MB"),
        (2_147_483_648, "2.1 GB"),
        (5_500_000_000, "5.5 GB"),
        (8_589_934_592, "8.6 GB"),
        (999_999_000_000, "1000 GB"),
        (10**12, "1.0 TB"),
        (999 * 10**12, "999 TB"),
        (10**15, "1.0 PB"),
        (999 * 10**15, "999 PB"),
        (10**18, "1.0 EB"),
        (12_500_000_000_000_000_000, "12 EB"),
    ],
)
def test_human_bytes_matches_go_humanize(size: int, text: str) -> None:
    assert human_bytes(size) == text


def test_human_bytes_of_unknown_is_a_dash() -> None:
    assert human_bytes(None) == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.0, "0.0 ms"), (0.0008, "0.8 ms"), (0.0095, "9.5 ms"), (0.010, "10 ms"),
     (0.012, "12 ms"), (0.5, "500 ms"), (1.0, "1.0 s"), (1.26, "1.3 s"), (12.0, "12.0 s")],
)  # fmt: skip
def test_human_seconds_uses_the_unit_a_person_reads_best(seconds, text) -> None:
    assert human_seconds(seconds) == text


def test_member_id_prints_like_etcdctl_lower_hex_without_padding() -> None:
    assert Member(0x0123456789ABCDEF, "n", (), ()).id_hex == "123456789abcdef"
    assert Member(0x8E9E05C52164694D, "n", (), ()).id_hex == "8e9e05c52164694d"


# --- quota bar -------------------------------------------------------------------------------


def test_quota_bar_marks_80_and_95_percent_in_the_empty_part() -> None:
    # Cell 15 of 20 ends at 80%, cell 18 at 95%.
    assert quota_bar(0.0) == "░" * 15 + "│" + "░░" + "│" + "░"
    assert quota_bar(0.5) == "█" * 10 + "░" * 5 + "│░░│░"


def test_quota_bar_fill_covers_a_passed_mark() -> None:
    assert quota_bar(0.85) == "█" * 17 + "░│░"
    assert quota_bar(0.97) == "█" * 19 + "░"


@pytest.mark.parametrize(("usage", "filled"), [(0.1, 4), (0.25, 10), (0.6, 24), (1.0, 40)])
def test_quota_bar_fills_in_proportion(usage: float, filled: int) -> None:
    bar = quota_bar(usage, width=40)
    assert len(bar) == 40
    assert bar.count("█") == filled
    assert bar.startswith("█" * filled)


def test_quota_bar_over_quota_is_full_not_longer() -> None:
    assert quota_bar(1.7) == "█" * 20


def test_quota_bar_without_usage_is_dotted() -> None:
    assert quota_bar(None) == "·" * 20
    assert quota_bar(None, width=8) == "·" * 8


# --- sparkline -------------------------------------------------------------------------------


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1_000_000, 1_000_004, 1_000_008]) == "▁▅█"
    assert sparkline([-3.0, 3.0]) == "▁█"


def test_flat_sparkline_sits_on_the_floor() -> None:
    assert sparkline([42.0, 42.0, 42.0]) == "▁▁▁"


def test_sparkline_shows_only_the_last_width_values() -> None:
    line = sparkline([float(v) for v in range(30)], width=16)
    assert len(line) == 16
    assert line[0] == "▁" and line[-1] == "█"
    assert sparkline([9.0, 0.0, 5.0], width=2) == "▁█"


def test_empty_sparkline_is_empty() -> None:
    assert sparkline([]) == ""


# --- severity: one ordered vocabulary, its words and its markup ------------------------------


def test_severities_order_by_badness_not_by_spelling() -> None:
    assert sorted([Severity.WARN, Severity.CRITICAL, Severity.OK]) == list(Severity)
    assert Severity.OK < Severity.WARN < Severity.CRITICAL
    assert worst([Severity.WARN, Severity.OK]) is Severity.WARN
    assert worst([]) is Severity.OK
    assert Severity.CRITICAL > "warn"  # a plain string is read as the severity it names


def test_severity_serializes_as_the_words_scripts_read() -> None:
    assert json.dumps([Severity.OK, Severity.WARN, Severity.CRITICAL]) == (
        '["ok", "warn", "critical"]'
    )
    assert Severity.CRITICAL == "critical" and f"{Severity.WARN}" == "warn"
    assert [s.word for s in Severity] == ["ok", "WARNING", "CRITICAL"]
    assert [s.tag for s in Severity] == ["OK", "WARN", "CRITICAL"]


def test_verdicts_and_severities_map_one_to_one() -> None:
    assert [s.verdict.name for s in Severity] == ["PASS", "WARN", "FAIL"]
    assert all(s.verdict.severity is s for s in Severity)


def test_severity_markup_says_the_word_not_only_the_colour() -> None:
    assert severity_markup(Severity.OK) == "[$success]ok[/]"
    assert severity_markup(Severity.WARN) == "[bold $warning]WARNING[/]"
    assert severity_markup(Severity.CRITICAL) == "[bold $error]CRITICAL[/]"


def test_severity_markup_escapes_the_text() -> None:
    assert severity_markup(Severity.CRITICAL, "fsync [slow]") == r"[bold $error]fsync \[slow][/]"


# --- outside text on screen: data, never markup ----------------------------------------------

HOSTILE = "[/]\x1b]0;pwned\x07[bold]\u202e\\"  # markup, an OSC, a bidi override, a backslash
HOSTILE_SHOWN = "[/]\\x1b]0;pwned\\x07[bold]\\u202e\\"


def test_markup_puts_values_in_as_text_and_styles_only_our_tags() -> None:
    content = markup("[b]$name[/b] · $url", name=HOSTILE, url="http://[fd00::1]:2379")
    assert content.plain == f"{HOSTILE_SHOWN} · http://[fd00::1]:2379"
    # One span, ours, over exactly the name: the value's trailing backslash did not eat [/b].
    assert [(s.start, s.end) for s in content.spans] == [(0, len(HOSTILE_SHOWN))]


def test_markup_escapes_newlines_unless_kept() -> None:
    assert markup("$e", e="a\nb").plain == "a\\nb"
    assert markup("$e", e="a\nb\x1b", keep_newlines=True).plain == "a\nb\\x1b"


def test_escape_keeps_brackets_literal_and_control_characters_visible() -> None:
    for text in ("[/]", "[bold]x", "http://[fd00::1]:2379", "a\\[b]", "[$error]x", "\x1b[2J"):
        assert Content.from_markup(f"<{escape(text)}>").plain == f"<{printable(text)}>"


def test_severity_content_shows_outside_text_as_written() -> None:
    content = severity_content(Severity.CRITICAL, f"ALARM NOSPACE on {HOSTILE}")
    assert content.plain == f"ALARM NOSPACE on {HOSTILE_SHOWN}"
    assert [str(s.style) for s in content.spans] == ["bold $error"]


def test_plain_text_is_never_read_as_markup() -> None:
    text = plain("[bold]x[/]\x1b[2J")
    assert text.plain == "[bold]x[/]\\x1b[2J" and not text.spans


def _hostile_plan() -> Plan:
    step = Step("defrag-1", "defrag", HOSTILE, f"etcdctl defrag --endpoints={HOSTILE}\n  2. [x] rm",
                "follower first\n\x1b[2J")  # fmt: skip
    check = Check(HOSTILE, Verdict.PASS, "line one\nline two \x1b]0;t\x07")
    return Plan("defrag", HOSTILE, (step,), (check,), notes=(HOSTILE,))


def test_plan_text_has_no_control_character_and_one_line_per_command() -> None:
    text = render_plan(_hostile_plan())
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    step_lines = [line for line in text.splitlines() if line.startswith("   1. ")]
    assert step_lines == [
        f"   1. [{HOSTILE_SHOWN}] etcdctl defrag --endpoints={HOSTILE_SHOWN}\\n  2. [x] rm"
    ]
    # No line forged from a value's line break: only our step line starts with a number.
    assert not any(line.lstrip().startswith("2.") for line in text.splitlines())
    # A reason keeps its lines, indented under the check.
    assert "line one\n      line two \\x1b]0;t\\x07" in text


def test_report_text_has_no_control_character() -> None:
    plan = _hostile_plan()
    report = RunReport(plan, "run-1", stopped=f"step 1 failed: \x1b[2J{HOSTILE}\nmore",
                       summary=[f"{HOSTILE}: 1 GB -> 10 MB"])  # fmt: skip
    report.verification = [Check("health", Verdict.FAIL, f"{HOSTILE} unhealthy")]
    text = render_report(report)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert f"not run, left untouched: {HOSTILE_SHOWN}" in text
    assert "STOPPED after 0 of 1 steps: step 1 failed: \\x1b[2J" in text


def test_status_table_escapes_hostile_names_and_keeps_ipv6_urls() -> None:
    member = Member(IDS[0], HOSTILE, ("http://[fd00::1]:2380",), ("http://[fd00::1]:2379",))
    status = MemberStatus("http://[fd00::1]:2379", IDS[0], "3.5.1\x1b[2J", GIB, GIB, IDS[0], 2,
                          9, 9, errors=("\x1b]0;x\x07",))  # fmt: skip
    view = ClusterView("prod\x1b[2J", (MemberView("http://[fd00::1]:2379", member, status),),
                       alarms=(Alarm(IDS[0], "NOSPACE\x1b"),), notes=("\x9bnote",))  # fmt: skip
    text = render_table(view)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "\u202e" not in text
    lines = text.splitlines()
    assert len({len(line) for line in lines[:5]}) == 1  # still a straight box
    assert f"| {HOSTILE_SHOWN} |" in lines[3] and "| http://[fd00::1]:2379 |" in lines[3]
    assert lines[-1].startswith("cluster prod\\x1b[2J: ") and HOSTILE_SHOWN in lines[-1]
    raw = render_json(view)
    assert raw.isascii() and json.loads(raw)["members"][0]["name"] == HOSTILE


# --- etcdtui status --------------------------------------------------------------------------

IDS = (0x8E9E05C52164694D, 0x91BC3C398FB3C146, 0xFD422379FDA50E48)
GIB = 1024**3


def member_view(
    i: int, *, up: bool = True, leader: int | None = 0, errors: tuple[str, ...] = ()
) -> MemberView:
    """Member `i` (0-based) of a 3-member cluster led by member `leader` (None: no leader)."""
    endpoint = f"https://10.0.0.{11 + i}:2379"
    member = Member(IDS[i], f"node{i + 1}", (f"https://10.0.0.{11 + i}:2380",), (endpoint,))
    if not up:
        return MemberView(endpoint, member, error="context deadline exceeded")
    status = MemberStatus(
        endpoint,
        IDS[i],
        "3.5.1",
        GIB,
        20_480,
        0 if leader is None else IDS[leader],
        7,
        1204,
        1203,
        errors=errors,
    )
    health = MemberHealth(endpoint, True, 0.002)
    return MemberView(
        endpoint, member, status, health, MemberMetrics(endpoint, quota_bytes=2 * GIB)
    )


def troubled() -> ClusterView:
    members = (member_view(0), member_view(1), member_view(2, up=False))
    return ClusterView("prod", members, alarms=(Alarm(IDS[1], "NOSPACE"),))


def test_table_has_one_row_per_member_with_hex_ids() -> None:
    lines = render_table(troubled()).splitlines()
    assert "| NAME " in lines[1] and "| APPLIED INDEX |" in lines[1]
    rows = [line for line in lines[3:] if line.startswith("| node")]
    assert len(rows) == 3
    for row, member_id in zip(rows, IDS, strict=True):
        assert f" {member_id:x} " in row
    assert len({len(line) for line in lines[:7]}) == 1  # a straight box
    assert lines[0] == lines[2] == lines[6] and set(lines[0]) == {"+", "-"}


def test_table_row_reads_like_etcdctl() -> None:
    row = render_table(troubled()).splitlines()[3]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == [
        "node1", "8e9e05c52164694d", "https://10.0.0.11:2379", "3.5.1", "1.1 GB", "20 kB",
        "50.0%", "true", "false", "7", "1204", "1203", "healthy", "",
    ]  # fmt: skip


def test_unreachable_member_shows_its_error() -> None:
    row = render_table(troubled()).splitlines()[5]
    assert row.startswith("| node3 ")
    assert "unhealthy" in row and "context deadline exceeded" in row
    assert " fd422379fda50e48 " in row


def test_status_errors_of_a_member_are_shown() -> None:
    view = ClusterView("prod", (member_view(0, errors=("memberID:1 alarm:NOSPACE",)),))
    assert "memberID:1 alarm:NOSPACE" in render_table(view).splitlines()[3]


def test_table_lists_alarms_then_the_verdict() -> None:
    tail = render_table(troubled()).splitlines()[-2:]
    assert tail == [
        "alarm: NOSPACE on node2 (91bc3c398fb3c146)",
        "cluster prod: UNHEALTHY; 3 voting members, quorum 2, tolerates 1 failure, "
        "1 down now; leader node1",
    ]


def test_verdict_for_a_healthy_cluster() -> None:
    view = ClusterView("prod", tuple(member_view(i) for i in range(3)))
    assert verdict(view) == (
        "cluster prod: healthy; 3 voting members, quorum 2, tolerates 1 failure, "
        "0 down now; leader node1"
    )


def test_verdict_without_a_leader() -> None:
    view = ClusterView("prod", tuple(member_view(i, leader=None) for i in range(3)))
    assert verdict(view).startswith("cluster prod: UNHEALTHY; 3 voting members, quorum 2")
    assert verdict(view).endswith("; NO LEADER")


def test_verdict_for_an_unreachable_cluster() -> None:
    view = ClusterView("prod", (member_view(0, up=False),), error="no endpoint answered")
    assert verdict(view) == "cluster prod: unreachable: no endpoint answered"


def test_json_parses_and_has_the_fields() -> None:
    doc = json.loads(render_json(troubled()))
    assert doc["cluster"] == "prod"
    assert (doc["healthy"], doc["quorum"], doc["tolerates"], doc["leader"]) == (
        False,
        2,
        1,
        "node1",
    )
    assert doc["error"] is None
    assert doc["alarms"] == [{"member_id": "91bc3c398fb3c146", "alarm": "NOSPACE"}]
    first, _, down = doc["members"]
    assert first == {
        "name": "node1",
        "id": "8e9e05c52164694d",
        "endpoint": "https://10.0.0.11:2379",
        "reachable": True,
        "healthy": True,
        "leader": True,
        "learner": False,
        "version": "3.5.1",
        "db_size": GIB,
        "db_size_in_use": 20_480,
        "quota_bytes": 2 * GIB,
        "quota_percent": 50.0,
        "raft_term": 7,
        "raft_index": 1204,
        "applied_index": 1203,
        "peer_urls": ["https://10.0.0.11:2380"],
        "client_urls": ["https://10.0.0.11:2379"],
        "errors": [],
        "error": None,
    }
    assert (down["reachable"], down["healthy"], down["version"]) == (False, False, None)
    assert down["error"] == "context deadline exceeded"
    assert down["id"] == "fd422379fda50e48"


def test_ages_are_coarse_and_readable() -> None:
    from etcdtui.models.units import human_age

    ages = (-3, 5, 125, 3600, 3 * 3600 + 20 * 60, 26.5 * 3600, 72 * 3600)
    assert [human_age(s) for s in ages] == [
        "0 s", "5 s", "2 min", "1 h", "3 h 20 min", "1 d 2 h", "3 d"]  # fmt: skip
