"""`etcdtui check` against real labs: consistent, one corrupted member, under writes, and the
client layer's HashKV by both routes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from etcdtui.clients.etcd import GatewayClient
from etcdtui.clients.etcdctl import EtcdctlClient
from etcdtui.clients.local_shell import LocalShell
from etcdtui.lab import LabInfo
from tests.helpers.consistency import check_json, corrupt, put_values, run_cli, value_of
from tests.helpers.labs import VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_hashkv_agrees_between_the_gateway_and_etcdctl(
    make_lab: Callable[..., LabInfo], version: str
) -> None:
    info = make_lab(etcd_version=version)
    put_values(info)
    gateway = GatewayClient(info.endpoints[0], timeout=5)
    etcdctl = EtcdctlClient(info.endpoints[0], LocalShell(), node_endpoint=info.endpoints[0],
                            etcdctl=info.etcdctl, timeout=5)  # fmt: skip
    try:
        revision = gateway.status().revision
        by_gateway, by_etcdctl = gateway.hashkv(revision), etcdctl.hashkv(revision)
        assert by_gateway.hash == by_etcdctl.hash != 0
        assert by_gateway.compact_revision == by_etcdctl.compact_revision
        assert gateway.serializable_count().count == etcdctl.serializable_count().count >= 30
    finally:
        gateway.close()


def test_consistent_lab_checks_out(make_lab: Callable[..., LabInfo]) -> None:
    info = make_lab()
    put_values(info)
    code, data = check_json(info)
    assert code == 0, data
    assert data["consistent"] is True
    assert {m["name"] for m in data["members"]} == {"node1", "node2", "node3"}
    assert len({m["hash"] for m in data["members"]}) == 1
    assert all(m["consistent"] for m in data["members"])
    code, table = run_cli("check", "--config", str(info.config_path), "--cluster", info.cluster)
    assert code == 0 and "every member's hash agrees" in table


def test_corrupted_member_is_named_and_nothing_else(make_lab: Callable[..., LabInfo]) -> None:
    info = make_lab()
    put_values(info)
    assert corrupt(info, "node2", value_of(7)) >= 1
    code, data = check_json(info)
    assert code == 1, data
    assert data["consistent"] is False
    assert data["minority"] == ["node2"]
    flags = {m["name"]: m["consistent"] for m in data["members"]}
    assert flags == {"node1": True, "node2": False, "node3": True}
    code, table = run_cli("check", "--config", str(info.config_path), "--cluster", info.cluster)
    assert code == 1 and "node2 differs from the majority" in table


def test_two_members_corrupted_differently_have_no_majority(
    make_lab: Callable[..., LabInfo],
) -> None:
    info = make_lab()
    put_values(info)
    corrupt(info, "node2", value_of(3), b"X")
    corrupt(info, "node3", value_of(5), b"Y")
    code, data = check_json(info)
    assert code == 1
    assert "no majority agrees" in data["verdict"]
    assert data["minority"] == []


def test_check_under_writes_reports_no_false_mismatch(make_lab: Callable[..., LabInfo]) -> None:
    info = make_lab()
    put_values(info)
    stop = threading.Event()
    written = [0]

    def writer(n: int) -> None:
        # Four writers at up to 50 puts/s each: ~200 puts/s where the machine allows.
        client = GatewayClient(info.endpoints[n % 3], timeout=5)
        try:
            while not stop.is_set():
                started = time.perf_counter()
                client.put(f"load/{n}/{written[0] % 500}".encode(), b"x" * 100)
                written[0] += 1
                time.sleep(max(0.0, 0.02 - (time.perf_counter() - started)))
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        results = [check_json(info) for _ in range(20)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    rate = written[0] / (time.monotonic() - started)
    bad = [data["verdict"] for code, data in results if code != 0]
    assert not bad, bad
    # A check that raced no write would prove nothing: the revision moved under nearly every
    # one (the writers' rate depends on the machine: ~200 puts/s where it allows).
    revisions = {data["revision"] for _, data in results}
    assert len(revisions) >= 15, f"{len(revisions)} revisions at {rate:.0f} puts/s"
