"""Two runbooks on one cluster at once: the second is refused, naming the run that holds the
cluster's lock, and changes nothing; once the first ends, the lock is free again."""

from __future__ import annotations

import getpass
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Lab, Undo
from .helpers import (
    Background,
    audit_entries,
    cause,
    etcdtui,
    read_keys,
    settled,
    wait_step,
)

# Each scenario starts and breaks a lab of its own.
pytestmark = pytest.mark.slow

MEMBERS = ("node1", "node2", "node3")
REPO = Path(__file__).resolve().parents[3]
# A date or a time of day: the holder's start, however the line spells it.
STARTED = re.compile(r"\d{4}-\d\d-\d\d|\d{1,2}:\d\d")


@pytest.mark.xfail(
    not (REPO / "etcdtui/runbooks/lock.py").exists(),
    strict=True,
    reason="no per-cluster runbook lock yet (etcdtui/runbooks/lock.py)",
)
def test_second_runbook_is_refused_naming_the_holder_while_the_first_runs(
    lab: Callable[..., Lab], undo: Undo
) -> None:
    scenario = lab(etcd_version="3.5")
    info, tmp = scenario.info, scenario.tmp
    audit, second_audit = tmp / "audit.log", tmp / "second.log"
    # A wait far longer than the second run can take, even on a loaded machine: the first
    # run is still holding the lock, in its wait, when it is stopped below.
    first = Background(tmp, "first", "defrag", "--config", scenario.config, "--yes",
                       "--wait", "600", "--audit-log", str(audit))  # fmt: skip
    undo(first.stop)
    wait_step(audit, "wait-after-", run=first, prefix=True)  # one member done, the lock held

    second = etcdtui(tmp, "defrag", "--config", scenario.config, "--yes", "--wait", "0.2",
                     "--audit-log", str(second_audit))  # fmt: skip

    assert second.returncode == 1, second.stdout + second.stderr
    first_line = cause(second.stdout, second.stderr)
    holder = f"{getpass.getuser()}@{socket.gethostname()}"
    assert holder in first_line and "defrag" in first_line, second.stdout + second.stderr
    assert STARTED.search(first_line), first_line
    assert not [e for e in audit_entries(second_audit) if e["note"] == "started"]
    assert first.running()  # the first run goes on, untouched by the second

    first.proc.send_signal(signal.SIGINT)  # Ctrl+C in its wait: it ends and lets go
    assert first.wait() == 130, first.stdout + first.stderr
    third = etcdtui(tmp, "defrag", "--config", scenario.config, "--yes", "--wait", "0.2",
                    "--audit-log", str(second_audit))  # fmt: skip
    assert third.returncode == 0, third.stdout + third.stderr
    settled(info, MEMBERS)
    assert read_keys(info) == scenario.keys
