"""The TUI's first read in a child process: what it is told, and every way it can fail (the
first poll then reads the cluster itself). The child's real read is tested on the labs
(tests/lab/test_first_read_labs.py)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import pytest

from etcdtui.config import Connection, NodeConfig, SshTarget, TlsFiles, from_flags
from etcdtui.services import first_read
from etcdtui.services.first_read import FirstRead, connection_of, request_of

PYTHON = sys.executable


def direct() -> Connection:
    return from_flags("http://127.0.0.1:2379,http://127.0.0.1:2479", timeout=0.2)


def child(code: str) -> list[str]:
    """A child program that ignores its request and runs `code`."""
    return [PYTHON, "-c", code]


def test_the_child_is_told_the_endpoints_tls_files_and_timeout_only() -> None:
    connection = replace(
        direct(),
        cluster="prod",
        tls=TlsFiles(cacert="/pki/ca.crt", cert="/pki/c.crt", key="/pki/c.key"),
        nodes=(NodeConfig(name="node1", ssh=SshTarget(host="10.0.0.1")),),
        profiles={"lab": {"stop": "kill -9 1"}},
    )
    request = json.loads(request_of(connection))
    assert set(request) == {"cluster", "endpoints", "tls", "timeout"}
    again = connection_of(request)
    assert (again.cluster, again.endpoints, again.tls, again.timeout) == (
        "prod", connection.endpoints, connection.tls, 0.2)  # fmt: skip
    assert again.nodes == () and not again.via_ssh


@pytest.mark.parametrize(
    "other",
    [
        {"via": "ssh"},
        {"certs_on_node": "node1"},
        {"endpoints": ()},
    ],
    ids=["through-ssh", "certificates-on-a-node", "no-endpoint"],
)
def test_no_child_where_the_read_is_not_a_direct_one(other: dict[str, object]) -> None:
    assert FirstRead.start(replace(direct(), **other), child("print('{}')")) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code",
    [
        "print('[b]not json')",
        "print('{\"cluster\": 1}')",
        "import sys; print('{}'); sys.exit(3)",
        "import sys; sys.stdout.write('x' * (9 << 20))",
    ],
    ids=["not-json", "not-a-view", "failed", "too-large"],
)
def test_a_child_without_a_usable_view_leaves_the_read_to_the_tui(code: str) -> None:
    started = FirstRead.start(direct(), child(code))
    assert started is not None
    assert started.view() is None
    assert started.done()


@pytest.mark.parametrize(("code", "ready"), [("print('{}')", True), ("raise SystemExit(1)", False)])
def test_only_a_child_that_printed_its_view_is_ready(code: str, ready: bool) -> None:
    started = FirstRead.start(direct(), child(code))
    assert started is not None
    deadline = time.monotonic() + 30
    while not started.done():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert started.ready() is ready
    started.close()


def test_a_child_slower_than_a_read_may_take_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(first_read, "START_ALLOWANCE", 0.3)
    started = FirstRead.start(direct(), child("import time; time.sleep(60)"))
    assert started is not None
    began = time.monotonic()
    assert started.view() is None
    assert time.monotonic() - began < 5
    assert started.done(), "the child is stopped, not left behind"


def test_close_stops_a_child_still_reading() -> None:
    started = FirstRead.start(direct(), child("import time; time.sleep(60)"))
    assert started is not None and not started.done()
    started.close()
    assert started.done()
    assert started.view() is None


def test_a_view_is_taken_once() -> None:
    # The real child, against endpoints where nothing listens: a view of unreachable members.
    connection = from_flags("http://127.0.0.1:9,http://127.0.0.1:10", timeout=0.5)
    started = FirstRead.start(connection)
    assert started is not None
    view = started.view()
    assert view is not None and view.error.startswith("no endpoint answered")
    assert [m.endpoint for m in view.members] == list(connection.endpoints)
    assert not any(m.reachable for m in view.members)
    assert started.view() is None
