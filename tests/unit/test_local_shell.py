"""The bastion's own NodeShell: same contract as SSH (results, stdin, timeouts)."""

from __future__ import annotations

import time

import pytest

from etcdtui.clients.local_shell import LocalShell
from etcdtui.errors import SshTimeout


def test_exit_codes_and_output_come_back_as_results() -> None:
    result = LocalShell().run("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_stdin_reaches_the_command_byte_for_byte() -> None:
    data = b"a b\n$(touch /tmp/never)\x00\xff"
    result = LocalShell().run("od -An -c | tr -s ' '", stdin=data)
    assert result.ok and "$ ( t o u c h" in result.stdout


def test_a_command_past_its_timeout_is_killed_with_its_children() -> None:
    started = time.monotonic()
    with pytest.raises(SshTimeout, match=r"did not finish within 0\.5 s"):
        LocalShell().run("sleep 30 & sleep 30; wait", timeout=0.5)
    assert time.monotonic() - started < 5
