"""The lab's stand-in kube-apiserver: reads etcd the way a kube-apiserver is told to.

Started by the lab's kubelet from a kube-apiserver.yaml manifest with the real flags; it uses
only ``--etcd-servers``, ``--etcd-cafile``, ``--etcd-certfile`` and ``--etcd-keyfile`` (all
other flags are accepted and ignored) and reads one key every second from the first server
that answers, logging when that changes. It writes nothing, so it never disturbs what the
runbooks verify. Like kube-apiserver it answers ``/readyz`` (200 once it reads etcd, 500
otherwise) and ``/livez`` over HTTPS on 127.0.0.1:``--secure-port``, with
``--tls-cert-file``/``--tls-private-key-file``, so runbooks can wait for it to serve again.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import signal
import ssl
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit

from etcdtui.lab.probe import ssl_context

PROBE_KEY = base64.b64encode(b"/registry/health").decode()


def flags(argv: list[str]) -> dict[str, str]:
    """``--name=value`` arguments as a dict (other forms are ignored)."""
    found = {}
    for argument in argv:
        if argument.startswith("--") and "=" in argument:
            name, value = argument[2:].split("=", 1)
            found[name] = value
    return found


def read_once(server: str, context: ssl.SSLContext | None) -> None:
    """A range request on `server`; raises OSError (or ValueError) if it fails."""
    if urlsplit(server).scheme == "https" and context is None:
        raise ValueError("https server but no --etcd-cafile/--etcd-certfile/--etcd-keyfile")
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    body = json.dumps({"key": PROBE_KEY}).encode()
    with opener.open(server.rstrip("/") + "/v3/kv/range", data=body, timeout=2) as response:
        json.loads(response.read())


class Health:
    """Whether the last read of etcd worked: what /readyz reports."""

    def __init__(self) -> None:
        self.ready = False


def serve_health(options: dict[str, str], health: Health) -> http.server.HTTPServer | None:
    """Answer /readyz and /livez on 127.0.0.1:--secure-port (HTTPS when a certificate is
    given) in a thread; None when no port is set."""
    port = int(options.get("secure-port", "0") or 0)
    if not port:
        return None

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            ok = path == "/livez" or (path == "/readyz" and health.ready)
            known = path in ("/livez", "/readyz")
            body = b"ok" if ok else b"etcd: not reading" if known else b"not found"
            self.send_response(200 if ok else 500 if known else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every second would drown the pod's log

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    cert, key = options.get("tls-cert-file"), options.get("tls-private-key-file")
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    options = flags(sys.argv[1:] if argv is None else argv)
    servers = [s for s in options.get("etcd-servers", "").split(",") if s]
    context = ssl_context(
        options.get("etcd-cafile"), options.get("etcd-certfile"), options.get("etcd-keyfile")
    )
    running = True

    def stop(_signum: int, _frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)

    def say(message: str) -> None:
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        print(f"{stamp} {message}", flush=True)

    say(f"stand-in kube-apiserver: etcd servers {','.join(servers) or '(none)'}")
    health = Health()
    try:
        health_server = serve_health(options, health)
    except (OSError, ValueError, ssl.SSLError) as exc:
        say(f"cannot serve /readyz: {exc}")
        return 1
    last = ""
    while running:
        state = "no etcd server answered"
        for server in servers:
            try:
                read_once(server, context)
            except (OSError, ValueError) as exc:
                state = f"no etcd server answered (last: {server}: {exc})"
                continue
            state = f"reading etcd through {server}"
            break
        health.ready = state.startswith("reading")
        if state != last:
            say(state)
            last = state
        time.sleep(1.0)
    if health_server is not None:
        health_server.shutdown()
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
