"""The lab's stand-in kube-apiserver: reads etcd the way a kube-apiserver is told to.

Started by the lab's kubelet from a kube-apiserver.yaml manifest with the real flags; it uses
only ``--etcd-servers``, ``--etcd-cafile``, ``--etcd-certfile`` and ``--etcd-keyfile`` (all
other flags are accepted and ignored) and reads one key every second from the first server
that answers, logging when that changes. It writes nothing, so it never disturbs what the
runbooks verify.
"""

from __future__ import annotations

import base64
import datetime
import json
import signal
import ssl
import sys
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
        if state != last:
            say(state)
            last = state
        time.sleep(1.0)
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
