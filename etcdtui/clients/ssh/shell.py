"""Running commands on nodes over SSH (paramiko): the NodeShell the runbooks depend on.

One authenticated transport per node is opened on first use (through ~/.ssh/config, ProxyJump,
ssh-agent and known_hosts: see connect.py and hostkeys.py) and shared by every command, SFTP
session and tunnel on that node; each command gets its own channel, so threads may run
commands on the same node at once (how one command runs and is stopped: command.py).
Transfers are bounded by a stall timeout (see stall): a link that stops moving bytes is given
up on, and said so, instead of waited on for ever. ShellPool keeps one SshShell per node.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import paramiko

from etcdtui.clients.shell import LineCallback, NodeShell, quote_sudo
from etcdtui.clients.ssh.command import run_command
from etcdtui.clients.ssh.connect import Connector, load_ssh_config
from etcdtui.clients.ssh.faults import from_paramiko, is_dropped, quiet_paramiko_threads
from etcdtui.clients.ssh.faults import reason as dropped_reason
from etcdtui.clients.stall import LinkMonitor, StallWatch, Watchdog, stall_seconds
from etcdtui.config import NodeConfig
from etcdtui.errors import ForwardingDenied, SshError, SshTimeout, UsageError
from etcdtui.models.command import CommandResult

__all__ = ["LineCallback", "NodeShell", "ShellPool", "SshShell", "quote_sudo"]

OnConnect = Callable[["SshShell"], None]
# Tracebacks of paramiko's helper threads (SFTP prefetch) stay off the terminal.
quiet_paramiko_threads()


class SshShell:
    """The paramiko NodeShell for one node; connects lazily and reuses one transport."""

    def __init__(
        self,
        node: NodeConfig,
        *,
        ssh_config: Path | None = None,
        agent: bool = True,
        on_connect: OnConnect | None = None,
    ) -> None:
        self.node = node.name
        self.node_config = node
        self.ssh_config = ssh_config
        self.agent = agent
        # Called with this shell after each new connection (not after reusing one); it may
        # run commands; it must not raise.
        self.on_connect = on_connect
        self._in_hook = threading.local()
        self._lock = threading.Lock()
        # From the first jump host to the node itself; empty until connected.
        self._transports: list[paramiko.Transport] = []
        self._low_latency: paramiko.Transport | None = None
        self._opening = threading.Lock()
        self._probe_lock = threading.Lock()  # LinkMonitor's keepalive requests

    def __enter__(self) -> SshShell:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def transport(self) -> paramiko.Transport:
        """The node's transport, connecting first if needed."""
        self.connect()
        with self._lock:
            if not self._transports:
                raise SshError(f"{self.node}: the SSH connection was closed", node=self.node)
            return self._transports[-1]

    @property
    def connected(self) -> bool:
        """Whether a live connection is open (without trying to open one)."""
        with self._lock:
            return bool(self._transports) and all(t.is_active() for t in self._transports)

    def connect(self) -> None:
        """Open the connection unless a live one exists; safe to call from several threads."""
        with self._lock:
            if self._transports and all(t.is_active() for t in self._transports):
                return
            self._close_locked()
            try:
                config = load_ssh_config(self.ssh_config)
            except SshError as exc:
                raise SshError(f"{self.node}: {exc.message}", exc.hint, self.node) from None
            self._transports = Connector(self.node_config, config, agent=self.agent).connect()
        # Outside the lock: the hook runs commands, which come back here (and find it open).
        if self.on_connect is not None and not getattr(self._in_hook, "active", False):
            self._in_hook.active = True
            try:
                self.on_connect(self)
            finally:
                self._in_hook.active = False

    def close(self) -> None:
        """Close the node's transport and those of its jump hosts."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        for transport in reversed(self._transports):
            transport.close()
        self._transports = []

    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        sudo: bool | None = None,
        on_line: LineCallback | None = None,
        stdin: bytes | None = None,
        stall: float | None = None,
    ) -> CommandResult:
        """Run `command` on the node and wait for it, at most `timeout` seconds.

        ``sudo`` (default: the node's setting) runs it through ``sudo -n``; the result's
        ``command`` is the command line actually sent. ``stdin`` is written to the command,
        then end-of-file (always sent, so a command reading stdin cannot hang). A command still
        running at the timeout is sent SIGTERM, then SIGKILL, and SshTimeout is raised. The
        exit code is -1 if the server reported none (the command died of a signal).

        ``stall`` (seconds) is for commands that stream: one that sends no byte for that long
        is stopped the same way and TransferStalled is raised; if it cannot be stopped within
        a few seconds, the link is taken as dead and the node's connection is closed.
        """
        use_sudo = self.node_config.sudo if sudo is None else sudo
        actual = quote_sudo(command) if use_sudo else command
        return run_command(
            self, actual, use_sudo, timeout=timeout, on_line=on_line, stdin=stdin, stall=stall
        )

    def _monitor(self, channel: paramiko.Channel) -> LinkMonitor:
        """Dead-link detection for a command's channel (see LinkMonitor)."""
        transport = channel.get_transport()

        def probe() -> object:
            assert transport is not None
            # One request in flight per connection: paramiko keeps one completion event.
            with self._probe_lock:
                return transport.global_request("keepalive@openssh.com", wait=True)

        return LinkMonitor(probe, self.close, stall_seconds())

    def _exec(
        self, command: str, shown: str = "", on: paramiko.Transport | None = None
    ) -> paramiko.Channel:
        """A session channel running `command` (`shown` in errors); reconnects once if the
        transport has died since its last use. With `on`, on that transport only: never
        through a new connection."""
        tries = 2 if on is None else 1
        for attempt in range(1, tries + 1):
            transport = self.transport if on is None else on
            try:
                channel = transport.open_session(timeout=self.node_config.ssh.connect_timeout)
            except paramiko.ChannelException as exc:
                raise SshError(
                    f"{self.node}: the server refused a new SSH session ({exc.text})",
                    hint="too many at once? see MaxSessions in the node's sshd_config",
                    node=self.node,
                ) from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if attempt < tries and not transport.is_active():
                    continue  # the connection died since last use; connect() makes a new one
                raise SshError(
                    f"{self.node}: cannot open an SSH session: {exc or type(exc).__name__}",
                    node=self.node,
                ) from None
            try:
                channel.exec_command(command)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                channel.close()
                raise SshError(
                    f"{self.node}: the server refused to run `{shown or command}`: {exc}",
                    node=self.node,
                ) from None
            return channel
        raise AssertionError("unreachable")  # pragma: no cover

    def open_sftp(self) -> paramiko.SFTPClient:
        """An SFTP session on the node's connection (the caller closes it).

        Its requests wait without a timeout of their own: use it inside `transfer()`."""
        transport = self.transport
        try:
            channel = transport.open_session(timeout=self.node_config.ssh.connect_timeout)
            channel.invoke_subsystem("sftp")
            return paramiko.SFTPClient(channel)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshError(
                f"{self.node}: cannot start SFTP: {exc or type(exc).__name__}",
                hint="is the sftp subsystem enabled in the node's sshd_config?",
                node=self.node,
            ) from None

    @contextlib.contextmanager
    def transfer(self, stall: float | None = None) -> Iterator[StallWatch]:
        """Bound a transfer on this node's connection by its stall timeout.

        Call `touch()` on what this yields whenever bytes move. If none move for `stall`
        seconds (default: stall_seconds()), the node's connection is closed, which makes
        whatever waits on it fail at once, and TransferStalled is raised instead of that
        failure. A connection that drops during the transfer is an SshError saying so (and is
        closed: the next command reconnects). Other failures pass through unchanged.
        """
        with Watchdog(self.node, self.close, stall) as watchdog:
            try:
                yield watchdog
            except Exception as exc:
                if watchdog.fired.is_set():
                    raise watchdog.error() from None
                if is_dropped(exc) or (from_paramiko(exc) and not self.connected):
                    self.close()
                    reason = dropped_reason(exc)
                    raise SshError(
                        f"{self.node}: the SSH connection dropped during the transfer"
                        + (f" ({reason})" if reason else ""),
                        node=self.node,
                    ) from None
                if isinstance(exc, paramiko.SFTPError):
                    raise SshError(
                        f"{self.node}: the SFTP transfer failed: {exc}", node=self.node
                    ) from None
                raise

    def open_channel(self, host: str, port: int, timeout: float) -> paramiko.Channel:
        """A TCP connection from the node to host:port (direct-tcpip), e.g. to reach etcd."""
        transport = self.transport
        # Opening a channel is one round trip to sshd: a node slow to answer it is a slow SSH
        # server, not a slow etcd, so it gets the SSH connect timeout when that is longer.
        timeout = max(timeout, self.node_config.ssh.connect_timeout)
        try:
            # One open at a time per node: paramiko keeps an open failure's reason in one
            # transport-wide slot, so two failing at once would lose one reason.
            with self._opening:
                if self._low_latency is not transport:
                    self._low_latency = transport
                    self._ask_low_latency(transport, timeout)
                return transport.open_channel(
                    "direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout
                )
        except paramiko.ChannelException as exc:
            if exc.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
                raise ForwardingDenied(
                    f"{self.node}: the SSH server refuses port forwarding ({exc.text})",
                    hint="AllowTcpForwarding no in its sshd_config",
                    node=self.node,
                ) from None
            raise SshError(
                f"{self.node}: cannot open a tunnel to {host}:{port}: {exc.text}", node=self.node
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if transport.is_active() and "Timeout" in str(exc):
                raise SshTimeout(
                    f"{self.node}: opening a tunnel to {host}:{port} timed out after {timeout:g} s",
                    node=self.node,
                ) from None
            raise SshError(
                f"{self.node}: cannot open a tunnel to {host}:{port}: {exc or type(exc).__name__}",
                node=self.node,
            ) from None

    def _ask_low_latency(self, transport: paramiko.Transport, timeout: float) -> None:
        """Make the node's sshd send small packets at once (TCP_NODELAY); best effort.

        OpenSSH's sshd turns Nagle's algorithm off only when a session with a terminal starts
        a command, and then for the whole connection. Without it, answers on two tunnels of
        the same connection wait for delayed ACKs: about 40 ms each time two etcd requests
        overlap. So a session with a pseudo-terminal starts `true` first (not waited for).
        """
        channel = None
        try:
            channel = transport.open_session(timeout=timeout)
            channel.get_pty()
            channel.exec_command("true")
        except (paramiko.SSHException, OSError, EOFError):
            pass  # PermitTTY no, say: tunnels still work, just slower when requests overlap
        finally:
            if channel is not None:
                channel.close()


class ShellPool:
    """One SshShell per node name, created on first use and shared afterwards.

    `on_connect` is given to every shell (see SshShell): e.g. to remove, on the next
    connection to a node, what an earlier run could not.
    """

    def __init__(
        self,
        nodes: Sequence[NodeConfig],
        ssh_config: Path | None = None,
        *,
        agent: bool = True,
        on_connect: OnConnect | None = None,
    ) -> None:
        self.nodes = {node.name: node for node in nodes}
        self.ssh_config = ssh_config
        self.agent = agent
        self.on_connect = on_connect
        self._shells: dict[str, SshShell] = {}
        self._lock = threading.Lock()

    def shell(self, name: str) -> SshShell:
        """The shell for node `name` (not yet connected: it connects on first use)."""
        with self._lock:
            if name not in self._shells:
                if name not in self.nodes:
                    known = ", ".join(sorted(self.nodes)) or "none"
                    raise UsageError(f"no SSH settings for node {name!r} (nodes: {known})")
                self._shells[name] = SshShell(
                    self.nodes[name],
                    ssh_config=self.ssh_config,
                    agent=self.agent,
                    on_connect=self.on_connect,
                )
            return self._shells[name]

    def connected(self) -> list[str]:
        """The nodes with a live SSH connection right now."""
        with self._lock:
            shells = list(self._shells.values())
        return [shell.node for shell in shells if shell.connected]

    def close_all(self) -> None:
        """Close every node's connection."""
        with self._lock:
            shells, self._shells = list(self._shells.values()), {}
        for shell in shells:
            shell.close()


if TYPE_CHECKING:

    def _is_node_shell(shell: SshShell) -> NodeShell:
        """Never called: mypy checks here that SshShell really satisfies NodeShell."""
        return shell
