"""Free TCP ports on loopback for the lab's etcd and sshd listeners."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def fixed_ports(base: int, count: int, host: str = LOOPBACK) -> list[int]:
    """`count` consecutive ports from `base`, each checked free, for a lab at known addresses."""
    if not 1024 <= base <= 65535 - count:
        raise ValueError(f"--base-port must leave room for {count} ports between 1024 and 65535")
    for port in range(base, base + count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As etcd and sshd bind: connections of a lab just stopped (TIME_WAIT) do not count.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                raise ValueError(f"port {port} on {host} is in use") from None
    return list(range(base, base + count))


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
