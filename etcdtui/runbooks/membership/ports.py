"""Is a port free on a node? Read from the node's own /proc/net/tcp and tcp6 over SSH.

A new member's etcd binds its peer and its client URLs: either taken (another etcd, a stray
process) makes it exit at once, after the member was already added. The preflight asks the
node which TCP ports are listening, in its own network namespace; /proc/net is on every Linux
node, where `ss` or a Python to run a bind test may not be.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

# Every listening socket of the node: /proc/net/tcp{,6} rows whose state is 0A (LISTEN).
LISTENING_SCRIPT = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"
_LISTEN = "0A"
_ANY = {ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")}


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net's address: 8 (IPv4) or 32 (IPv6) hex digits, in 32-bit host-order words."""
    raw = bytes.fromhex(hex_address)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(swapped)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def listening(proc_net_tcp: str) -> set[tuple[str, int]]:
    """(address, port) of every listening socket in the text of /proc/net/tcp and tcp6."""
    found: set[tuple[str, int]] = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN or ":" not in fields[1]:
            continue
        host, _, port = fields[1].rpartition(":")
        try:
            found.add((str(_address(host)), int(port, 16)))
        except ValueError:
            continue  # the header line, or a row this parser does not know
    return found


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if port is None:
        port = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "", port) if port is not None else None


def _clashes(host: str, address: str) -> bool:
    """Whether a listener on `address` keeps etcd from binding `host` on the same port."""
    try:
        wanted = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name: it may resolve to that address; count it as taken
    bound = ipaddress.ip_address(address)
    return wanted in _ANY or bound in _ANY or wanted == bound


def taken(urls: Iterable[str], listeners: set[tuple[str, int]]) -> list[str]:
    """The URLs whose address and port something on the node listens on already."""
    busy = []
    for url in urls:
        where = _host_port(url)
        if where is None:
            continue
        host, port = where
        if any(p == port and _clashes(host, a) for a, p in listeners):
            busy.append(url)
    return busy
