"""One command's run on a node, for SshShell.run: from its own channel to its CommandResult.

The command's output is pumped within its timeout while a LinkMonitor watches the connection;
how the run ends (exited, timed out, stalled, connection lost, channel broken) decides the
result or the error. A command that did not exit by itself is stopped on the node before its
channel is closed, so nothing is left running there.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import paramiko

from etcdtui.clients.shell import LineCallback, quote_sudo
from etcdtui.clients.ssh.channel import (
    KILL_SCRIPT,
    ChannelBroken,
    OutputStream,
    await_pid,
    pump,
    send_signal,
)
from etcdtui.clients.stall import LinkMonitor, StallWatch, TransferStalled, Watchdog
from etcdtui.errors import SshError, SshTimeout
from etcdtui.models.command import CommandResult

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import SshShell

_KILL_TIMEOUT = 3.0
# After a stall, how long stopping the command on the node may take before the connection is
# given up as dead (on a dead link, opening the session for the kill would wait for ever).
_AFTER_STALL = _KILL_TIMEOUT + 2.0


def run_command(
    shell: SshShell,
    actual: str,
    use_sudo: bool,
    *,
    timeout: float,
    on_line: LineCallback | None,
    stdin: bytes | None,
    stall: float | None,
) -> CommandResult:
    """Run `actual` (the command line as sent, sudo included) on `shell`'s node; see
    SshShell.run for what each argument does and what is raised."""
    # The login shell first prints its pid, which is also its process group (sshd starts
    # each session with setsid): on timeout we can kill the whole group, which OpenSSH's
    # "signal" request cannot do for root logins.
    marker = f"etcdtui-pid:{secrets.token_hex(6)}:"
    stdout = OutputStream("stdout", on_line, pid_marker=marker)
    stderr = OutputStream("stderr", on_line)
    started = time.monotonic()
    # A command without stdin reads /dev/null there, and is sent no end-of-file (see pump).
    feed = stdin or None
    redirect = "exec </dev/null; " if feed is None else ""
    channel = shell._exec(f"{redirect}echo {marker}$$; {actual}", shown=actual)
    watch = StallWatch(shell.node, stall) if stall is not None else None
    finished = stalled = False
    monitor = shell._monitor(channel)
    try:
        try:
            with monitor:
                finished = pump(channel, started + timeout, feed, stdout, stderr, watch)
        except TransferStalled:
            stalled = True
            raise
        _check_ended(shell.node, actual, monitor, finished, timeout)
        stdout.feed(b"", final=True)
        stderr.feed(b"", final=True)
        exit_code = _exit_code(shell.node, actual, channel)
    except ChannelBroken as exc:
        raise SshError(
            f"{shell.node}: the SSH channel running `{actual}` broke: {exc}", node=shell.node
        ) from None
    finally:
        if stalled:
            _stop_after_stall(shell, channel, stdout.pid, use_sudo)
        elif not finished:
            # Timed out, or the caller gave up (its on_line raised): don't leave it running,
            # even when it timed out before its pid line came back.
            pid = (
                stdout.pid if stdout.pid is not None else await_pid(channel, stdout, _KILL_TIMEOUT)
            )
            _terminate(shell, channel, pid, use_sudo)
        channel.close()
    return CommandResult(
        node=shell.node,
        command=actual,
        exit_code=exit_code,
        stdout=stdout.text,
        stderr=stderr.text,
        duration=time.monotonic() - started,
    )


def _check_ended(
    node: str, actual: str, monitor: LinkMonitor, finished: bool, timeout: float
) -> None:
    """Raise unless the pump ended because the command did: not a dead link, not the timeout."""
    if monitor.dead.is_set():
        raise SshError(
            f"{node}: the SSH connection was lost while running `{actual}`: "
            f"no answer from the node for {2 * monitor.every:g} s",
            node=node,
        )
    if not finished:
        raise SshTimeout(
            f"{node}: `{actual}` did not finish within {timeout:g} s and was killed",
            node=node,
        )


def _exit_code(node: str, actual: str, channel: paramiko.Channel) -> int:
    """The command's exit code (-1: it died of a signal); SshError if the connection died."""
    exit_code = channel.recv_exit_status()
    transport = channel.get_transport()
    # A server ends a session with EOF, then close; a connection that died closes its
    # channels without EOF (just before paramiko marks the transport inactive).
    lost = transport is None or not transport.is_active() or not channel.eof_received
    if exit_code == -1 and lost:
        raise SshError(
            f"{node}: the SSH connection was lost while running `{actual}`",
            node=node,
        )
    return exit_code


def _terminate(
    shell: SshShell,
    channel: paramiko.Channel,
    pid: int | None,
    use_sudo: bool,
    reconnect: bool = True,
) -> bool:
    """Stop a command that is still running: SIGTERM, then SIGKILL, to its process group.
    Without `reconnect`, only over the command's own connection.

    True once the node confirmed the kill (its kill script exited)."""
    # Enough for non-root logins (OpenSSH signals the session's process group) ...
    send_signal(channel, "TERM")
    if pid is None or pid <= 1 or not channel.get_transport():
        return False
    # ... and for root logins, where OpenSSH refuses "signal" requests, kill it ourselves.
    script = KILL_SCRIPT.format(pid=pid)
    try:
        own = None if reconnect else channel.get_transport()
        # The script reads no stdin, so it is sent no end-of-file (see pump).
        killer = shell._exec(quote_sudo(script) if use_sudo else script, on=own)
    except SshError:
        return False  # the connection is gone; so is the way to reach the command
    try:
        return killer.status_event.wait(_KILL_TIMEOUT)
    finally:
        killer.close()


def _stop_after_stall(
    shell: SshShell, channel: paramiko.Channel, pid: int | None, sudo: bool
) -> None:
    """Stop a stalled command (a frozen etcd is worth killing on a link that works), but
    give a dead link only a few seconds before closing the node's connection."""
    transport = channel.get_transport()
    if transport is None or not transport.is_active():
        shell.close()  # dropped, not stalled: reconnecting to kill would only add a wait
        return
    # Only over the stalled connection: if the link is dead, the watchdog closes it, and a
    # new connection would first wait out the SSH connect timeout on that dead link.
    with Watchdog(shell.node, shell.close, _AFTER_STALL) as watchdog:
        confirmed = _terminate(shell, channel, pid, sudo, reconnect=False)
    if not confirmed or watchdog.fired.is_set():
        shell.close()
