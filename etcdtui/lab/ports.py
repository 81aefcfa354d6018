"""Free TCP ports on loopback for the lab's etcd and sshd listeners."""

from __future__ import annotations

import os
import random
import socket
import threading
from collections import deque

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


# Below the kernel's ephemeral range (32768-60999 here): a port taken from that range can be
# grabbed by any outgoing connection between the choice and etcd's bind.
LAB_PORTS = range(20000, 32768)
PORT_RANGE_ENV = "ETCDTUI_LAB_PORTS"  # "LOW-HIGH", e.g. one range per pytest-xdist worker
_HANDED: deque[int] = deque(maxlen=4096)  # chosen by this process, maybe not bound yet
_LOCK = threading.Lock()


def port_range() -> range:
    """The ports labs choose from: $ETCDTUI_LAB_PORTS if set, else LAB_PORTS."""
    text = os.environ.get(PORT_RANGE_ENV, "").strip()
    if not text:
        return LAB_PORTS
    low, _, high = text.partition("-")
    try:
        chosen = range(int(low), int(high) + 1)
    except ValueError:
        raise ValueError(f"${PORT_RANGE_ENV} must be LOW-HIGH, not {text!r}") from None
    if not (chosen.start >= 1024 and chosen.stop <= 32768 and len(chosen) >= 16):
        raise ValueError(f"${PORT_RANGE_ENV}={text}: keep 16 or more ports within 1024-32767")
    return chosen


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports of port_range() that nothing listens on right now.

    The search starts at a random place, so labs started side by side by different processes
    rarely try the same ports; within one process a port is never handed out twice in a row
    of 4096. Every socket stays bound until all ports are chosen.
    """
    ports = port_range()
    first = random.randrange(len(ports))
    sockets: list[socket.socket] = []
    chosen: list[int] = []
    with _LOCK:
        try:
            for i in range(len(ports)):
                port = ports[(first + i) % len(ports)]
                if port in _HANDED:
                    continue
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                # As etcd and sshd bind: connections of a lab just stopped (TIME_WAIT) do not
                # count, a listener does.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port))
                except OSError:
                    sock.close()
                    continue
                sockets.append(sock)
                chosen.append(port)
                if len(chosen) == count:
                    _HANDED.extend(chosen)
                    return chosen
        finally:
            for sock in sockets:
                sock.close()
    raise ValueError(f"fewer than {count} free ports in {ports.start}-{ports.stop - 1} on {host}")
