"""Names and URLs chosen by whoever starts a member are data: never markup, never terminal codes.

A real 2-member etcd cluster whose members are named with Rich/Textual markup, an OSC title
sequence, a clear-screen CSI, a bidi override and a trailing backslash, plus a learner added
with `etcdctl member add` that never started (no name; an IPv6 peer URL). The TUI must refresh
and open every member without error and send none of those codes to the terminal; `status`
must print none of them either.
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.content import Content
from textual.widgets import DataTable, Static

from etcdtui.cli import main
from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import Connection
from etcdtui.lab.binaries import etcd_binaries
from etcdtui.lab.ports import port_range
from etcdtui.models.text import printable
from etcdtui.ui.app import EtcdtuiApp
from etcdtui.ui.screens.detail import MemberDetailScreen
from tests.helpers.terminal import OWN_SEQUENCES, assert_no_foreign_codes, frame

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("test_hostile_names")

VERSIONS = ("3.4", "3.5")
# An OSC that retitles the window; markup that would bold what follows.
TITLE_NAME = "[bold]x\x1b]0;pwned\x07"
# A closing tag with nothing open (a MarkupError), a clear screen, a bidi override, and a
# trailing backslash (which escapes the closing tag written right after it in markup).
CLEAR_NAME = "[/]\x1b[2J\u202eevil\\"
LEARNER_PEER = "http://[fd00::1]:2380"
UNSTARTED = "(unstarted)"  # how etcdtui names a member that never started


@dataclass(frozen=True)
class HostileCluster:
    """The cluster's endpoints and its members' raw names."""

    version: str
    endpoints: tuple[str, ...]
    client_urls: dict[str, str]  # member name -> advertised client URL

    def connection(self) -> Connection:
        return Connection(cluster="hostile", endpoints=self.endpoints, timeout=3.0)


def _low_free_ports(count: int) -> list[int]:
    """`count` consecutive ports below the ephemeral range, free on 127.0.0.1 and ::1."""
    rng = random.Random()
    ports = port_range()  # this pytest-xdist worker's own slice: no other worker binds there
    for _ in range(200):
        base = rng.randrange(ports.start, ports.stop - count)
        try:
            for port in range(base, base + count):
                for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                    with socket.socket(family, socket.SOCK_STREAM) as sock:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        sock.bind((host, port))
        except OSError:
            continue
        return list(range(base, base + count))
    raise RuntimeError(f"no {count} free ports in {ports.start}-{ports.stop - 1}")


def _wait_settled(connection: Connection, timeout: float = 30.0) -> None:
    client = ClusterClient(connection)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = client.read(metrics=False)
            started = [m for m in view.members if m.member is None or m.member.started]
            if view.leader is not None and started and all(m.reachable for m in started):
                return
            time.sleep(0.3)
    finally:
        client.close()
    raise RuntimeError("the hostile cluster did not settle")


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"etcd{v}")
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[HostileCluster]:  # fmt: skip
    etcd, etcdctl, _ = etcd_binaries(request.param)
    root = tmp_path_factory.mktemp("hostile")
    c1, p1, c2, p2 = _low_free_ports(4)
    # The first member advertises an IPv6 client URL (it listens on both loopbacks): the
    # table must show `[::1]` as written, not eat it as a markup tag.
    members = [
        (TITLE_NAME, c1, p1, f"http://[::1]:{c1}", f"http://127.0.0.1:{c1},http://[::1]:{c1}"),
        (CLEAR_NAME, c2, p2, f"http://127.0.0.1:{c2}", f"http://127.0.0.1:{c2}"),
    ]
    # etcd splits --initial-cluster on "," and "=" only: these names go in as they are.
    initial = ",".join(f"{name}=http://127.0.0.1:{peer}" for name, _, peer, _, _ in members)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index, (name, _client, peer, advertise, listen) in enumerate(members):
            log = (root / f"etcd{index}.log").open("wb")
            procs.append(subprocess.Popen(
                [etcd, "--name", name, "--data-dir", str(root / f"data{index}"),
                 "--listen-client-urls", listen, "--advertise-client-urls", advertise,
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster", initial, "--initial-cluster-token", "hostile",
                 "--initial-cluster-state", "new"],
                stdout=log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
        endpoints = (f"http://127.0.0.1:{c1}", f"http://127.0.0.1:{c2}")
        cluster = HostileCluster(
            request.param, endpoints, {name: advertise for name, _, _, advertise, _ in members}
        )
        _wait_settled(cluster.connection())
        # A learner that never starts: it has no name, and the peer URL we chose for it.
        # etcd refuses a member change until every member has been up a few seconds.
        deadline = time.monotonic() + 30
        while True:
            added = subprocess.run(
                [etcdctl, f"--endpoints={endpoints[0]}", "member", "add", "ghost", "--learner",
                 f"--peer-urls={LEARNER_PEER}"],
                capture_output=True, text=True, timeout=20,
            )  # fmt: skip
            if added.returncode == 0:
                break
            if "unhealthy cluster" not in added.stderr or time.monotonic() > deadline:
                raise RuntimeError(f"member add failed: {added.stderr}")
            time.sleep(1)
        _wait_settled(cluster.connection())
        yield cluster
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _rows(app: EtcdtuiApp) -> list[list[str]]:
    table = app.query_one("#members", DataTable)
    return [[str(cell) for cell in table.get_row(key)] for key in table.rows]


async def _refreshed(app: EtcdtuiApp, pilot) -> None:  # type: ignore[no-untyped-def]
    while app.polls < 1:
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_dashboard_shows_hostile_names_and_ipv6_urls_as_written(
    hostile: HostileCluster,
) -> None:
    app = EtcdtuiApp(hostile.connection(), refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await _refreshed(app, pilot)
        rows = {row[1]: row for row in _rows(app)}
        title, clear = printable(TITLE_NAME), printable(CLEAR_NAME)
        assert title == "[bold]x\\x1b]0;pwned\\x07"
        assert clear == "[/]\\x1b[2J\\u202eevil\\"
        assert set(rows) == {title, clear, UNSTARTED}, rows.keys()
        assert rows[title][2] in ("healthy", "UNHEALTHY")
        assert rows[title][10] == hostile.client_urls[TITLE_NAME]  # "http://[::1]:PORT"
        learner = rows[UNSTARTED]
        assert learner[2] == "UNSTARTED" and learner[11] == LEARNER_PEER
        health = app.query_one("#health", Static).render()
        assert isinstance(health, Content)
        assert title in health.plain and clear in health.plain
        quota = app.query_one("#quota", Static).render()
        assert isinstance(quota, Content) and clear in quota.plain
        summary = app.query_one("#summary", Static).render()
        assert isinstance(summary, Content) and "leader " in summary.plain
        # Neither name was read as markup: the leader line is the whole name, then its term.
        leader = next(line for line in health.plain.splitlines() if line.startswith("Leader"))
        assert re.fullmatch(rf"Leader  ({re.escape(title)}|{re.escape(clear)})  term \d+", leader)


async def test_the_terminal_gets_no_escape_sequence_from_a_member_name(
    hostile: HostileCluster,
) -> None:
    app = EtcdtuiApp(hostile.connection(), refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await _refreshed(app, pilot)
        drawn = frame(app)
        assert_no_foreign_codes(drawn)
        # The names are on screen, their codes spelled out.
        assert "\\x1b]0;pwned\\x07" in OWN_SEQUENCES.sub("", drawn)


async def test_member_detail_opens_on_every_hostile_member(hostile: HostileCluster) -> None:
    app = EtcdtuiApp(hostile.connection(), refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await _refreshed(app, pilot)
        table = app.query_one("#members", DataTable)
        names = [row[1] for row in _rows(app)]
        for row, name in enumerate(names):
            table.focus()
            table.move_cursor(row=row, animate=False)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, MemberDetailScreen), name
            detail = app.screen.query_one("#detail", Static).render()
            assert isinstance(detail, Content)
            first = detail.plain.splitlines()[0]
            assert first.startswith(f"{name}  "), first
            if name == UNSTARTED:
                assert f"Peer URLs       {LEARNER_PEER}" in detail.plain
            assert_no_foreign_codes(frame(app))
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, MemberDetailScreen)


@pytest.mark.parametrize("write_out", ["table", "json"])
def test_status_prints_no_escape_byte(
    hostile: HostileCluster, write_out: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["status", "--endpoints", ",".join(hostile.endpoints), "-w", write_out])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    if write_out == "json":
        data = json.loads(out)
        # The JSON keeps the data exact (escaped by JSON, not altered): scripts see real names.
        assert {m["name"] for m in data["members"]} == {TITLE_NAME, CLEAR_NAME, UNSTARTED}
        assert data["leader"] in (TITLE_NAME, CLEAR_NAME)
        assert out.isascii()
        urls = {m["name"]: (m["client_urls"], m["peer_urls"]) for m in data["members"]}
        assert urls[TITLE_NAME][0] == [hostile.client_urls[TITLE_NAME]]  # http://[::1]:PORT
        assert urls[UNSTARTED][1] == [LEARNER_PEER]
    else:
        lines = out.splitlines()
        assert any(line.startswith(f"| {printable(TITLE_NAME)} ") for line in lines)
        assert any(line.startswith(f"| {printable(CLEAR_NAME)} ") for line in lines)
        assert len({len(line) for line in lines[:6]}) == 1  # the box stays straight


def test_status_in_a_subprocess_writes_no_escape_byte(hostile: HostileCluster, tmp_path: Path
                                                       ) -> None:  # fmt: skip
    """The bytes on stdout, as a terminal would get them."""
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "etcdtui.cli", "status", "--endpoints",
         ",".join(hostile.endpoints)],
        capture_output=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert b"\x1b" not in done.stdout and b"\x07" not in done.stdout
    assert b"\xe2\x80\xae" not in done.stdout  # U+202E in UTF-8
    assert printable(TITLE_NAME).encode() in done.stdout
