"""The project's error hierarchy: every failure a person sees is one of these."""

from __future__ import annotations


class EtcdtuiError(Exception):
    """A failure with a one-line message a person can act on, and an optional hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Lines a front end shows after the message (e.g. where a node-side copy remains):
        # the cause comes first, what it left behind below it.
        self.notes: list[str] = []

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(EtcdtuiError):
    """Bad input on the command line or in the TUI: exit 2, nothing changed."""


class ConfigError(UsageError):
    """A malformed or missing configuration file or key."""


class EtcdError(EtcdtuiError):
    """An etcd endpoint could not be reached or refused a request."""

    def __init__(self, message: str, hint: str = "", endpoint: str = "") -> None:
        super().__init__(message, hint)
        self.endpoint = endpoint


class EtcdTimeout(EtcdError):
    """An etcd request did not answer within its timeout."""


class EtcdTLSError(EtcdError):
    """The TLS handshake with an etcd endpoint failed (wrong CA, certificate or key)."""


class SshError(EtcdtuiError):
    """A node could not be reached or logged into over SSH."""

    def __init__(self, message: str, hint: str = "", node: str = "") -> None:
        super().__init__(message, hint)
        self.node = node


class SshTimeout(SshError):
    """An SSH connection or command did not finish within its timeout."""


class ForwardingDenied(SshError):
    """The node's sshd refuses TCP forwarding (``AllowTcpForwarding no``)."""


class HostKeyError(SshError):
    """A node's SSH host key is unknown or does not match known_hosts."""


class SnapshotError(EtcdtuiError):
    """A snapshot file is corrupt, truncated, or cannot be decrypted."""


class SnapshotKeyError(SnapshotError):
    """An encrypted snapshot without its key, or with the wrong one."""


class LabError(EtcdtuiError):
    """The local lab could not be started or stopped."""
