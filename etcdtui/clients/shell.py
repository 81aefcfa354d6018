"""What runbooks need from a machine that runs commands: the NodeShell contract.

Free of paramiko, so code that only needs the contract (or runs commands on the bastion) does
not pay for importing it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Protocol

from etcdtui.models.command import CommandResult

LineCallback = Callable[[str, str], None]
"""``on_line(stream, line)``: stream is "stdout" or "stderr"; the line has no newline."""


class NodeShell(Protocol):
    """Runs shell commands on one node; what runbooks and services depend on."""

    node: str

    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        sudo: bool | None = None,
        on_line: LineCallback | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run `command`; a non-zero exit is a result, not an exception."""
        ...

    def close(self) -> None:
        """Release the connection (running it again reconnects)."""
        ...


def quote_sudo(command: str) -> str:
    """Wrap `command` to run as root; ``-n`` makes sudo fail instead of asking for a password."""
    return f"sudo -n -- sh -c {shlex.quote(command)}"
