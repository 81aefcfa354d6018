"""`etcdtui check` against real labs: consistent, one corrupted member, under writes, and the
client layer's HashKV by both routes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from etcdtui.clients.etcd import GatewayClient
from etcdtui.clients.etcd_api import KvHash
from etcdtui.clients.etcdctl import EtcdctlClient
from etcdtui.clients.local_shell import LocalShell
from etcdtui.clients.session import cluster_session
from etcdtui.config import load_connection
from etcdtui.lab import LabInfo
from etcdtui.services.consistency import ConsistencyCheck
from tests.helpers.consistency import (
    check_json,
    corrupt,
    put_values,
    run_cli,
    steady_writes,
    value_of,
)
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
    with steady_writes(info, rate=200.0) as reached:
        results = [check_json(info) for _ in range(20)]
    bad = [data["verdict"] for code, data in results if code != 0]
    assert not bad, bad
    # The load the issue asks for: ~200 puts/s, all taken, for the whole run.
    assert reached.per_second >= 180, f"{reached.per_second:.0f} puts/s"
    assert reached.failed == 0
    # A check that raced no write would prove nothing: the revision moved under every one.
    revisions = [data["revision"] for _, data in results]
    assert len(set(revisions)) == len(revisions), revisions


def test_members_hash_ahead_of_the_first_read_unless_it_finds_members_not_asked(
    make_lab: Callable[..., LabInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reached directly, every member is asked HashKV by etcdctl at once, the gateway never;
    named through one endpoint only, the other two are found by the first read and the
    reading hashes all three after it, as it did before hashing ahead."""
    info = make_lab()
    put_values(info)
    asked: dict[str, list[str]] = {"etcdctl": [], "gateway": []}

    def spy(kind: str, real: Callable[..., KvHash]) -> Callable[..., KvHash]:
        def hashkv(self: GatewayClient | EtcdctlClient, revision: int, *args: float) -> KvHash:
            asked[kind].append(self.endpoint)
            return real(self, revision, *args)

        return hashkv

    monkeypatch.setattr(EtcdctlClient, "hashkv", spy("etcdctl", EtcdctlClient.hashkv))
    monkeypatch.setattr(GatewayClient, "hashkv", spy("gateway", GatewayClient.hashkv))
    connection = load_connection(info.config_path, info.cluster)
    with cluster_session(connection) as session:
        reading = ConsistencyCheck(session.client).read()
    assert reading.consistent, reading.verdict
    assert sorted(asked["etcdctl"]) == sorted(info.endpoints) and asked["gateway"] == []
    assert {m.revision for m in reading.members} == {reading.revision}

    asked = {"etcdctl": [], "gateway": []}
    one = dataclasses.replace(connection, endpoints=(info.endpoints[0],))
    with cluster_session(one) as session:
        reading = ConsistencyCheck(session.client).read()
    assert reading.consistent, reading.verdict
    assert sorted(m.name for m in reading.members) == ["node1", "node2", "node3"]
    assert sorted(asked["gateway"]) == sorted(info.endpoints)
