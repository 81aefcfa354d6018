"""Waiting for kube-apiserver to serve again after a runbook stopped or re-pointed it.

Moving a static pod's manifest back, or editing its ``--etcd-servers``, returns at once: the
kubelet starts the new apiserver a moment later, and it serves only once it reads etcd. A
runbook is finished when every such apiserver answers its profile's ``apiserver_ready``
command (``/readyz`` on the node by default), not when the file moved.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Verdict

POLL_SECONDS = 1.0


def _wait_one(connection: Connection, shells: ShellPool, node: NodeConfig, timeout: float) -> Check:
    name = f"kube-apiserver on {node.name} serving"
    command = connection.profile_command(node, "apiserver_ready")
    started = time.monotonic()
    deadline = started + timeout
    last = "no answer yet"
    while True:
        try:
            result = shells.shell(node.name).run(command, timeout=15, sudo=node.sudo)
            if result.ok:
                waited = time.monotonic() - started
                return Check(name, Verdict.PASS, f"ready after {waited:.0f} s ({command})")
            lines = (result.stderr or result.stdout).strip().splitlines()
            last = lines[-1] if lines else f"exit code {result.exit_code}"
        except EtcdtuiError as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            return Check(
                name, Verdict.FAIL, f"not ready within {timeout:.0f} s: {last} ({command})"
            )
        time.sleep(POLL_SECONDS)


def wait_apiservers(
    connection: Connection, shells: ShellPool, nodes: Sequence[NodeConfig], timeout: float
) -> list[Check]:
    """One check per apiserver node: PASS once it serves, FAIL after `timeout`, WARN where
    its profile cannot be asked (no ``apiserver_ready`` command). Nodes wait in parallel."""
    asked = [n for n in nodes if connection.has_profile_command(n, "apiserver_ready")]
    checks = [
        Check(f"kube-apiserver on {n.name} serving", Verdict.WARN,
              f"profile {n.profile!r} has no apiserver_ready command: check it by hand")
        for n in nodes if n not in asked
    ]  # fmt: skip
    if asked:
        with ThreadPoolExecutor(max_workers=len(asked)) as pool:
            checks += pool.map(lambda n: _wait_one(connection, shells, n, timeout), asked)
    return checks
