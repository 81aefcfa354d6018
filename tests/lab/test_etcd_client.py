"""The etcd client layer against real etcd members (3.4.23 and 3.5.1, plain and TLS)."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd import GatewayClient
from etcdtui.config import TlsFiles
from etcdtui.errors import EtcdError, EtcdTimeout, EtcdTLSError
from etcdtui.lab import LabInfo, process_alive
from tests.helpers.labs import connection_of, follower


def etcdctl_json(info: LabInfo, *args: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, **info.etcdctl_env()}
    if "--endpoints" in args:
        del env["ETCDCTL_ENDPOINTS"]  # etcdctl refuses a flag that shadows its variable
    out = subprocess.run(
        [info.etcdctl, *args, "-w", "json"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_refresh_shows_every_member_with_exactly_one_leader(plain_lab: LabInfo) -> None:
    client = ClusterClient(connection_of(plain_lab))
    try:
        view = client.read()
    finally:
        client.close()
    assert not view.error
    assert sorted(m.name for m in view.members) == ["node1", "node2", "node3"]
    assert all(m.reachable and m.healthy for m in view.members)
    assert sum(m.is_leader for m in view.members) == 1
    assert view.healthy and view.quorum == 2 and view.tolerates == 1
    expected = {"3.4": "3.4.23", "3.5": "3.5.1"}[plain_lab.etcd_version]
    for member in view.members:
        assert member.status is not None
        assert member.status.version == expected
        assert member.status.applied_index > 0 and member.status.raft_term > 0
        assert member.status.db_size >= member.status.db_size_in_use > 0


def test_member_ids_and_urls_agree_with_etcdctl(plain_lab: LabInfo) -> None:
    ours = GatewayClient(plain_lab.endpoints[0]).member_list()
    theirs = etcdctl_json(plain_lab, "member", "list")["members"]
    assert {(m.id, m.name) for m in ours} == {(int(m["ID"]), m["name"]) for m in theirs}
    assert {m.client_urls for m in ours} == {tuple(m["clientURLs"]) for m in theirs}
    assert all(m.started and not m.is_learner for m in ours)


def test_status_fields_agree_with_etcdctl_endpoint_status(plain_lab: LabInfo) -> None:
    endpoint = plain_lab.endpoints[0]
    theirs = etcdctl_json(plain_lab, "endpoint", "status", "--endpoints", endpoint)[0]["Status"]
    ours = GatewayClient(endpoint).status()
    assert ours.member_id == int(theirs["header"]["member_id"])
    assert ours.leader_id == int(theirs["leader"])
    assert ours.version == theirs["version"]


def test_metrics_give_quota_leader_and_disk_histograms(plain_lab: LabInfo) -> None:
    view = ClusterClient(connection_of(plain_lab)).read()
    for member in view.members:
        metrics = member.metrics
        assert metrics is not None
        assert metrics.quota_bytes == 2 * 1024**3  # etcd's default backend quota
        assert metrics.has_leader is True
        assert metrics.leader_changes is not None and metrics.leader_changes >= 1
        assert metrics.wal_fsync is not None and metrics.wal_fsync.count > 0
        p99 = metrics.wal_fsync_p99
        assert p99 is not None and 0 < p99 < 10


def test_tls_with_ca_and_client_certificate_works(tls_lab: LabInfo) -> None:
    connection = connection_of(tls_lab)
    assert all(e.startswith("https://") for e in connection.endpoints)
    view = ClusterClient(connection).read()
    assert view.healthy, [m.error for m in view.members]
    assert all(m.metrics is not None and m.metrics.quota_bytes for m in view.members)


def _other_ca(directory: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the etcd CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "other-ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_wrong_ca_is_reported_as_certificate_verify_failed(
    tls_lab: LabInfo, tmp_path: Path
) -> None:
    tls = connection_of(tls_lab).tls
    wrong = replace(tls, cacert=_other_ca(tmp_path))
    with pytest.raises(EtcdTLSError, match="certificate verify failed"):
        GatewayClient(tls_lab.endpoints[0], wrong).status()


def test_missing_client_certificate_is_refused_clearly(tls_lab: LabInfo) -> None:
    ca_only = TlsFiles(cacert=connection_of(tls_lab).tls.cacert)
    with pytest.raises(EtcdTLSError) as caught:
        GatewayClient(tls_lab.endpoints[0], ca_only).status()
    assert "client certificate" in str(caught.value)
    assert "--cert and --key" in str(caught.value)


def test_plain_http_to_a_tls_port_is_a_clear_error(tls_lab: LabInfo) -> None:
    plain = tls_lab.endpoints[0].replace("https://", "http://")
    with pytest.raises(EtcdError) as caught:
        GatewayClient(plain).status()
    assert plain in str(caught.value)


def test_killed_member_is_refused_while_the_others_answer(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    victim = follower(info)
    pid = info.pid(victim)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while process_alive(pid):  # its sockets close with it: until then a connect may hang up
        time.sleep(0.01)
    client = ClusterClient(connection_of(info))
    view = client.read()
    client.close()
    by_name = {m.name: m for m in view.members}
    assert not by_name.pop(victim).reachable
    error = next(m.error for m in view.members if m.name == victim)
    # Refused once the port is closed; under load a connection the kernel accepted just before
    # the kill may be reset instead. Either way the member is unreachable, with the reason.
    assert "connection refused" in error or "connection closed" in error, error
    assert all(m.healthy for m in by_name.values())
    assert not view.healthy and view.down == 1 and view.tolerates == 1


def by_name_endpoint(info: LabInfo, name: str) -> str:
    return next(n.client_url for n in info.nodes if n.name == name)


def test_frozen_member_costs_one_timeout_not_one_per_call(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    connection = replace(connection_of(info), timeout=1.0)
    client = ClusterClient(connection)
    client.read()  # warm up connections
    victim = follower(info)
    pid = info.pid(victim)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        view = client.read()
        with pytest.raises(EtcdTimeout, match=r"timed out after 1\.0 s"):
            GatewayClient(by_name_endpoint(info, victim), timeout=1.0).status()
    finally:
        os.kill(pid, signal.SIGCONT)
        client.close()
    assert view.duration < 2 * 1.0  # one timeout, not one after another
    by_name = {m.name: m for m in view.members}
    assert "timed out after 1.0 s" in by_name.pop(victim).error
    assert all(m.reachable for m in by_name.values())


def test_nospace_alarm_is_listed_and_fails_health(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab(members=3, quota_bytes=4 * 1024 * 1024)
    env = {**os.environ, **info.etcdctl_env()}
    value = "x" * 256 * 1024
    for i in range(64):
        put = subprocess.run(
            [info.etcdctl, "put", f"/fill/{i}"], input=value, env=env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if put.returncode != 0:
            assert "database space exceeded" in put.stderr
            break
    else:
        pytest.fail("the lab never reached its quota")
    view = ClusterClient(connection_of(info)).read()
    assert {a.kind for a in view.alarms} == {"NOSPACE"}
    assert not view.healthy
    alarmed = [m for m in view.members if view.alarms_for(m.member_id)]
    assert alarmed and all(not m.healthy and "NOSPACE" in m.health.error for m in alarmed)  # type: ignore[union-attr]


def _established_with_request(port: int) -> bool:
    """Whether a connection to `port` has been accepted by the kernel and holds unread
    request bytes (/proc/net/tcp: the server side, ESTABLISHED, receive queue not empty)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            rows = handle.read().splitlines()[1:]
        for row in rows:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            rx_queue = int(fields[4].split(":")[1], 16)
            if local_port == port and fields[3] == "01" and rx_queue > 0:
                return True
    return False


def test_member_killed_during_a_request_is_refused_not_asked_about_https(make_lab) -> None:  # type: ignore[no-untyped-def]
    info = make_lab()
    victim = follower(info)
    endpoint = by_name_endpoint(info, victim)
    pid = info.pid(victim)
    assert pid is not None and endpoint.startswith("http://")
    # Frozen, the member's kernel still accepts the connection and buffers the request; the
    # kill then resets it mid-request, as a crash under load does.
    os.kill(pid, signal.SIGSTOP)
    outcome: list[Exception] = []

    def ask() -> None:
        try:
            GatewayClient(endpoint, timeout=30.0).status()
        except Exception as exc:  # the test reads it
            outcome.append(exc)

    asking = threading.Thread(target=ask)
    asking.start()
    port = int(endpoint.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while not _established_with_request(port):
        assert time.monotonic() < deadline, "the request never reached the member's port"
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    asking.join(timeout=30)
    assert not asking.is_alive()
    (error,) = outcome
    assert isinstance(error, EtcdError)
    assert str(error) == f"{endpoint}: connection refused (is etcd running on it?)"
    assert "https" not in str(error)


def test_plain_http_to_a_tls_port_says_to_use_https(tls_lab: LabInfo) -> None:
    plain = tls_lab.endpoints[0].replace("https://", "http://")
    with pytest.raises(EtcdError) as caught:
        GatewayClient(plain).status()
    assert caught.value.message == f"{plain}: connection closed by the server: the port speaks TLS"
    assert caught.value.hint == "use https://"


@pytest.mark.parametrize("when", ["expired", "not-yet-valid"])
def test_client_certificate_out_of_its_dates_is_named_with_the_date(
    tls_lab: LabInfo, tmp_path: Path, when: str
) -> None:
    from tests.helpers.certs import issue_client_cert

    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    day = datetime.timedelta(days=1)
    if when == "expired":  # valid last week, until yesterday
        start, end = now - 7 * day, now - day
        expected = f"expired on {end:%Y-%m-%d %H:%M} UTC"
    else:  # issued for tomorrow
        start, end = now + day, now + 7 * day
        expected = f"is not valid until {start:%Y-%m-%d %H:%M} UTC"
    cert, key = issue_client_cert(tls_lab, tmp_path / "client", start, end)
    connection = connection_of(tls_lab)
    connection = replace(connection, tls=replace(connection.tls, cert=cert, key=key))
    client = ClusterClient(connection)
    try:
        view = client.read(metrics=False)
    finally:
        client.close()
    assert not any(m.reachable for m in view.members)
    for member in view.members:
        assert member.error == (
            f"{member.endpoint}: TLS handshake failed: the client certificate {cert} {expected}"
        )
    # The same certificate, valid today, is accepted: the dates were the whole problem.
    good, good_key = issue_client_cert(tls_lab, tmp_path / "today", now - day, now + day)
    connection = replace(connection, tls=replace(connection.tls, cert=good, key=good_key))
    client = ClusterClient(connection)
    try:
        assert client.read(metrics=False).healthy
    finally:
        client.close()
