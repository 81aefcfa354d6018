"""A NodeShell for the bastion itself: commands run here, with the same contract as over SSH.

Used where a tool is better run locally than reimplemented (etcdctl reading etcd's gRPC API
for a snapshot: `clients/etcdctl.py` then works on the bastion as it does on a node).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING

from etcdtui.clients.shell import LineCallback, quote_sudo
from etcdtui.errors import SshError, SshTimeout
from etcdtui.models.command import CommandResult

if TYPE_CHECKING:
    from etcdtui.clients.etcdctl import EtcdctlClient
    from etcdtui.clients.shell import NodeShell
    from etcdtui.config import TlsFiles


class LocalShell:
    """Runs shell commands on this machine; a non-zero exit is a result, not an exception."""

    node = "the bastion"

    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        sudo: bool | None = None,
        on_line: LineCallback | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run `command` with /bin/sh; past `timeout` its process group is killed (SshTimeout,
        as for a node, so callers handle both alike)."""
        actual = quote_sudo(command) if sudo else command
        started = time.monotonic()
        try:
            proc = subprocess.Popen(["/bin/sh", "-c", actual], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)  # fmt: skip
        except OSError as exc:
            raise SshError(f"cannot run /bin/sh here: {exc}", node=self.node) from None
        try:
            out, err = proc.communicate(stdin or b"", timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise SshTimeout(
                f"`{actual}` did not finish within {timeout:g} s and was killed", node=self.node
            ) from None
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        if on_line is not None:
            for name, text in (("stdout", stdout), ("stderr", stderr)):
                for line in text.splitlines():
                    on_line(name, line)
        return CommandResult(self.node, actual, proc.returncode, stdout, stderr,
                             time.monotonic() - started)  # fmt: skip

    def close(self) -> None:
        """Nothing to release."""


if TYPE_CHECKING:

    def _is_node_shell(shell: LocalShell) -> NodeShell:
        """Never called: mypy checks here that LocalShell really satisfies NodeShell."""
        return shell


def etcdctl_here(
    endpoint: str, etcdctl: str, tls: TlsFiles | None, timeout: float
) -> EtcdctlClient:
    """etcdctl run on this machine for the member at `endpoint`, over gRPC, with TLS files
    found here."""
    from etcdtui.clients.etcdctl import EtcdctlClient

    return EtcdctlClient(endpoint, LocalShell(), node_endpoint=endpoint, etcdctl=etcdctl,
                         tls=tls, timeout=timeout)  # fmt: skip
