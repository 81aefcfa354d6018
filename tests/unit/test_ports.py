"""Lab ports: below the kernel's ephemeral range, distinct, and never a listener's."""

from __future__ import annotations

import socket
from collections import deque

import pytest

from etcdtui.lab import ports as ports_module
from etcdtui.lab.ports import PORT_RANGE_ENV, free_ports, port_range


def ephemeral_low() -> int:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
        return int(handle.read().split()[0])


def test_lab_ports_stay_below_the_ephemeral_range_and_are_distinct() -> None:
    ports = free_ports(60)
    assert len(set(ports)) == 60
    assert all(1024 <= p < min(32768, ephemeral_low()) for p in ports)
    # Handed out again only after thousands of others: a lab not yet bound keeps its ports.
    assert not set(ports) & set(free_ports(60))


def _listen_on_16_of_20(base: int) -> list[socket.socket] | None:
    """Listeners on base..base+15, with base+16..base+19 free; None if any is taken."""
    listeners: list[socket.socket] = []
    try:
        for port in range(base, base + 20):
            sock = socket.socket()
            listeners.append(sock)
            sock.bind(("127.0.0.1", port))
            if port < base + 16:
                sock.listen()
    except OSError:
        for sock in listeners:
            sock.close()
        return None
    for sock in listeners[16:]:
        sock.close()  # free again: the four ports the test expects
    return listeners[:16]


def test_a_listening_port_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports_module, "_HANDED", deque(maxlen=4096))  # this test's own
    # Below every worker's lab ports (20000+) and the README's example lab (19800+).
    base, listeners = next(
        (b, found) for b in range(19100, 19700, 20) if (found := _listen_on_16_of_20(b))
    )
    try:
        monkeypatch.setenv(PORT_RANGE_ENV, f"{base}-{base + 19}")
        assert set(free_ports(4)) == set(range(base + 16, base + 20))
        with pytest.raises(ValueError, match=f"fewer than 4 free ports in {base}-{base + 19}"):
            free_ports(4)  # the four free ones were just handed out
    finally:
        for sock in listeners:
            sock.close()


@pytest.mark.parametrize("text", ["x", "40000-41000", "500-900", "20000-20003"])
def test_a_bad_port_range_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(PORT_RANGE_ENV, text)
    with pytest.raises(ValueError, match=PORT_RANGE_ENV):
        port_range()
