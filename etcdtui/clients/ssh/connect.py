"""Opening authenticated paramiko transports to a node, through ~/.ssh/config and ProxyJump.

Every failure becomes an SshError (or SshTimeout/HostKeyError) whose message names the node,
the host and a reason a person can act on; no paramiko or socket exception escapes.
"""

from __future__ import annotations

import errno
import getpass
import logging
import os
import socket
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from etcdtui.clients.ssh.hostkeys import (
    SYSTEM_KNOWN_HOSTS,
    check_host_key,
    host_key_name,
    preferred_key_types,
    read_known_keys,
    user_known_hosts,
)
from etcdtui.config import NodeConfig
from etcdtui.errors import SshError, SshTimeout

DEFAULT_SSH_CONFIG = Path("~/.ssh/config")
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")
MAX_JUMP_DEPTH = 8  # a jump host whose own ProxyJump loops back would recurse forever
KEEPALIVE_SECONDS = 30

# paramiko's transport thread logs each failed handshake with a traceback at ERROR level; with
# no handler configured Python prints that on stderr, over the TUI. Our errors carry the
# reason; an application that configures logging still receives these records.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way to a node, with ~/.ssh/config applied."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    proxy_jump: tuple[str, ...]
    identities_only: bool = False
    keepalive: int = KEEPALIVE_SECONDS
    # Tried last: for a jump host, the node's own identity_file (one key for the bastion and
    # the nodes is common, and the node's config has nowhere else to name the bastion's key).
    fallback_identities: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"

    @property
    def label(self) -> str:
        """How errors name the hop: the alias, and the address it resolved to if different."""
        return self.address if self.alias == self.hostname else f"{self.alias} ({self.address})"


def load_ssh_config(path: Path | None) -> paramiko.SSHConfig:
    """Parse an OpenSSH client config; a missing file is an empty config, as for ssh."""
    target = Path(os.path.expanduser(path or DEFAULT_SSH_CONFIG))
    if not target.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(target))
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise SshError(f"cannot read SSH config {target}: {exc}") from None


def split_jump_spec(spec: str) -> tuple[str | None, str, int | None]:
    """``[ssh://][user@]host[:port]`` (host may be ``[v6addr]``) -> (user, host, port)."""
    text = spec.strip().removeprefix("ssh://")
    user, _, hostport = text.rpartition("@")
    port: str | None = None
    if hostport.startswith("[") and "]" in hostport:
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host = hostport
    if not host or (port is not None and not port.isdigit()):
        raise SshError(f"bad ProxyJump host {spec!r}: expected [user@]host[:port]")
    return user or None, host, int(port) if port else None


def _jump_list(value: str | None) -> tuple[str, ...]:
    if not value or value.strip().lower() == "none":
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def resolve_hop(
    config: paramiko.SSHConfig,
    alias: str,
    *,
    user: str | None = None,
    port: int | None = None,
    identity_file: str | None = None,
    proxy_jump: str | None = None,
) -> Hop:
    """Apply ~/.ssh/config to `alias`; explicit arguments (the node's own fields) win."""
    try:
        found = config.lookup(alias)
    except (paramiko.SSHException, ValueError, ImportError) as exc:
        # e.g. "Match exec" needs the optional invoke package, or a malformed Match line.
        raise SshError(f"cannot apply the SSH config to {alias}: {exc}") from None
    if found.get("proxycommand") and not (proxy_jump or found.get("proxyjump")):
        raise SshError(
            f"the SSH config sets ProxyCommand for {alias}, which etcdtui does not support",
            hint="use ProxyJump instead",
        )
    config_port = found.get("port")
    identities = (identity_file,) if identity_file else tuple(found.get("identityfile", ()))
    alive = str(found.get("serveraliveinterval", "")).strip()
    return Hop(
        alias=alias,
        hostname=found.get("hostname", alias),
        port=port or (int(config_port) if config_port and config_port.isdigit() else 22),
        user=user or found.get("user") or _local_user(),
        identity_files=tuple(os.path.expanduser(p) for p in identities),
        proxy_jump=_jump_list(proxy_jump if proxy_jump is not None else found.get("proxyjump")),
        identities_only=str(found.get("identitiesonly", "no")).lower() == "yes",
        keepalive=int(alive) if alive.isdigit() and int(alive) > 0 else KEEPALIVE_SECONDS,
    )


def _local_user() -> str:
    """ssh's default login name: the local user's."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # A container running under a uid with no passwd entry and no $USER.
        raise SshError("cannot tell the local user name: set ssh.user for the node") from None


def resolve_jump(config: paramiko.SSHConfig, spec: str) -> Hop:
    """A ProxyJump entry: its user/port override what ~/.ssh/config says for its host."""
    user, host, port = split_jump_spec(spec)
    return resolve_hop(config, host, user=user, port=port)


class Connector:
    """Opens the chain of transports for one node within one connect deadline."""

    def __init__(self, node: NodeConfig, config: paramiko.SSHConfig, *, agent: bool) -> None:
        self.node = node
        self.config = config
        self.agent = agent
        self.timeout = node.ssh.connect_timeout
        self.deadline = 0.0
        self.opened: list[paramiko.Transport] = []

    def connect(self) -> list[paramiko.Transport]:
        """Transports from the first jump host to the node (the node's is last)."""
        ssh = self.node.ssh
        with self._named():
            target = resolve_hop(
                self.config,
                ssh.host,
                user=ssh.user,
                port=ssh.port,
                identity_file=ssh.identity_file,
                proxy_jump=ssh.proxy_jump,
            )
        self.deadline = time.monotonic() + self.timeout
        try:
            self._reach(target, depth=0, is_jump=False)
        except BaseException:
            for transport in reversed(self.opened):
                transport.close()
            raise
        return self.opened

    def _reach(self, hop: Hop, depth: int, is_jump: bool) -> paramiko.Transport:
        if depth > MAX_JUMP_DEPTH:
            raise SshError(f"{self.node.name}: ProxyJump chain is longer than {MAX_JUMP_DEPTH}")
        via: paramiko.Transport | None = None
        for index, spec in enumerate(hop.proxy_jump):
            with self._named():
                jump = resolve_jump(self.config, spec)
            if self.node.ssh.identity_file:
                node_key = os.path.expanduser(self.node.ssh.identity_file)
                if node_key not in jump.identity_files:
                    jump = replace(jump, fallback_identities=(node_key,))
            # As with ssh -J a,b: only the first jump host's own ProxyJump is followed.
            if index == 0 and jump.proxy_jump:
                via = self._reach(jump, depth + 1, is_jump=True)
            else:
                via = self._open(jump, via, is_jump=True)
        return self._open(hop, via, is_jump)

    @contextmanager
    def _named(self) -> Iterator[None]:
        """Prefix the node's name to configuration errors raised without it."""
        try:
            yield
        except SshError as exc:
            raise SshError(f"{self.node.name}: {exc.message}", exc.hint, self.node.name) from None

    def _remaining(self) -> float:
        return max(0.05, self.deadline - time.monotonic())

    def _fail(
        self, hop: Hop, reason: str, is_jump: bool, cls: type[SshError] = SshError
    ) -> SshError:
        what = f"jump host {hop.label}" if is_jump else hop.label
        return cls(f"{self.node.name}: cannot connect to {what}: {reason}", node=self.node.name)

    def _timed_out(self, hop: Hop, is_jump: bool) -> SshError:
        return self._fail(hop, f"timed out after {self.timeout:.1f} s", is_jump, SshTimeout)

    def _open(self, hop: Hop, via: paramiko.Transport | None, is_jump: bool) -> paramiko.Transport:
        sock: socket.socket | paramiko.Channel = self._socket(hop, via, is_jump)
        transport = paramiko.Transport(sock)
        self.opened.append(transport)
        known = read_known_keys(
            [user_known_hosts(self.node.ssh.known_hosts), SYSTEM_KNOWN_HOSTS],
            host_key_name(hop.hostname, hop.port),
        )
        options = transport.get_security_options()
        options.key_types = preferred_key_types(known, options.key_types)
        # Our own deadline decides; paramiko's internal timeouts only need to be longer.
        transport.banner_timeout = transport.handshake_timeout = self.timeout + 1
        transport.auth_timeout = self.timeout + 1
        done = threading.Event()
        with self._mapped(hop, is_jump):
            transport.start_client(event=done)
            if not done.wait(self._remaining()):
                raise self._timed_out(hop, is_jump)
            if not transport.is_active():
                raise transport.get_exception() or paramiko.SSHException("negotiation failed")
            # A jump host is another machine: the node's own accept-new never extends to it.
            ssh = self.node.ssh
            policy = ssh.jump_policy(hop.alias) if is_jump else ssh.host_key_policy
            check_host_key(
                self.node.name,
                host_key_name(hop.hostname, hop.port),
                transport.get_remote_server_key(),
                ssh.known_hosts,
                policy,
                f'jump_host_key_policies = {{ "{hop.alias}" = "accept-new" }}'
                if is_jump
                else 'host_key_policy = "accept-new"',
            )
            self._authenticate(transport, hop, is_jump)
            transport.set_keepalive(hop.keepalive)
        return transport

    def _socket(
        self, hop: Hop, via: paramiko.Transport | None, is_jump: bool
    ) -> socket.socket | paramiko.Channel:
        if via is None:
            with self._mapped(hop, is_jump):
                sock = socket.create_connection((hop.hostname, hop.port), self._remaining())
                # Without it, Nagle and delayed ACKs add ~40 ms to each channel request.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
        try:
            return via.open_channel(
                "direct-tcpip",
                (hop.hostname, hop.port),
                ("127.0.0.1", 0),
                timeout=self._remaining(),
            )
        except paramiko.ChannelException as exc:
            raise self._fail(
                hop, f"the jump host could not connect ({exc.text})", is_jump
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if time.monotonic() >= self.deadline:
                raise self._timed_out(hop, is_jump) from None
            raise self._fail(hop, f"the jump host connection failed ({exc})", is_jump) from None

    @contextmanager
    def _mapped(self, hop: Hop, is_jump: bool) -> Iterator[None]:
        """Turn socket and paramiko failures into SshError with a human reason."""
        try:
            yield
        except SshError:
            raise
        except socket.gaierror as exc:
            raise self._fail(hop, f"cannot resolve host name ({exc.strerror})", is_jump) from None
        except TimeoutError:
            raise self._timed_out(hop, is_jump) from None
        except ConnectionRefusedError:
            raise self._fail(hop, "connection refused", is_jump) from None
        except (ConnectionResetError, EOFError):
            raise self._fail(hop, "connection closed by the server", is_jump) from None
        except OSError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                raise self._fail(hop, "no route to host", is_jump) from None
            raise self._fail(hop, exc.strerror or str(exc), is_jump) from None
        except paramiko.SSHException as exc:
            if time.monotonic() >= self.deadline:
                raise self._timed_out(hop, is_jump) from None
            text = str(exc) or type(exc).__name__
            if "banner" in text.lower():
                text = f"the server does not speak SSH ({text})"
            raise self._fail(hop, text, is_jump) from None
        except Exception as exc:
            # This is the boundary promise: whatever paramiko's thread recorded (it can be
            # any exception), the caller gets an SshError naming the node.
            raise self._fail(hop, f"{type(exc).__name__}: {exc}", is_jump) from None

    def _authenticate(self, transport: paramiko.Transport, hop: Hop, is_jump: bool) -> None:
        tried: list[str] = []
        keys = self._keys(hop, tried)
        try:
            for key in keys:
                transport.auth_timeout = self._remaining()
                with suppress(paramiko.AuthenticationException):
                    transport.auth_publickey(hop.user, key)
                if time.monotonic() >= self.deadline and not transport.is_authenticated():
                    raise self._timed_out(hop, is_jump)
                if transport.is_authenticated():
                    return
                if not transport.is_active():
                    break  # the server gave up on us (MaxAuthTries); more keys cannot help
        finally:
            keys.close()  # closes the agent connection if we stopped while using it
        tried_text = ", ".join(tried) or "no keys: set identity_file or load a key into ssh-agent"
        raise self._fail(
            hop, f"authentication failed for user {hop.user} (tried: {tried_text})", is_jump
        )

    def _keys(self, hop: Hop, tried: list[str]) -> Generator[paramiko.PKey, None, None]:
        """Keys in ssh's order of preference, noting each source in `tried` as it is used."""
        for path in hop.identity_files:
            key, problem = _load_key(path)
            tried.append(f"key file {path}" + (f" ({problem})" if problem else ""))
            if key is not None:
                yield key
        if self.agent and not hop.identities_only:
            yield from self._agent_keys(tried)
        if not hop.identity_files:
            for name in DEFAULT_IDENTITIES:
                path = str(Path.home() / ".ssh" / name)
                if os.path.exists(path):
                    key, problem = _load_key(path)
                    tried.append(f"key file {path}" + (f" ({problem})" if problem else ""))
                    if key is not None:
                        yield key
        for path in hop.fallback_identities:
            key, problem = _load_key(path)
            tried.append(f"key file {path}" + (f" ({problem})" if problem else ""))
            if key is not None:
                yield key

    def _agent_keys(self, tried: list[str]) -> Iterator[paramiko.PKey]:
        if not os.environ.get("SSH_AUTH_SOCK"):
            tried.append("agent (not running: SSH_AUTH_SOCK is not set)")
            return
        try:
            agent = paramiko.Agent()
        except (paramiko.SSHException, OSError) as exc:
            tried.append(f"agent (unusable: {exc})")
            return
        try:
            keys = agent.get_keys()
            tried.append("agent" if keys else "agent (no keys)")
            yield from keys
        finally:
            agent.close()


def _load_key(path: str) -> tuple[paramiko.PKey | None, str]:
    """A private key from a file, or the reason it could not be used."""
    if not os.path.exists(path):
        return None, "does not exist"
    try:
        return paramiko.PKey.from_path(path), ""
    except paramiko.PasswordRequiredException:
        return None, "encrypted: load it into ssh-agent"
    except TypeError as exc:
        # cryptography reports a missing passphrase as a TypeError.
        if "encrypted" in str(exc):
            return None, "encrypted: load it into ssh-agent"
        return None, f"unreadable: {exc}"
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    except (paramiko.SSHException, ValueError) as exc:
        return None, f"not a private key paramiko can read: {exc}"
