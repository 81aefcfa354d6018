"""`?`: the keys of this screen first (from the action table), then every other screen's,
then what every pane shows and which thresholds colour it (from the health rules' constants).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from etcdtui.models.units import human_seconds
from etcdtui.services.health import (
    APPLIED_LAG_WARN,
    COMMIT_GOOD,
    COMMIT_WARN,
    FSYNC_GOOD,
    FSYNC_WARN,
    LEADER_CHANGE_WINDOW,
    LEADER_CHANGES_WARN,
    PEER_RTT_WARN,
    QUOTA_CRIT,
    QUOTA_WARN,
)
from etcdtui.services.history import LATENCY_WINDOW, WINDOW
from etcdtui.ui.actions import CHANGES_MARK, Where, entries_for, key_rows

MOUSE = (
    "Mouse: a click selects a member row, a double click opens its detail; a click on a "
    "column header sorts by it (again: reversed); a click on a footer key presses it."
)


def key_table(where: Where) -> str:
    """One screen's keys as a Markdown table: key, name, what it does."""
    rows = [f"## Keys: {where.value}", "", "| Key | Action | What it does |", "| --- | --- | --- |"]
    rows += [f"| `{key}` | {name} | {what} |" for key, name, what in key_rows(where)]
    if any(e.changes_cluster for e in entries_for(where)):
        rows += ["", f"{CHANGES_MARK} changes the cluster: refused with `--read-only`."]
    if where is Where.DASHBOARD:
        rows += ["", MOUSE]
    return "\n".join(rows)


def explanations(interval: float, backoff: float) -> str:
    """What each pane shows; every threshold is the constant the health rules use."""
    window = f"{LEADER_CHANGE_WINDOW / 60:.0f} minutes"
    return f"""\
## Members
Every member from `member list`: ★ marks the leader, `L` a learner. STATE is a word —
healthy, UNHEALTHY (the linearizable read failed or the member has an alarm), UNREACHABLE
(with the reason: connection refused, timed out after N s, certificate verify failed),
UNSTARTED (added but never started) or learner. IDs are hex, as etcdctl prints them.
`/` filters the rows by name, URL or ID; `S` sorts by the next column.

## Leader & health
The leader and its raft term, leader changes over the last {window}
(**{LEADER_CHANGES_WARN}** or more is unstable: starved disk or network), the quorum arithmetic
("5 members, quorum 3, tolerates 2 failures, 1 down now") and every finding, worst first: no
leader, an even member count, an unstarted member, a learner, version skew, an active alarm,
a member whose applied index lags the leader's by more than **{APPLIED_LAG_WARN}** entries, and
the latencies below.

## DB size vs quota
Per member, `dbSize` against the backend quota (`etcd_server_quota_backend_bytes`): warning
at **{QUOTA_WARN:.0%}**, critical at **{QUOTA_CRIT:.0%}** (marked │ on the bar). At the quota
etcd raises NOSPACE and refuses writes. Under the bar: in-use bytes, fragmentation
(1 - inUse/size: what a defrag gives back) and the size trend over {WINDOW / 60:.0f} minutes.
Sizes are decimal (kB, MB, GB) as etcdctl prints them.

## Disk & network
p99 latencies over the last **{LATENCY_WINDOW:.0f} s**, from the growth of each member's
/metrics histograms between refreshes (named in the pane's border; `-`: nothing observed).
Computed once per refresh: the findings and the member detail show the same numbers.
WAL fsync — ok below **{human_seconds(FSYNC_GOOD)}**, warning above, critical above
**{human_seconds(FSYNC_WARN)}**; backend commit — ok below **{human_seconds(COMMIT_GOOD)}**,
critical above **{human_seconds(COMMIT_WARN)}**; peer round trip — warning above
**{human_seconds(PEER_RTT_WARN)}**. Slow disks and networks make heartbeats miss and the
cluster lose its leader.

## Refresh
Every {interval:g} s now (`i` changes it, `--refresh` sets it). Polls never overlap: the next
starts when the last is shown. A frozen member costs one timeout and is shown as unreachable
while the others keep updating. When no member answers, etcdtui retries with a growing pause,
up to {backoff:.0f} s. The config file is read again when it changes (a runbook that replaces
or adds a member writes it) and with `ctrl+r`.
"""


def help_markdown(where: Where | None, read_only: bool = False, interval: float = 2.0,
                  backoff: float = 30.0) -> str:  # fmt: skip
    """The whole help: this screen's keys, the other screens' keys, then the explanations."""
    first = where or Where.DASHBOARD
    order = [first, *(w for w in Where if w is not first)]
    intro = (
        "Keys of this screen first, then of the others, then what each pane shows. Every "
        "action is also in the command palette (`:` or `ctrl+p`): type a word of it."
    )
    if read_only:
        intro += (
            "\n\n**READ-ONLY** (`--read-only`): the actions that change the cluster are left out "
            "of the footer and the palette, and their keys say so."
        )
    parts = ["# etcdtui help", intro, *(key_table(w) for w in order),
             explanations(interval, backoff), "Press `Esc` or `?` to close."]  # fmt: skip
    return "\n\n".join(parts)


HELP = help_markdown(Where.DASHBOARD)


class HelpScreen(ModalScreen[None]):
    """Every key per screen, then every pane and threshold."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="close-help"),
    ]

    def __init__(self, where: Where | None = Where.DASHBOARD, *, read_only: bool = False,
                 interval: float = 2.0, backoff: float = 30.0) -> None:  # fmt: skip
        super().__init__()
        self.text = help_markdown(where, read_only, interval, backoff)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(self.text)
