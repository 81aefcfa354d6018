"""A throw-away certificate authority for a TLS lab: CA, server and peer certs, a client cert."""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# kubeadm's lifetimes: a year for the certificates, ten years for the CA (so that the
# Kubernetes screen's expiry warnings, at 30 and 7 days, stay quiet on a fresh lab).
VALIDITY = datetime.timedelta(days=365)
CA_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class NodeCerts:
    """One node's server cert (client port) and peer cert (peer port), with their keys."""

    cert: str
    key: str
    peer_cert: str
    peer_key: str


@dataclass(frozen=True)
class LabPki:
    """Every file a TLS lab uses; `client_*` is what etcdctl and etcdtui present."""

    ca: str
    client_cert: str
    client_key: str
    nodes: dict[str, NodeCerts]


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are made in microseconds (RSA takes tens of ms each) and etcd accepts them.
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create it 0600 from the start, so the key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    path.chmod(0o600)
    return str(path)


def _write_cert(path: Path, cert: x509.Certificate) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    usages: list[x509.ObjectIdentifier],
    hosts: list[str],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _ca_cert(common_name: str, ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A self-signed CA that may sign certificates and nothing else, valid CA_VALIDITY."""
    now = datetime.datetime.now(datetime.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )


def make_pki(
    folder: Path,
    node_names: list[str],
    lab_name: str = "etcdtui-lab",
    addresses: Mapping[str, str] | None = None,
) -> LabPki:
    """Write a CA, per-node server and peer certs and one client cert under `folder`.

    Server and peer certs carry both serverAuth and clientAuth: etcd's gRPC gateway dials its
    own client port with the server cert, and members dial each other with the peer cert.
    Both name 127.0.0.1, localhost and the node; a node with an entry in `addresses` (a netns
    lab) also gets that address, as kubeadm's etcd certs carry the node's IP.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = _new_key()
    ca_cert = _ca_cert(f"{lab_name} CA", ca_key)
    ca_path = _write_cert(folder / "ca.crt", ca_cert)
    _write_key(folder / "ca.key", ca_key)
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    nodes: dict[str, NodeCerts] = {}
    for name in node_names:
        hosts = ["127.0.0.1", "localhost", name]
        if addresses and name in addresses:
            hosts.append(addresses[name])
        files: list[str] = []
        for kind in ("server", "peer"):
            key = _new_key()
            cert = _issue(ca_cert, ca_key, name, key, both, hosts)
            files.append(_write_cert(folder / f"{name}-{kind}.crt", cert))
            files.append(_write_key(folder / f"{name}-{kind}.key", key))
        nodes[name] = NodeCerts(cert=files[0], key=files[1], peer_cert=files[2], peer_key=files[3])
    client_key = _new_key()
    # etcd maps a client cert's CN to a user when auth is on; "root" keeps that case working.
    client = _issue(ca_cert, ca_key, "root", client_key, [ExtendedKeyUsageOID.CLIENT_AUTH], [])
    return LabPki(
        ca=ca_path,
        client_cert=_write_cert(folder / "client.crt", client),
        client_key=_write_key(folder / "client.key", client_key),
        nodes=nodes,
    )
