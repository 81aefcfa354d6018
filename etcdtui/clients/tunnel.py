"""HTTP(S) to an etcd member through an SSH ``direct-tcpip`` channel opened on a node.

The request still names the member by its real URL (say ``https://10.0.0.11:2379``): only the
TCP connection underneath is replaced by a channel from the node's sshd to the member's client
port as the node sees it (kubeadm: ``127.0.0.1:2379``). urllib3 then does TLS on that
connection exactly as for a direct one: SNI and the certificate's host-name check use the
member's real name, never the loopback address the node connects to. Nothing listens on the
bastion: each connection is a private socket pair, so no other local user can use the tunnel.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

import paramiko
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Opens the channel for one new HTTP connection; its argument is the connect timeout.
ChannelOpener = Callable[[float], paramiko.Channel]

_CHUNK = 65536


def channel_socket(channel: paramiko.Channel) -> socket.socket:
    """A local socket whose traffic a thread relays to and from `channel`.

    ssl needs a real socket to wrap; a paramiko channel is not one. The relay ends (closing
    both sides) when either side closes, so a connection dropped by the HTTP pool closes its
    channel, and a channel closed by the node closes the connection.
    """
    ours, theirs = socket.socketpair()
    relay = threading.Thread(target=_relay, args=(theirs, channel), name="ssh-tunnel", daemon=True)
    relay.start()
    return ours


def _relay(sock: socket.socket, channel: paramiko.Channel) -> None:
    watched: list[Any] = [sock, channel]
    try:
        while True:
            ready, _, _ = select.select(watched, [], [])
            if sock in ready:
                data = sock.recv(_CHUNK)
                if not data:
                    break
                channel.sendall(data)
            if channel in ready:
                data = channel.recv(_CHUNK)
                if not data:
                    break
                sock.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        pass  # either side went away: the HTTP client sees a closed connection
    finally:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            channel.close()
        sock.close()


def _connect_timeout(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else default


class TunnelAdapter(HTTPAdapter):
    """A requests adapter whose connections are SSH channels (plain HTTP or HTTPS on top)."""

    def __init__(self, opener: ChannelOpener, default_timeout: float) -> None:
        # Set before HTTPAdapter.__init__, which builds the pool manager.
        self._opener = opener
        self._default_timeout = default_timeout
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        opener, default = self._opener, self._default_timeout

        def new_conn(conn: HTTPConnection) -> socket.socket:
            return channel_socket(opener(_connect_timeout(conn.timeout, default)))

        http_conn = type("TunnelHTTPConnection", (HTTPConnection,), {"_new_conn": new_conn})
        https_conn = type("TunnelHTTPSConnection", (HTTPSConnection,), {"_new_conn": new_conn})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("TunnelHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("TunnelHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }
