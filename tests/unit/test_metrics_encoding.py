"""/metrics is asked for uncompressed on a direct route: etcd gzips its 160 kB when asked (as
requests asks by default), CPU on the member and here for bytes a direct route carries anyway.

What the client asks is what is checked, so an HTTP server on loopback records the request;
what etcd answers to either is not in question here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from requests.adapters import HTTPAdapter

from etcdtui.clients.gateway import GatewayClient

BODY = b"# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n"


class _Recording(BaseHTTPRequestHandler):
    asked: list[str | None] = []

    def do_GET(self) -> None:
        _Recording.asked.append(self.headers.get("Accept-Encoding"))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recording.asked.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_direct_route_asks_for_metrics_uncompressed(endpoint: str) -> None:
    text = GatewayClient(endpoint, timeout=5).metrics_text()
    assert text == BODY.decode()
    assert _Recording.asked == ["identity"]


def test_a_tunnel_still_asks_for_them_compressed(endpoint: str) -> None:
    text = GatewayClient(endpoint, timeout=5, adapter=HTTPAdapter()).metrics_text()
    assert text == BODY.decode()
    assert _Recording.asked and "gzip" in (_Recording.asked[0] or "")
