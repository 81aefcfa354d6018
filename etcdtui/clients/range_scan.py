"""Paginated range reads for scanning a keyspace without loading the cluster.

Each page is one `POST /v3/kv/range` to etcd's gRPC-JSON gateway: `limit` keys, keys only
unless values are wanted, serializable (the member answers from its own store, so a
follower serves it without asking the leader), and pinned to the first page's revision so
every page reads the same consistent keyspace. The next page starts just after the last key
of the one before. Pages are paced to a rate limit in keys per second.

This talks to the member's client URL directly, with the connection's TLS files; a cluster
reached only through SSH has no route here (`RangeScanner.supported`).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from etcdtui.clients.etcd_api import as_int, b64, prefix_end
from etcdtui.clients.etcd_failures import describe_failure
from etcdtui.config import Connection, TlsFiles
from etcdtui.errors import EtcdError

PAGE_KEYS = 1000


@dataclass(frozen=True)
class RangePage:
    """One page of a range read: its keys (and their value sizes, unless keys only)."""

    revision: int
    keys: list[bytes]
    value_sizes: list[int] | None  # None for a keys-only page
    more: bool


class RangeScanner:
    """Range reads against one member's gRPC-JSON gateway, one HTTP connection reused."""

    def __init__(self, endpoint: str, tls: TlsFiles | None = None, timeout: float = 5.0) -> None:
        import requests

        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        tls = tls or TlsFiles()
        self._session = requests.Session()
        # As GatewayClient: the CA given for etcd is the one used, and no web proxy.
        self._session.trust_env = False
        self._session.verify = tls.cacert or True
        self._has_cert = bool(tls.cert and tls.key)
        if tls.cert and tls.key:
            self._session.cert = (tls.cert, tls.key)
        self._cert_file = tls.cert or ""

    @staticmethod
    def supported(connection: Connection) -> bool:
        """True when the members' client URLs are reached directly, with local TLS files."""
        return not (connection.via_ssh or connection.certs_on_node)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._session.post(
                f"{self.endpoint}/v3/kv/range", json=body, timeout=self.timeout
            )
            data: dict[str, Any] = response.json()
        except Exception as exc:
            raise describe_failure(
                exc, self.endpoint, self.timeout, self._has_cert, self._cert_file
            ) from None
        if response.status_code != 200 or "error" in data or "code" in data:
            message = str(data.get("message") or data.get("error") or response.status_code)
            raise EtcdError(f"{self.endpoint}: range read refused: {message}")
        return data

    def page(
        self, start: bytes, end: bytes, *, limit: int, keys_only: bool, revision: int = 0
    ) -> RangePage:
        """Keys [start, end) in key order, at most `limit`, serializable, at `revision`
        (0: the member's newest)."""
        body: dict[str, Any] = {
            "key": b64(start),
            "range_end": b64(end),
            "limit": str(limit),
            "serializable": True,
            "keys_only": keys_only,
        }
        if revision:
            body["revision"] = str(revision)
        data = self._post(body)
        kvs = data.get("kvs") or ()
        keys = [base64.b64decode(kv.get("key", "")) for kv in kvs]
        sizes = None if keys_only else [len(base64.b64decode(kv.get("value", ""))) for kv in kvs]
        revision_now = as_int((data.get("header") or {}).get("revision"))
        return RangePage(revision_now, keys, sizes, bool(data.get("more")))

    def close(self) -> None:
        self._session.close()


class Pacer:
    """Keeps a scan at or below `rate` keys per second by sleeping between pages."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self.started = clock()
        self.done = 0

    def account(self, keys: int, stop: threading.Event | None = None) -> None:
        """Count `keys` read; wait until reading them was allowed (or `stop` is set)."""
        self.done += keys
        ahead = self.done / self.rate - (self._clock() - self.started)
        if ahead > 0:
            if stop is not None:
                stop.wait(ahead)
            else:
                time.sleep(ahead)

    @property
    def keys_per_second(self) -> float:
        elapsed = self._clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


def _narrower(
    windows: Callable[[bytes], list[bytes]] | None, key: bytes, ends: list[bytes]
) -> None:
    """Push the ends of the parts of the keyspace holding `key` that are narrower than the
    current range (a part's end below the current end), widest first."""
    for folder in windows(key) if windows is not None else ():
        if not folder:
            continue  # a key outside any folder: no narrower part
        end = prefix_end(folder)
        if ends[-1] == b"\0" or end < ends[-1]:
            ends.append(end)


def scan_pages(
    scanner: RangeScanner,
    prefix: bytes,
    *,
    keys_only: bool = True,
    page_keys: int = PAGE_KEYS,
    pacer: Pacer | None = None,
    stop: threading.Event | None = None,
    windows: Callable[[bytes], list[bytes]] | None = None,
) -> Iterator[RangePage]:
    """Every key under `prefix` (b"": all keys), page by page at one revision.

    etcd counts every key from a page's start to its range end to answer one page, so a
    page of an open range costs the whole rest of the keyspace. `windows` (a key -> the
    folders it is in, widest first: /registry/, /registry/pods/, /registry/pods/ns-a/)
    bounds each page to the narrowest folder of the key before it; when a folder is done,
    the scan goes on with the rest of the folder around it.
    """
    start = prefix or b"\0"
    ends = [prefix_end(prefix) if prefix else b"\0"]
    revision = 0
    while stop is None or not stop.is_set():
        found = scanner.page(start, ends[-1], limit=page_keys, keys_only=keys_only,
                             revision=revision)  # fmt: skip
        revision = revision or found.revision
        if found.keys:
            yield RangePage(revision, found.keys, found.value_sizes, found.more)
            if pacer is not None:
                pacer.account(len(found.keys), stop)
        if found.more and found.keys:
            start = found.keys[-1] + b"\0"
            _narrower(windows, found.keys[-1], ends)
        elif len(ends) > 1:
            start = ends.pop()  # this folder is done: on to the rest of the one around it
        else:
            return
