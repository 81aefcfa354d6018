"""Free TCP ports on loopback for the lab's etcd and sshd listeners."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports that nothing listens on right now.

    Every socket stays bound until all ports are chosen, so the kernel cannot hand out the same
    port twice within one lab; two labs started side by side get different ports for the same
    reason (their listeners hold them once started).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
