"""`etcdtui keyspace` against real etcd: the issue's layout, counted live and from snapshots.

One lab per etcd version holds 300 keys under /registry/pods/ns-a/, 200 under
/registry/events/ns-b/, 50 under /registry/configmaps/ns-a/ and 10 under
/registry/namespaces/, plus a lease with two keys and a lease with none. It is scanned live
(sampled and --exact), saved; the pods are overwritten five times and it is saved again;
then compacted and saved a third time. The tests read what the fixture kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etcdtui.clients.gateway import GatewayClient
from etcdtui.errors import SnapshotKeyError
from etcdtui.lab import lab_down, lab_up
from etcdtui.services.keyspace import KeyspaceReport, grouper, snapshot_report
from etcdtui.services.keyspace_live import ScanOptions, run_scan
from etcdtui.snapshots.crypto import SnapshotKey, encrypt_file, generate_key_file
from etcdtui.snapshots.keyspace import snapshot_keyspace
from tests.helpers.keyspace import (
    LAYOUT,
    PODS,
    Writer,
    layout_keys,
    save_snapshot,
    value_for,
    wait_until_applied,
)
from tests.helpers.labs import VERSIONS

pytestmark = [pytest.mark.xdist_group("test_keyspace"), pytest.mark.slow]

LEASED = [b"/registry/leases/kube-node-lease/node-1", b"/registry/leases/kube-node-lease/node-2"]


@dataclass(frozen=True)
class Run:
    """What one version's lab gave."""

    written: dict[str, int]  # bytes by group before the overwrites
    rewritten: dict[str, int]  # bytes by group after them
    live: KeyspaceReport
    live_exact: KeyspaceReport
    first: Path  # snapshot of the layout
    overwritten: Path  # after 5 overwrites of each pod key
    compacted: Path  # after a compaction at the newest revision
    key_file: Path


def _write(info_writer: Writer) -> None:
    for keys in layout_keys().values():
        for key in keys:
            info_writer.put(key, value_for(key, 0))
    client = info_writer.client
    used = client.lease_grant(600)
    for key in LEASED:
        assert client.put_if_absent(key, b"holder", used) is None
    client.lease_grant(600)  # a lease no key is attached to


def _scan(endpoint: str, exact: bool) -> KeyspaceReport:
    scanner = GatewayClient(endpoint, timeout=10)
    try:
        # Small pages: the scan crosses many page boundaries, and groups, on 562 keys.
        options = ScanOptions(exact=exact, sample_size=5, page_keys=97)
        return run_scan(scanner, grouper(None), options)
    finally:
        scanner.close()


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"etcd{v}")
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp(f"keyspace{request.param}")
    info = lab_up(root / "lab", etcd_version=request.param)
    writer = Writer(info)
    try:
        _write(writer)
        written = dict(writer.bytes_by_group())
        wait_until_applied(info, writer.client.status().revision)
        live, live_exact = _scan(info.endpoints[1], False), _scan(info.endpoints[2], True)
        first = save_snapshot(info, root / "first.db")
        for round_ in range(1, 6):
            for key in layout_keys()[PODS]:
                writer.put(key, value_for(key, round_))
        overwritten = save_snapshot(info, root / "overwritten.db")
        writer.client.compact(writer.client.status().revision, timeout=30)
        compacted = save_snapshot(info, root / "compacted.db")
        rewritten = dict(writer.bytes_by_group())
    finally:
        writer.close()
        lab_down(info.dir)
    key_file = root / "snapshot.key"
    generate_key_file(key_file)
    yield Run(written, rewritten, live, live_exact, first, overwritten, compacted, key_file)


def _by_prefix(report: KeyspaceReport) -> dict[str, tuple[int, int]]:
    return {row.prefix: (row.keys, row.bytes) for row in report.groups}


def _history(report: KeyspaceReport) -> dict[str, int | None]:
    return {row.prefix: row.history_revisions for row in report.groups}


def _read(path: Path, key: SnapshotKey | None = None) -> KeyspaceReport:
    return snapshot_report(snapshot_keyspace(path, key, grouper(None)))


def test_live_scan_counts_every_group_exactly(run: Run) -> None:
    for report in (run.live, run.live_exact):
        counts = {prefix: keys for prefix, (keys, _) in _by_prefix(report).items()}
        assert {g: counts.get(g) for g in LAYOUT} == LAYOUT
        assert counts["/registry/leases/kube-node-lease/"] == 2
        assert report.live is not None and report.live.complete
    assert run.live.live is not None and run.live.live.sample_size == 5


def test_live_exact_bytes_are_what_the_test_wrote(run: Run) -> None:
    found = _by_prefix(run.live_exact)
    assert {g: found[g][1] for g in LAYOUT} == run.written


def test_snapshot_counts_and_bytes_are_what_the_test_wrote(run: Run) -> None:
    report = _read(run.first)
    found = _by_prefix(report)
    assert {g: found[g] for g in LAYOUT} == {g: (LAYOUT[g], run.written[g]) for g in LAYOUT}
    assert all(h == 0 for h in _history(report).values())
    assert report.snapshot is not None
    assert (report.snapshot.leases, report.snapshot.leased_keys) == (2, 2)
    assert report.snapshot.leases_without_keys == 1
    assert {f.check for f in report.findings} >= {"idle-leases", "big-group"}


def test_five_overwrites_of_each_pod_are_1500_history_revisions(run: Run) -> None:
    report = _read(run.overwritten)
    history = _history(report)
    assert history[PODS] == 1500
    assert history["/registry/events/ns-b/"] == 0
    pods = next(r for r in report.groups if r.prefix == PODS)
    assert (pods.keys, pods.bytes) == (300, run.rewritten[PODS])
    assert pods.history_bytes is not None and pods.history_bytes > 1500 * 20


def test_compaction_leaves_no_history(run: Run) -> None:
    report = _read(run.compacted)
    assert _history(report)[PODS] == 0
    assert report.total.history_revisions == 0
    assert _by_prefix(report)[PODS] == (300, run.rewritten[PODS])


def test_encrypted_snapshot_gives_the_same_answer_with_the_key(run: Run, tmp_path: Path) -> None:
    sealed = tmp_path / "sealed.db"
    key = SnapshotKey.from_file(run.key_file)
    encrypt_file(run.overwritten, sealed, key)
    plain, opened = _read(run.overwritten), _read(sealed, key)
    assert opened.groups == plain.groups
    assert opened.total == plain.total and opened.revision == plain.revision
    assert opened.source == str(sealed)
    with pytest.raises(SnapshotKeyError):
        _read(sealed, SnapshotKey.from_passphrase("not the key"))


def test_cli_json_from_an_encrypted_snapshot(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from etcdtui.cli.common import Parser
    from etcdtui.cli.keyspace import cmd_keyspace, register

    sealed = tmp_path / "sealed.db"
    encrypt_file(run.overwritten, sealed, SnapshotKey.from_file(run.key_file))
    parser = Parser(prog="etcdtui")
    register(parser.add_subparsers(dest="command", parser_class=Parser))
    args = parser.parse_args(["keyspace", "--snapshot", str(sealed), "--key-file",
                              str(run.key_file), "-w", "json", "--top", "2"])  # fmt: skip
    assert cmd_keyspace(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [g["prefix"] for g in out["groups"]] == [PODS, "/registry/events/ns-b/"]
    assert out["groups"][0]["keys"] == 300 and out["groups"][0]["history_revisions"] == 1500
    assert out["groups"][0]["bytes"] == run.rewritten[PODS]
    assert out["total"]["keys"] == sum(LAYOUT.values()) + len(LEASED)
