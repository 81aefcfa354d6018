"""The Kubernetes view of a cluster: API server wiring, certificate expiry and security checks.

Everything is read, nothing is changed: each node's manifests or systemd settings over SSH,
the certificates they name (``cat``; keys are only ``stat``'ed), the data dir's and keys'
modes, and one request per member made without a client certificate, which etcd must refuse.
Nodes are read in parallel; one that does not answer costs its SSH timeout and is reported.
"""

from __future__ import annotations

import posixpath
import shlex
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.shell import NodeShell
from etcdtui.config import Connection, NodeConfig
from etcdtui.errors import EtcdTLSError, EtcdtuiError
from etcdtui.models import Member
from etcdtui.models.severity import Severity
from etcdtui.services.kube.certs import CertStatus, describe_certificate, unreadable
from etcdtui.services.kube.inspect import NodeFacts, inspect_node
from etcdtui.services.kube.remote import RemoteStat, read_and_stat, stat_paths
from etcdtui.services.kube.wiring import KubeFinding, check_wiring

Probe = Callable[[str], str]
"""endpoint -> "refused" (a client without a certificate was turned away), "accepted", or
"unknown: why"; the TUI passes one built on the cluster's own routes."""


@dataclass(frozen=True)
class KubeReport:
    """What the Kubernetes screen shows."""

    facts: tuple[NodeFacts, ...]
    wiring: tuple[KubeFinding, ...]
    certs: tuple[CertStatus, ...]
    security: tuple[KubeFinding, ...]
    taken_at: float = field(default_factory=time.time)

    @property
    def worst(self) -> Severity:
        """The worst severity of every finding and certificate (OK when there are none)."""
        findings = (f.severity for f in (*self.wiring, *self.security))
        return max((*findings, *(c.severity for c in self.certs)), default=Severity.OK)


@dataclass(frozen=True)
class _NodeResult:
    facts: NodeFacts
    certs: tuple[CertStatus, ...] = ()
    security: tuple[KubeFinding, ...] = ()


def _cert_paths(facts: NodeFacts) -> list[tuple[str, str]]:
    """(role, path) of the certificates the node's settings name."""
    found: list[tuple[str, str]] = []
    etcd, api = facts.etcd, facts.apiserver
    if etcd is not None:
        found += [("server", etcd.cert_file), ("peer", etcd.peer_cert_file)]
        found += [("CA", etcd.trusted_ca_file), ("peer CA", etcd.peer_trusted_ca_file)]
        if etcd.trusted_ca_file:
            folder = posixpath.dirname(etcd.trusted_ca_file)
            found.append(("client (healthcheck)", posixpath.join(folder, "healthcheck-client.crt")))
    if api is not None:
        found += [("client (kube-apiserver)", api.etcd_certfile), ("CA", api.etcd_cafile)]
    unique: dict[str, str] = {}
    for role, path in found:
        if path and path not in unique:
            unique[path] = role
    return [(role, path) for path, role in unique.items()]


def _key_paths(facts: NodeFacts) -> list[str]:
    etcd, api = facts.etcd, facts.apiserver
    keys = [etcd.key_file, etcd.peer_key_file] if etcd else []
    if etcd and etcd.trusted_ca_file:
        folder = posixpath.dirname(etcd.trusted_ca_file)
        keys += [posixpath.join(folder, n) for n in ("ca.key", "healthcheck-client.key")]
    if api is not None:
        keys.append(api.etcd_keyfile)
    return list(dict.fromkeys(k for k in keys if k))


def _data_dir_finding(node: str, stat: RemoteStat) -> KubeFinding:
    fix = ""
    if not stat.exists:
        severity, message = Severity.WARN, f"{node}: data dir {stat.path} not found"
    elif stat.mode & 0o077:
        who = "every user" if stat.mode & 0o007 else f"its group ({stat.owner}'s group)"
        severity = Severity.CRITICAL
        message = f"{node}: data dir {stat.path} is {stat.mode:o}: {who} can read every secret"
        fix = f"chmod 700 {shlex.quote(stat.path)}"
    else:
        severity, message = Severity.OK, f"{node}: data dir {stat.path} is {stat.mode:o}"
    return KubeFinding(node, "data dir 0700", severity, message, fix)


def _check_node(shell: NodeShell, node: NodeConfig, now: datetime | None) -> _NodeResult:
    """One node's facts, certificates and modes; a node that fails is reported, not raised."""
    try:
        return _read_node(shell, node, now)
    except EtcdtuiError as exc:
        return _NodeResult(NodeFacts(node.name, error=exc.message))


def _read_node(shell: NodeShell, node: NodeConfig, now: datetime | None) -> _NodeResult:
    name = node.name
    facts = inspect_node(shell, sudo=node.sudo)
    facts = NodeFacts(name, facts.etcd, facts.apiserver, facts.error, facts.notes)
    if facts.etcd is None and facts.apiserver is None:
        if not node.member:
            return _NodeResult(facts)
        # Not run by kubeadm or systemd (the lab's own service, say): the config still says
        # where its member keeps its data.
        stat = stat_paths(shell, [node.data_dir], sudo=node.sudo)[node.data_dir]
        return _NodeResult(facts, security=(_data_dir_finding(name, stat),))
    wanted = _cert_paths(facts)
    optional = {p for role, p in wanted if role.startswith("client (health")}
    data_dir = facts.etcd.data_dir if facts.etcd else node.data_dir
    keys = _key_paths(facts)
    files, modes = read_and_stat(shell, [p for _, p in wanted], [data_dir, *keys], sudo=node.sudo)
    certs = []
    for role, path in wanted:
        remote = files[path]
        if remote.exists and not remote.error:
            pem = remote.text.encode()
            certs.append(describe_certificate(pem, node=name, role=role, path=path, now=now))
        elif path not in optional:
            certs.append(unreadable(name, role, path, remote.error or "no such file"))
    security = []
    if facts.etcd is not None or node.member:
        security.append(_data_dir_finding(name, modes[data_dir]))
    exposed = [k for k in keys if modes[k].exists and modes[k].mode & 0o004]
    present = [k for k in keys if modes[k].exists]
    if exposed:
        fix = "chmod 600 " + " ".join(shlex.quote(k) for k in exposed)
        message = f"{name}: world-readable private keys: " + ", ".join(
            f"{k} ({modes[k].mode:o})" for k in exposed
        )
        security.append(KubeFinding(name, "private keys", Severity.CRITICAL, message, fix))
    elif present:
        security.append(
            KubeFinding(
                name,
                "private keys",
                Severity.OK,
                f"{name}: {len(present)} private keys, none world-readable",
            )
        )
    return _NodeResult(facts, tuple(certs), tuple(security))


def _cluster_security(
    members: Sequence[Member], facts: Sequence[NodeFacts], probed: dict[str, str]
) -> list[KubeFinding]:
    findings = []
    for url, answer in probed.items():
        fix = ""
        if url.startswith("http://"):
            severity = Severity.CRITICAL
            message = f"{url} takes clients over plain HTTP: anyone on the network has cluster root"
            fix = "serve clients on https with --cert-file, --key-file and --client-cert-auth=true"
        elif answer == "refused":
            severity, message = Severity.OK, f"{url} refused a client without a certificate"
        elif answer == "accepted":
            severity = Severity.CRITICAL
            message = (
                f"{url} answered a client WITHOUT a certificate: client-cert-auth is not enforced"
            )
            fix = (
                "set --client-cert-auth=true and --trusted-ca-file on that member, then restart it"
            )
        else:
            severity, message = Severity.WARN, f"{url}: could not check ({answer})"
        findings.append(KubeFinding("", "client-cert-auth", severity, message, fix))
    plain = [(m.name, u) for m in members for u in m.peer_urls if not u.startswith("https://")]
    if plain:
        text = ", ".join(f"{n} {u}" for n, u in plain)
        findings.append(
            KubeFinding(
                "",
                "peer TLS",
                Severity.CRITICAL,
                f"peer URLs without TLS: {text}: raft traffic (every write) in clear",
                "use https peer URLs with --peer-cert-file, "
                "--peer-key-file and --peer-client-cert-auth=true",
            )
        )
    elif members:
        message = f"all {len(members)} peer URLs https"
        findings.append(KubeFinding("", "peer TLS", Severity.OK, message))
    for fact in facts:
        if fact.etcd is not None and fact.etcd.peer_tls and not fact.etcd.peer_client_cert_auth:
            findings.append(
                KubeFinding(
                    fact.node,
                    "peer TLS",
                    Severity.WARN,
                    f"{fact.node}: --peer-client-cert-auth is off: any host can pose as a peer",
                    "set --peer-client-cert-auth=true",
                )
            )
    return findings


def build_report(
    connection: Connection,
    shell_of: Callable[[str], NodeShell],
    members: Sequence[Member],
    probe: Probe,
    now: datetime | None = None,
) -> KubeReport:
    """Read every node of `connection` and check what the Kubernetes screen shows."""
    nodes = [n for n in connection.nodes if n.member or n.apiserver] or list(connection.nodes)
    if not nodes:
        return KubeReport((), (), (), ())
    endpoints = [u for m in members for u in m.client_urls[:1]] or list(connection.endpoints)
    # The probes and the nodes' SSH reads are independent: all at once.
    with ThreadPoolExecutor(max_workers=min(16, len(nodes) + len(endpoints))) as pool:
        answers = [pool.submit(probe, endpoint) for endpoint in endpoints]
        results = list(pool.map(lambda n: _check_node(shell_of(n.name), n, now), nodes))
        probed = {endpoint: a.result() for endpoint, a in zip(endpoints, answers, strict=True)}
    facts = tuple(r.facts for r in results)
    local = {f.node: f.etcd.name for f in facts if f.etcd is not None}
    apiservers = {f.node: f.apiserver for f in facts if f.apiserver is not None}
    wiring = check_wiring(apiservers, members, local)
    security = [f for r in results for f in r.security]
    security += _cluster_security(members, facts, probed)
    for fact in facts:
        if fact.error:
            message = f"{fact.node}: {fact.error}"
            security.insert(0, KubeFinding(fact.node, "read", Severity.WARN, message))
    certs = tuple(c for r in results for c in r.certs)
    return KubeReport(facts, tuple(wiring), certs, tuple(security))


def probe_without_certificate(make_client: Callable[[str], object]) -> Probe:
    """A Probe from a factory of clients that present no certificate (see
    clients.via_ssh.client_without_certificate)."""

    def probe(endpoint: str) -> str:
        client = None
        try:
            client = make_client(endpoint)
            client.status()  # type: ignore[attr-defined]
        except EtcdTLSError as exc:
            if "client certificate" in exc.message:
                return "refused"
            return f"unknown: {exc.message}"
        except EtcdtuiError as exc:  # unreachable, a tunnel that cannot open, a timeout
            return f"unknown: {exc.message}"
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()
        return "accepted"

    return probe


def member_list(cluster: ClusterClient) -> Sequence[Member]:
    """The member list from the first endpoint that answers."""
    errors = []
    for endpoint in cluster.endpoints:
        try:
            return cluster.client(endpoint).member_list()
        except EtcdtuiError as exc:
            errors.append(f"{endpoint}: {exc.message}")
    raise EtcdtuiError("no member answered `member list`: " + "; ".join(errors or ["none"]))


def cluster_report(
    cluster: ClusterClient,
    shell_of: Callable[[str], NodeShell],
    members: Sequence[Member] = (),
    now: datetime | None = None,
) -> KubeReport:
    """build_report for `cluster`: its members (read unless given) and a probe made by the
    cluster's own route (direct or through SSH) without a certificate. Blocking."""
    from etcdtui.clients.via_ssh import client_without_certificate

    probe = probe_without_certificate(lambda e: client_without_certificate(cluster, e))
    return build_report(
        cluster.connection, shell_of, members or member_list(cluster), probe, now=now
    )
