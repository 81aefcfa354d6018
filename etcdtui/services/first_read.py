"""The dashboard's first read of a cluster, made by a child process while the TUI starts.

For its first half second the TUI's process keeps one core busy: it imports Textual, paints
the first frame and the cached view. Its first poll needs etcd3-py and requests imported and
one request per member and per kind, about as much CPU again, and a worker thread waits for
that same core (one interpreter lock). A child process started before Textual is imported
does that work on the machine's other core, so the first live view is usually in by the time
the dashboard is mounted.

Direct connections only: an SSH route may ask the user about a host key, and its connections
are the TUI's to keep. The child gets the connection's endpoints, TLS file names and timeout
as one JSON argument (no secret: file names), and prints the view as JSON with every field
(`view_cache.WHOLE`). The TUI checks each field against its type, as it does a cached view.
Whatever goes wrong (the child fails, prints anything else, or outlives the time a read may
take), the first poll reads the cluster itself, as it would without a child.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from etcdtui.config import Connection, TlsFiles
from etcdtui.models import ClusterView
from etcdtui.services.view_cache import WHOLE, decode, encode

# On top of a read's own deadline (the timeout and its slack): the child's start and imports,
# on a loaded machine.
START_ALLOWANCE = 3.0
READ_SLACK = 0.25
MAX_OUTPUT = 8 << 20  # bytes; a 100-member view with its histograms is well under 1 MB


class FirstRead:
    """One child process reading the cluster once; `view` takes its result, once."""

    def __init__(self, process: subprocess.Popen[bytes], seconds: float) -> None:
        self._process = process
        self._deadline = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._taken = False

    @classmethod
    def start(cls, connection: Connection, command: Sequence[str] = ()) -> FirstRead | None:
        """The child reading `connection`'s cluster, started now; None where there is none
        to start (an SSH route, certificates on a node, no endpoint, or no process).
        `command`: another child program (tests)."""
        if connection.via_ssh or connection.certs_on_node or not connection.endpoints:
            return None
        argv = [*(command or (sys.executable, "-m", __name__)), request_of(connection)]
        try:
            # Its own session: nothing typed at the terminal reaches it; nothing of it shows.
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except OSError:
            return None
        return cls(process, connection.timeout + READ_SLACK + START_ALLOWANCE)

    def done(self) -> bool:
        """True once the child has exited (its view, or its failure, is in)."""
        return self._process.poll() is not None

    def ready(self) -> bool:
        """True once the child has exited after printing a view (still to be checked)."""
        return self._process.poll() == 0

    def view(self) -> ClusterView | None:
        """The child's view, waited for until its deadline; None if there is none to use (and
        on every call after the first)."""
        with self._lock:
            if self._taken:
                return None
            self._taken = True
        try:
            timeout = max(0.0, self._deadline - time.monotonic())
            output, _ = self._process.communicate(timeout=timeout)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            self._stop()
            return None
        if self._process.returncode != 0 or len(output) > MAX_OUTPUT:
            return None
        try:
            return decode(ClusterView, json.loads(output), WHOLE)
        except (ValueError, TypeError, KeyError, RecursionError):  # BadCache is a ValueError
            return None

    def close(self) -> None:
        """Stop the child if it still runs (the TUI quit before its first poll)."""
        with self._lock:
            taken, self._taken = self._taken, True
        if not taken:
            self._stop()
            return
        self._process.kill()  # a `view` under way then returns None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=1.0)  # gone when the TUI is

    def _stop(self) -> None:
        self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def request_of(connection: Connection) -> str:
    """What the child is told of `connection`: what a direct read uses, nothing else."""
    tls = connection.tls
    return json.dumps({"cluster": connection.cluster, "endpoints": list(connection.endpoints),
                       "tls": {"cacert": tls.cacert, "cert": tls.cert, "key": tls.key},
                       "timeout": connection.timeout})  # fmt: skip


def connection_of(request: object) -> Connection:
    """The connection a request names (ValueError if it names none)."""
    if not isinstance(request, dict):
        raise ValueError("not a request")
    endpoints, tls = request.get("endpoints"), request.get("tls")
    if not isinstance(endpoints, list) or not isinstance(tls, dict):
        raise ValueError("not a request")
    files = {name: str(tls[name]) if tls.get(name) else None for name in ("cacert", "cert", "key")}
    return Connection(
        cluster=str(request.get("cluster", "")),
        endpoints=tuple(str(e) for e in endpoints),
        tls=TlsFiles(**files),
        timeout=float(request["timeout"]),
    )


def read_once(request: object) -> str:
    """The child's work: one full read of the cluster `request` names, as JSON."""
    from etcdtui.clients.cluster import ClusterClient

    cluster = ClusterClient(connection_of(request))
    try:
        return json.dumps(encode(cluster.read(), WHOLE), separators=(",", ":"))
    finally:
        cluster.close()


def main(argv: Sequence[str]) -> None:
    gc.disable()  # a short life: nothing to collect
    try:
        output = read_once(json.loads(argv[0]))
    except Exception:  # any failure: the TUI reads for itself
        os._exit(1)
    sys.stdout.write(output)
    sys.stdout.flush()
    # Not a normal exit: that would wait for the read's threads still blocked on a frozen member.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
