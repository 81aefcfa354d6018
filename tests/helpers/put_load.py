"""A steady write load on a cluster, in a process of its own so that it does not share a
GIL with what it loads: `python -m tests.helpers.put_load RATE ENDPOINT...`.

Many threads, each with its own keep-alive connection to a member's gateway, take numbered
slots (slot i falls at start + i / RATE): the puts stay paced at RATE per second, and one slow
put delays only its own thread. It writes until its stdin closes, then prints
"PUTS <done> <failed> <seconds>".
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

THREADS = 64  # in flight at once: 200 puts/s even at 300 ms a put


class Load:
    """The pacing and the tally shared by the writer threads."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.lock = threading.Lock()
        self.slot = 0
        self.done = 0
        self.failed = 0
        self.stop = threading.Event()
        self.started = time.monotonic()

    def next_slot(self) -> float:
        with self.lock:
            self.slot += 1
            return self.started + self.slot / self.rate

    def count(self, ok: bool) -> None:
        with self.lock:
            if ok:
                self.done += 1
            else:
                self.failed += 1


def writer(load: Load, endpoint: str, n: int) -> None:
    url = urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    i = 0
    while not load.stop.is_set():
        wait = load.next_slot() - time.monotonic()
        if wait > 0 and load.stop.wait(wait):
            break
        key = base64.b64encode(f"load/{n}/{i % 200}".encode()).decode()
        body = json.dumps({"key": key, "value": base64.b64encode(b"x" * 100).decode()})
        i += 1
        try:
            connection.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            load.count(answer.status == 200)
        except (OSError, http.client.HTTPException):
            load.count(False)
            connection.close()  # reconnects on the next request
    connection.close()


def main(argv: list[str]) -> int:
    rate, endpoints = float(argv[0]), argv[1:]
    load = Load(rate)
    threads = [
        threading.Thread(target=writer, args=(load, endpoints[n % len(endpoints)], n), daemon=True)
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    print("STARTED", flush=True)
    sys.stdin.read()  # until the test closes it
    seconds = time.monotonic() - load.started
    load.stop.set()
    with load.lock:
        done, failed = load.done, load.failed  # puts still in flight come after the time
    for thread in threads:
        thread.join(timeout=15)
    print(f"PUTS {done} {failed} {seconds:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
