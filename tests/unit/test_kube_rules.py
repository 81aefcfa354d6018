"""Rules over what the nodes say: apiserver → etcd wiring, and certificate expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from etcdtui.models import Member
from etcdtui.services.kube.certs import CertStatus, describe_certificate, unreadable
from etcdtui.services.kube.settings import ApiserverSettings
from etcdtui.services.kube.wiring import KubeFinding, check_wiring

PKI = "/etc/kubernetes/pki"
ORIGIN = "/etc/kubernetes/manifests/kube-apiserver.yaml"


def member(i: int, *, learner: bool = False, scheme: str = "https") -> Member:
    return Member(
        id=0x1000 + i,
        name=f"cp{i}",
        peer_urls=(f"https://10.0.0.1{i}:2380",),
        client_urls=(f"{scheme}://10.0.0.1{i}:2379",),
        is_learner=learner,
    )


def apiserver(*servers: str, tls_files: bool = True) -> ApiserverSettings:
    return ApiserverSettings(
        origin=ORIGIN,
        etcd_servers=servers,
        etcd_cafile=f"{PKI}/etcd/ca.crt" if tls_files else "",
        etcd_certfile=f"{PKI}/apiserver-etcd-client.crt" if tls_files else "",
        etcd_keyfile=f"{PKI}/apiserver-etcd-client.key" if tls_files else "",
    )


MEMBERS = [member(1), member(2), member(3)]
LOCAL = {"cp1": "cp1", "cp2": "cp2", "cp3": "cp3"}
ALL = ("https://10.0.0.11:2379", "https://10.0.0.12:2379", "https://10.0.0.13:2379")


def problems(findings: list[KubeFinding]) -> list[KubeFinding]:
    return [f for f in findings if not f.ok]


def test_all_members_over_tls_gives_one_ok_finding_per_node() -> None:
    findings = check_wiring({n: apiserver(*ALL) for n in LOCAL}, MEMBERS, LOCAL)
    assert [(f.node, f.severity, f.ok) for f in findings] == [
        ("cp1", "ok", True),
        ("cp2", "ok", True),
        ("cp3", "ok", True),
    ]
    assert "3 etcd servers, all current members, over TLS" in findings[0].message


def test_stacked_loopback_resolves_to_each_nodes_own_member() -> None:
    # kubeadm's stacked layout: every apiserver talks only to 127.0.0.1, its own member.
    findings = check_wiring({n: apiserver("https://127.0.0.1:2379") for n in LOCAL}, MEMBERS, LOCAL)
    assert problems(findings) == []
    assert len(findings) == 3


def test_removed_member_still_listed_is_critical_and_names_the_url() -> None:
    apis = {n: apiserver(*ALL, "https://10.0.0.14:2379") for n in LOCAL}
    findings = problems(check_wiring(apis, MEMBERS, LOCAL))
    assert {f.node for f in findings} == {"cp1", "cp2", "cp3"}
    for f in findings:
        assert (f.check, f.severity) == ("etcd-servers", "critical")
        assert "https://10.0.0.14:2379" in f.message
        assert f.node in f.message
        assert "no etcd member" in f.message
        assert "Remove https://10.0.0.14:2379" in f.fix and ORIGIN in f.fix


def test_loopback_on_a_node_whose_member_was_removed_is_critical() -> None:
    apis = {n: apiserver("https://127.0.0.1:2379") for n in LOCAL}
    findings = problems(check_wiring(apis, MEMBERS[1:], LOCAL))
    assert [(f.node, f.severity) for f in findings] == [("cp1", "critical")]
    assert "https://127.0.0.1:2379" in findings[0].message
    assert "not in the member list" in findings[0].message


def test_loopback_on_a_node_without_a_member_is_not_a_member() -> None:
    findings = problems(
        check_wiring({"worker-cp": apiserver("https://127.0.0.1:2379", *ALL)}, MEMBERS, LOCAL)
    )
    assert [(f.node, f.severity) for f in findings] == [("worker-cp", "critical")]
    assert "runs no etcd member" in findings[0].message


def test_loopback_on_the_metrics_port_is_not_the_member() -> None:
    findings = problems(check_wiring({"cp1": apiserver("https://127.0.0.1:2381")}, MEMBERS, LOCAL))
    assert any("not port 2381" in f.message and f.severity == "critical" for f in findings)


def test_member_no_apiserver_uses_is_a_warning_naming_member_and_url() -> None:
    apis = {n: apiserver("https://10.0.0.11:2379", "https://10.0.0.12:2379") for n in LOCAL}
    findings = problems(check_wiring(apis, MEMBERS, LOCAL))
    assert len(findings) == 1
    (unused,) = findings
    assert (unused.check, unused.severity, unused.node) == ("member-unused", "warn", "cp3")
    assert "cp3" in unused.fix and "https://10.0.0.13:2379" in unused.fix


def test_unused_learner_is_not_a_warning() -> None:
    members = [*MEMBERS, member(4, learner=True)]
    assert problems(check_wiring({n: apiserver(*ALL) for n in LOCAL}, members, LOCAL)) == []


def test_port_defaults_from_the_scheme_and_host_case_does_not_matter() -> None:
    members = [Member(id=7, name="e1", peer_urls=(), client_urls=("https://ETCD1.example:443",))]
    findings = check_wiring({"cp1": apiserver("https://etcd1.example")}, members, {})
    assert [f.severity for f in findings] == ["ok"]


def test_plain_http_etcd_is_critical_even_when_it_is_a_member() -> None:
    members = [member(1, scheme="http")]
    findings = problems(
        check_wiring({"cp1": apiserver("http://10.0.0.11:2379")}, members, {"cp1": "cp1"})
    )
    assert [(f.check, f.severity) for f in findings] == [("etcd-tls", "critical")]
    assert "http://10.0.0.11:2379" in findings[0].message
    assert "plain http" in findings[0].message


def test_http_flag_for_an_https_member_is_critical() -> None:
    apis = {"cp1": apiserver("http://10.0.0.11:2379", *ALL[1:])}
    findings = problems(check_wiring(apis, MEMBERS, {"cp1": "cp1"}))
    assert [(f.node, f.check, f.severity) for f in findings] == [("cp1", "etcd-tls", "critical")]
    assert "serves https" in findings[0].message
    assert "https://10.0.0.11:2379" in findings[0].fix


def test_https_servers_without_client_certificate_flags_are_critical() -> None:
    findings = problems(check_wiring({"cp1": apiserver(*ALL, tls_files=False)}, MEMBERS, LOCAL))
    assert [(f.check, f.severity) for f in findings] == [("etcd-tls", "critical")]
    for flag in ("--etcd-cafile", "--etcd-certfile", "--etcd-keyfile"):
        assert flag in findings[0].message


def test_apiserver_without_etcd_servers_is_critical() -> None:
    findings = check_wiring({"cp1": apiserver(), "cp2": apiserver(*ALL)}, MEMBERS, LOCAL)
    cp1 = [f for f in findings if f.node == "cp1"]
    assert [(f.check, f.severity) for f in cp1] == [("etcd-servers", "critical")]
    assert "no --etcd-servers" in cp1[0].message


def test_no_apiservers_read_is_one_cluster_wide_warning_not_a_warning_per_member() -> None:
    findings = check_wiring({}, MEMBERS, LOCAL)
    assert [(f.node, f.severity) for f in findings] == [("", "warn")]


# --- certificates -------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def make_cert(not_after: datetime, cn: str = "cp1") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=800))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def status(pem: bytes) -> CertStatus:
    return describe_certificate(
        pem, node="cp1", role="server", path=f"{PKI}/etcd/server.crt", now=NOW
    )


@pytest.mark.parametrize(
    ("days", "severity"),
    [(400, "ok"), (30, "ok"), (20, "warn"), (7, "warn"), (5, "critical"), (-3, "critical")],
)
def test_certificate_severity_by_days_left(days: int, severity: str) -> None:
    s = status(make_cert(NOW + timedelta(days=days)))
    assert s.severity == severity
    assert s.days_left == pytest.approx(days)
    assert s.not_after == NOW + timedelta(days=days)
    assert s.error == ""


def test_certificate_message_says_when_it_expires() -> None:
    s = status(make_cert(NOW + timedelta(days=5)))
    assert s.message == (
        f"cp1 server {PKI}/etcd/server.crt expires in 5 days (2026-11-30 12:00 UTC)"
    )
    assert s.subject == "CN=cp1" and s.issuer == "CN=cp1"


def test_expired_certificate_says_expired_and_how_long_ago() -> None:
    s = status(make_cert(NOW - timedelta(days=3)))
    assert s.severity == "critical"
    assert "expired 3 days ago" in s.message
    assert s.days_left < 0


def test_certificate_expiring_within_a_day_counts_hours() -> None:
    s = status(make_cert(NOW + timedelta(hours=5)))
    assert "expires in 5 hours" in s.message


def test_bundle_is_described_by_its_first_certificate() -> None:
    leaf, ca = make_cert(NOW + timedelta(days=20), "leaf"), make_cert(NOW + timedelta(days=3000))
    s = status(leaf + ca)
    assert (s.subject, s.severity) == ("CN=leaf", "warn")


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\xff not a certificate",
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    ],
)
def test_garbage_is_an_error_status_not_an_exception(garbage: bytes) -> None:
    s = status(garbage)
    assert s.error == "not a PEM certificate"
    assert s.severity == "critical"
    assert s.not_after is None
    assert "not a PEM certificate" in s.message


def test_unreadable_file_is_critical_and_says_why() -> None:
    s = unreadable("cp2", "CA", f"{PKI}/etcd/ca.crt", "permission denied")
    assert s.severity == "critical"
    assert s.message == f"cp2 CA {PKI}/etcd/ca.crt: permission denied"
