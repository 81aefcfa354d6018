"""EtcdctlClient: etcdctl run on the member's node through a real sshd, against real etcd 3.4
and 3.5, plain and TLS, compared with the gateway client on the same member (no mocks)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from etcdtui.clients.etcd import GatewayClient
from etcdtui.clients.etcdctl import EtcdctlClient
from etcdtui.clients.ssh.shell import SshShell
from etcdtui.config import NodeConfig, TlsFiles
from etcdtui.errors import EtcdError, EtcdTimeout, EtcdTLSError
from etcdtui.lab import LabInfo, lab_down, lab_up
from etcdtui.models import Alarm
from tests.helpers.labs import VERSIONS, connection_of
from tests.helpers.sshd import free_port

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("test_etcdctl_client")

Pair = tuple[EtcdctlClient, GatewayClient]
MakeClients = Callable[..., Pair]


@pytest.fixture
def clients() -> Iterator[MakeClients]:
    """`clients(info, index, **options)`: the etcdctl and gateway clients of one member."""
    shells: list[SshShell] = []

    def make(
        info: LabInfo, index: int = 0, node: NodeConfig | None = None, **options: object
    ) -> Pair:
        connection = connection_of(info)
        node = node or connection.nodes[index]
        url = node.client_urls[0]
        shell = SshShell(node)
        shells.append(shell)
        settings = {"node_endpoint": url, "etcdctl": node.vars["etcdctl"], "tls": connection.tls}
        ours = EtcdctlClient(url, shell, **(settings | options))  # type: ignore[arg-type]
        return ours, GatewayClient(url, connection.tls, connection.timeout)

    yield make
    for shell in shells:
        shell.close()


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"etcd{v}")
def writable_lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabInfo]:
    """A plain lab per etcd version that this module's tests may write to and compact."""
    info = lab_up(tmp_path_factory.mktemp("etcdctl") / "lab", etcd_version=request.param)
    yield info
    lab_down(info.dir)


def stored_value(info: LabInfo, key: bytes) -> bytes | None:
    """The key's value as etcdctl on this machine reads it (None if there is no such key)."""
    env = {**os.environ, **info.etcdctl_env()}
    out = subprocess.run(
        [info.etcdctl, "get", "-w", "json", "--", key.decode()],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    kvs = json.loads(out.stdout).get("kvs")
    return base64.b64decode(kvs[0].get("value", "")) if kvs else None


def assert_one_line(exc: EtcdError, endpoint: str) -> None:
    text = str(exc)
    assert text.startswith(f"{endpoint}: ")
    assert "\n" not in text and '{"level"' not in text and "goroutine" not in text


def assert_reads_match_the_gateway(info: LabInfo, clients: MakeClients) -> None:
    for index in range(len(info.endpoints)):
        ours, gateway = clients(info, index)
        mine, theirs = ours.status(), gateway.status()
        assert mine.endpoint == theirs.endpoint == ours.endpoint
        assert mine.member_id == theirs.member_id != 0
        assert mine.leader_id == theirs.leader_id != 0
        assert (mine.version, mine.raft_term, mine.is_learner, mine.errors) == (
            theirs.version,
            theirs.raft_term,
            theirs.is_learner,
            theirs.errors,
        )
        assert abs(mine.db_size - theirs.db_size) < 1024**2
        assert 0 < mine.db_size_in_use <= mine.db_size
        assert mine.applied_index > 0 and mine.revision > 0
    assert ours.member_list() == gateway.member_list()
    assert ours.alarms() == gateway.alarms() == ()
    assert ours.key_count() == gateway.key_count()
    started = time.perf_counter()
    took = ours.linearizable_read()
    assert 0 < took < time.perf_counter() - started  # the read alone, timed on the node
    assert "etcd_server_has_leader 1" in ours.metrics_text()


def test_reads_match_the_gateway(plain_lab: LabInfo, clients: MakeClients) -> None:
    assert_reads_match_the_gateway(plain_lab, clients)


def test_reads_match_the_gateway_with_tls_files_on_the_node(
    tls_lab: LabInfo, clients: MakeClients
) -> None:
    assert_reads_match_the_gateway(tls_lab, clients)


def test_a_member_keeps_the_url_etcdtui_shows_not_the_one_dialled_on_the_node(
    plain_lab: LabInfo, clients: MakeClients
) -> None:
    ours, gateway = clients(plain_lab)
    shown = EtcdctlClient(
        "https://node1.example:2379", ours.shell, node_endpoint=ours.endpoint, etcdctl=ours.etcdctl
    )
    status = shown.status()
    assert status.endpoint == shown.endpoint == "https://node1.example:2379"
    assert status.member_id == gateway.status().member_id
    assert shown.command(["get", "health"], 1.5).endswith(
        f"--endpoints {ours.endpoint} --dial-timeout 1500ms --command-timeout 1500ms "
        "-w json get health"
    )


def test_sudo_runs_etcdctl_as_root_and_still_feeds_stdin(
    writable_lab: LabInfo, clients: MakeClients
) -> None:
    ours, _ = clients(writable_lab, sudo=True)
    assert ours.status().version.startswith(writable_lab.etcd_version)
    ours.put(b"etcdtui-test/sudo", b"through sudo\n")
    assert stored_value(writable_lab, b"etcdtui-test/sudo") == b"through sudo\n"
    ours.delete(b"etcdtui-test/sudo")


def test_put_keeps_every_byte_and_delete_removes_the_key(
    writable_lab: LabInfo, clients: MakeClients, tmp_path: Path
) -> None:
    ours, gateway = clients(writable_lab)
    marker = tmp_path / "executed"
    key = f'etcdtui-test/it\'s a "key" $(touch {marker})'.encode()
    value = f"a b 'q' \"dq\" $(touch {marker}) `touch {marker}`\n\n; exit 1\n".encode() + b"\0\xff"
    before = ours.key_count()
    ours.put(key, value)
    assert stored_value(writable_lab, key) == value
    assert ours.key_count() == gateway.key_count() == before + 1
    ours.put(b"-etcdtui-test/dash-and-empty", b"")
    assert stored_value(writable_lab, b"-etcdtui-test/dash-and-empty") == b""
    ours.delete(key)
    ours.delete(b"-etcdtui-test/dash-and-empty")
    assert stored_value(writable_lab, key) is None
    assert ours.key_count() == gateway.key_count() == before
    assert not marker.exists()


def test_a_key_etcdctl_cannot_take_is_refused_before_running_anything(
    writable_lab: LabInfo, clients: MakeClients
) -> None:
    ours, _ = clients(writable_lab)
    with pytest.raises(EtcdError, match="UTF-8 without NUL"):
        ours.put(b"nul\0key", b"x")


def test_compact_is_physical_and_defragment_gives_space_back(
    writable_lab: LabInfo, clients: MakeClients
) -> None:
    ours, gateway = clients(writable_lab)
    for n in range(20):  # written through the gateway: 40 SSH round trips would be slow
        gateway.put(f"etcdtui-test/bulk/{n}".encode(), os.urandom(50_000))
        gateway.delete(f"etcdtui-test/bulk/{n}".encode())
    revision = ours.status().revision
    ours.compact(revision, timeout=10)
    with pytest.raises(EtcdError, match="required revision has been compacted") as again:
        ours.compact(revision, timeout=10)
    assert_one_line(again.value, ours.endpoint)
    before = ours.status()
    ours.defragment(timeout=10)
    after = ours.status()
    assert after.db_size < before.db_size / 2  # the deleted megabyte is gone from the file


def test_compact_at_a_future_revision_is_etcds_own_error_in_one_line(
    plain_lab: LabInfo, clients: MakeClients
) -> None:
    ours, _ = clients(plain_lab)
    with pytest.raises(EtcdError) as caught:
        ours.compact(10**9, timeout=5)
    assert type(caught.value) is EtcdError
    assert str(caught.value) == (
        f"{ours.endpoint}: etcdserver: mvcc: required revision is a future revision"
    )


def test_move_leader_goes_through_the_leader_and_a_follower_says_not_leader(
    writable_lab: LabInfo, clients: MakeClients
) -> None:
    pairs = [clients(writable_lab, i) for i in range(len(writable_lab.endpoints))]
    statuses = [ours.status() for ours, _ in pairs]
    leader = next(i for i, s in enumerate(statuses) if s.is_leader)
    follower = next(i for i, s in enumerate(statuses) if not s.is_leader)
    target = statuses[follower].member_id
    with pytest.raises(EtcdError, match="etcdserver: not leader") as caught:
        pairs[follower][0].move_leader(target, timeout=10)
    assert type(caught.value) is EtcdError
    assert_one_line(caught.value, pairs[follower][0].endpoint)
    pairs[leader][0].move_leader(target, timeout=10)
    assert pairs[leader][1].status().leader_id == target


def settled_alarms(gateway: GatewayClient) -> set[Alarm]:
    """The armed alarms once no member is still raising one (each raises its own NOSPACE)."""
    seen = set(gateway.alarms())
    for _ in range(20):
        time.sleep(0.2)
        now = set(gateway.alarms())
        if now == seen:
            return now
        seen = now
    raise AssertionError(f"alarms still changing: {seen}")


@pytest.mark.parametrize("version", VERSIONS)
def test_disarm_clears_a_nospace_alarm_and_is_a_no_op_without_one(
    version: str, make_lab: Callable[..., LabInfo], clients: MakeClients
) -> None:
    info = make_lab(etcd_version=version, quota_bytes=1_000_000)
    ours, gateway = clients(info)
    ours.disarm_alarm(12345, "NOSPACE")  # nothing armed: nothing run
    with pytest.raises(EtcdError, match="database space exceeded"):
        for n in range(100):  # through the gateway: quicker than an SSH session per put
            gateway.put(f"fill/{n}".encode(), os.urandom(100_000))
    with pytest.raises(EtcdError) as refused:
        ours.put(b"one/more", b"x")
    assert str(refused.value) == f"{ours.endpoint}: etcdserver: mvcc: database space exceeded"
    armed = settled_alarms(gateway)
    assert set(ours.alarms()) == armed
    assert {a.kind for a in armed} == {"NOSPACE"}
    assert ours.linearizable_read() > 0  # reads still work (3.5's endpoint health says alarm)
    ours.disarm_alarm(12345, "NOSPACE")  # not this member's: still armed
    assert set(ours.alarms()) == armed
    ours.disarm_alarm(next(iter(armed)).member_id, "NOSPACE")
    assert ours.alarms() == gateway.alarms() == ()


def test_ssh_failure_is_an_etcd_error_that_names_the_node(
    plain_lab: LabInfo, clients: MakeClients
) -> None:
    node = connection_of(plain_lab).nodes[1]
    closed = replace(node, ssh=replace(node.ssh, port=free_port()))
    ours, _ = clients(plain_lab, node=closed)
    with pytest.raises(EtcdError) as caught:
        ours.status()
    assert type(caught.value) is EtcdError
    assert_one_line(caught.value, ours.endpoint)
    assert node.name in str(caught.value) and "connection refused" in str(caught.value)


def test_unreachable_member_is_reported_with_etcdctls_reason(
    plain_lab: LabInfo, clients: MakeClients
) -> None:
    ours, _ = clients(plain_lab, node_endpoint=f"http://127.0.0.1:{free_port()}", timeout=0.5)
    with pytest.raises(EtcdError) as caught:
        ours.status()
    assert type(caught.value) is EtcdError  # refused, not a timeout
    assert_one_line(caught.value, ours.endpoint)
    assert "context deadline exceeded: dial tcp" in str(caught.value)
    assert "connection refused" in str(caught.value)
    with pytest.raises(EtcdError) as caught:
        ours.member_list()
    assert_one_line(caught.value, ours.endpoint)
    if plain_lab.etcd_version == "3.5":  # 3.4 logs only "all SubConns are in TransientFailure"
        assert "connection refused" in str(caught.value)


def test_missing_client_certificate_is_a_tls_error_or_a_timeout(
    tls_lab: LabInfo, clients: MakeClients
) -> None:
    ca_only = TlsFiles(cacert=connection_of(tls_lab).tls.cacert)
    ours, _ = clients(tls_lab, tls=ca_only, timeout=0.5)
    with pytest.raises(EtcdError) as caught:
        ours.status()
    assert_one_line(caught.value, ours.endpoint)
    if tls_lab.etcd_version == "3.5":
        assert isinstance(caught.value, EtcdTLSError)
        assert "bad certificate" in str(caught.value)
    else:  # etcd 3.4 hangs up without a TLS alert: a closed connection, or a broken pipe
        assert isinstance(caught.value, EtcdTimeout)
        assert "context deadline exceeded" in str(caught.value)


TIMED_OUT = r"context deadline exceeded|did not finish within"


def test_frozen_member_is_a_timeout(writable_lab: LabInfo, clients: MakeClients) -> None:
    for node in connection_of(writable_lab).nodes:
        looking, _ = clients(writable_lab, node=node)
        if not looking.status().is_leader:  # a follower: no election while it sleeps
            break
    # etcdctl's own 1 s timeout answers, or on a loaded machine the SSH command's budget (a
    # margin longer) runs out first: either way one timeout, said in one line.
    ours, _ = clients(writable_lab, node=node, timeout=1.0)
    pid = writable_lab.pid(node.name)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(EtcdTimeout, match=TIMED_OUT) as caught:
            ours.status()
        with pytest.raises(EtcdTimeout, match=TIMED_OUT) as read:
            ours.linearizable_read()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert_one_line(caught.value, ours.endpoint)
    assert_one_line(read.value, ours.endpoint)


def test_a_command_that_outlives_its_timeout_is_killed_and_reported(
    plain_lab: LabInfo, clients: MakeClients, tmp_path: Path
) -> None:
    stuck = tmp_path / "etcdctl"
    stuck.write_text("#!/bin/sh\nsleep 30\n")
    stuck.chmod(0o755)
    ours, _ = clients(plain_lab, etcdctl=str(stuck), timeout=0.2)
    started = time.monotonic()
    with pytest.raises(
        EtcdTimeout, match=r"`etcdctl endpoint status` on node1 did not finish within 1\.2 s"
    ) as caught:
        ours.status()
    assert time.monotonic() - started < 5
    assert_one_line(caught.value, ours.endpoint)


def test_missing_etcdctl_and_curl_are_named(plain_lab: LabInfo, clients: MakeClients) -> None:
    ours, _ = clients(plain_lab, etcdctl="/nonexistent/etcdctl", curl="/nonexistent/curl")
    with pytest.raises(EtcdError, match="no etcdctl at /nonexistent/etcdctl on node1"):
        ours.status()
    with pytest.raises(EtcdError) as caught:
        ours.metrics_text()
    assert str(caught.value) == (
        f"{ours.endpoint}: no curl on node1: latency metrics unavailable over etcdctl"
    )


def test_lease_and_create_if_absent_agree_between_etcdctl_and_the_gateway(
    writable_lab: LabInfo, clients: MakeClients
) -> None:
    ours, gateway = clients(writable_lab)
    for client in (ours, gateway):
        key = b"/etcdtui/test-lock"
        before = client.key_count()
        lease = client.lease_grant(10)
        assert lease > 0
        assert client.put_if_absent(key, b'{"user": "a b"}', lease) is None
        assert client.put_if_absent(key, b"second", lease) == b'{"user": "a b"}'
        assert client.get(key) == b'{"user": "a b"}' == stored_value(writable_lab, key)
        assert client.key_count() == before  # etcdtui's own keys are not the users' data
        assert 0 < client.lease_keepalive(lease) <= 10
        client.lease_revoke(lease)
        assert client.get(key) is None
        assert client.lease_keepalive(lease) == 0  # expired (revoked) leases renew to nothing
