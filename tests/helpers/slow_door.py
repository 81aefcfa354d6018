"""A TCP forwarder on loopback that holds every new connection `delay` seconds before it
connects it on: an SSH server that is slow to greet (a loaded node, a long WAN hop). While
`refusing`, it hangs up on every new connection instead (a node whose sshd is down)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from tests.helpers.sshd import free_port


class SlowDoor:
    """Listens on 127.0.0.1:`port` and forwards to `target` after `delay` seconds."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target = target
        self.delay = delay
        self.port = free_port()
        self.accepted = 0
        self.refusing = False
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            if self.refusing:
                client.close()
                continue
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        time.sleep(self.delay)
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._sockets += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()
        self._thread.join(timeout=2)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def slow_doors(targets: dict[str, tuple[str, int]], delay: float) -> Iterator[dict[str, SlowDoor]]:
    """A SlowDoor per name, all closed on the way out."""
    doors = {name: SlowDoor(target, delay) for name, target in targets.items()}
    try:
        yield doors
    finally:
        for door in doors.values():
            door.close()
