"""`?`: what every pane shows and which thresholds colour it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# etcdtui help

**Keys**: `r` refresh now · `p` pause/resume · `i` change the refresh interval ·
`Enter` member detail · `c` switch cluster · `1` to `4` jump to a pane · `ctrl+p` every action ·
`?` this help · `q` quit. Runbooks: `d` defragment, `n` NOSPACE recovery (while the alarm
is active), `s` backups (save a snapshot now; the snapshot folder's catalogue with each file's
revision, keys, age and checks, and a warning past the recovery-point objective; there `R`
restores every member from the selected snapshot, `C`/`B` continue or roll back a restore
that stopped halfway), `R` in a member's detail replaces it with a free node, learner first
(`X` there removes a member added but never started; adding a member is in the command
palette), `l` the audit log, `k` Kubernetes (each kube-apiserver's `--etcd-servers` against
the member list, certificate expiry, security checks; read from the nodes over SSH, `r`
re-reads); on a runbook screen `x` executes after a confirmation, `a` stops
before the next step, `p` plans again. Actions that change the cluster are hidden with
`--read-only`.

## Members
Every member from `member list`: ★ marks the leader, `L` a learner. STATE is a word —
healthy, UNHEALTHY (the linearizable read failed or the member has an alarm), UNREACHABLE
(with the reason: connection refused, timed out after N s, certificate verify failed),
UNSTARTED (added but never started) or learner. IDs are hex, as etcdctl prints them.

## Leader & health
The leader and its raft term, leader changes over the last 15 minutes (4 or more is
unstable: starved disk or network), the quorum arithmetic ("5 members, quorum 3, tolerates 2
failures, 1 down now") and every finding, worst first: no leader, an even member count, an
unstarted member, a learner, version skew, an active alarm, a member whose applied index lags
the leader's by more than 1000 entries.

## DB size vs quota
Per member, `dbSize` against the backend quota (`etcd_server_quota_backend_bytes`): warning
at **80 %**, critical at **95 %** (marked │ on the bar). At the quota etcd raises NOSPACE and
refuses writes. Under the bar: in-use bytes, fragmentation (1 - inUse/size: what a defrag
gives back) and the size trend. Sizes are decimal (kB, MB, GB) as etcdctl prints them.

## Disk & network
p99 latencies over the last minute, from each member's /metrics:
WAL fsync — ok below **10 ms**, warning above, critical above **500 ms**;
backend commit — ok below **25 ms**, critical above **250 ms**;
peer round trip — warning above **150 ms**. Slow disks and networks make heartbeats miss
and the cluster lose its leader.

## Refresh
Every 2 s by default (`--refresh`). Polls never overlap: the next starts when the last is
shown. A frozen member costs one timeout and is shown as unreachable while the others keep
updating. When no member answers, etcdtui retries with a growing pause, up to 30 s.

Press `Esc` or `?` to close.
"""


class HelpScreen(ModalScreen[None]):
    """Explains every pane and threshold."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="close-help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)
