"""The live keyspace scan on every route a cluster is reached by, against a real TLS lab and
its real sshds: SSH tunnels (with the client certificate the bastion has, or copied from a
node), and etcdctl run on a node where a tunnel is not allowed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etcdtui.cli.common import Parser
from etcdtui.cli.keyspace import cmd_keyspace, register
from etcdtui.clients.etcdctl import EtcdctlClient
from etcdtui.clients.range_scan import PreferredPages
from etcdtui.clients.session import cluster_session
from etcdtui.clients.via_ssh import SshRoutes
from etcdtui.config import load_connection
from etcdtui.lab import LabInfo, lab_down, lab_up
from etcdtui.services.keyspace import KeyspaceReport, grouper
from etcdtui.services.keyspace_live import ScanOptions, run_scan, scan_client, scan_member
from tests.helpers.keyspace import LAYOUT, Writer, layout_keys, value_for, wait_until_applied
from tests.helpers.labs import VERSIONS, config_through_ssh

pytestmark = [pytest.mark.xdist_group("test_keyspace_routes"), pytest.mark.slow]


@dataclass(frozen=True)
class Lab:
    """A TLS lab holding the issue's layout, and the bytes written per group."""

    info: LabInfo
    written: dict[str, int]


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"etcd{v}")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp(f"keyspace-routes{request.param}")
    info = lab_up(root / "lab", etcd_version=request.param, tls=True)
    writer = Writer(info)
    try:
        for keys in layout_keys().values():
            for key in keys:
                writer.put(key, value_for(key, 0))
        written = dict(writer.bytes_by_group())
        wait_until_applied(info, writer.client.status().revision)
    finally:
        writer.close()
    yield Lab(info, written)
    lab_down(info.dir)


def _cli_json(config: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, object]:
    parser = Parser(prog="etcdtui")
    register(parser.add_subparsers(dest="command", parser_class=Parser))
    args = parser.parse_args(["keyspace", "--config", str(config), "-w", "json", *flags])
    assert cmd_keyspace(args) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def _groups(out: dict[str, object]) -> dict[str, tuple[int, int]]:
    groups = out["groups"]
    assert isinstance(groups, list)
    return {g["prefix"]: (g["keys"], g["bytes"]) for g in groups}


def _by_prefix(report: KeyspaceReport) -> dict[str, tuple[int, int]]:
    return {row.prefix: (row.keys, row.bytes) for row in report.groups}


@pytest.mark.parametrize("cluster", [{}, {"certs_on_node": "node2"}], ids=["tunnel", "certs"])
def test_live_scan_through_ssh_counts_every_group_exactly(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str], cluster: dict[str, str]
) -> None:
    config = config_through_ssh(lab.info, tmp_path, **cluster)
    out = _cli_json(config, capsys, "--exact")
    found = _groups(out)
    assert {g: found[g] for g in LAYOUT} == {g: (LAYOUT[g], lab.written[g]) for g in LAYOUT}
    # The member scanned is named by its bastion-side URL, which only a tunnel reaches.
    assert out["source"] in load_connection(config, "lab").endpoints


def test_live_scan_by_etcdctl_on_a_node_reads_every_key_once(lab: Lab, tmp_path: Path) -> None:
    connection = load_connection(config_through_ssh(lab.info, tmp_path), "lab")
    with cluster_session(connection) as session:
        endpoint = scan_member(session.client.read(metrics=False, health=False))
        routes = session.client.routes
        node = connection.node_for_url(endpoint)
        assert isinstance(routes, SshRoutes) and node is not None
        client = routes.etcdctl(endpoint, node)
        assert isinstance(client, EtcdctlClient)
        # Small pages: many page boundaries, each read from "just after" the key before it.
        exact = run_scan(client, grouper(None), ScanOptions(exact=True, page_keys=97))
        sampled = run_scan(client, grouper(None), ScanOptions(sample_size=5, page_keys=97))
    assert {g: _by_prefix(exact)[g] for g in LAYOUT} == {
        g: (LAYOUT[g], lab.written[g]) for g in LAYOUT
    }
    assert {g: _by_prefix(sampled)[g][0] for g in LAYOUT} == LAYOUT
    assert exact.live is not None and exact.live.complete
    assert sampled.live is not None and sampled.live.sample_size == 5


def test_direct_scan_reads_by_etcdctl_and_asks_the_gateway_past_a_key_etcdctl_cannot_take(
    lab: Lab,
) -> None:
    """Reached directly, the scan reads its pages with etcdctl here; a page that starts just
    after a key no argument can hold (not UTF-8) is read through the gateway instead."""
    keys = [b"/hostile/a", b"/hostile/m\xff\xfe", b"/hostile/z"]
    writer = Writer(lab.info)
    try:
        for key in keys:
            writer.put(key, b"v")
        wait_until_applied(lab.info, writer.client.status().revision)
        connection = load_connection(lab.info.config_path, lab.info.cluster)
        with cluster_session(connection) as session:
            scanner = scan_client(session.client)
            assert isinstance(scanner, PreferredPages)
            # A page a key: every key is a page boundary.
            options = ScanOptions(prefix=b"/hostile/", page_keys=1)
            report = run_scan(scanner, grouper(None), options)
    finally:
        for key in keys:
            writer.client.delete(key)
        writer.close()
    assert _by_prefix(report)["/hostile/"][0] == 3
    assert report.live is not None and report.live.complete
