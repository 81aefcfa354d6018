"""Does every kube-apiserver point at etcd members that exist, over TLS, with a certificate?

A member removed from etcd but still listed in --etcd-servers, or a new member no apiserver
uses, looks fine until the day the other members fail. These rules say so beforehand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from etcdtui.models import Member
from etcdtui.models.severity import Severity
from etcdtui.services.kube.settings import ApiserverSettings, is_loopback_host

# (scheme, host, port): two spellings of one endpoint compare equal.
Endpoint = tuple[str, str, int]


@dataclass(frozen=True)
class KubeFinding:
    """The result of one Kubernetes check on one node (or, with node "", the whole cluster):
    the API server wiring and the security checks, as the Kubernetes screen and
    `kube-check` show them.

    Not the dashboard's `services.health.Finding`, a sentence about the live cluster: this one
    names its check, says how to fix what failed, and is written to JSON field by field.
    """

    node: str
    check: str  # wiring: "etcd-servers", "etcd-tls" or "member-unused"; security: its name
    severity: Severity
    message: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        """The check passed."""
        return self.severity is Severity.OK


def endpoint(url: str) -> Endpoint | None:
    """Normalise an http(s) URL to (scheme, host, port), the port defaulted from the scheme;
    None if it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _problem(
    node: str, check: str, message: str, fix: str, severity: Severity = Severity.CRITICAL
) -> KubeFinding:
    return KubeFinding(node=node, check=check, severity=severity, message=message, fix=fix)


class _Members:
    """The member list indexed by client endpoint, by name and by node."""

    def __init__(self, members: Sequence[Member], local_members: Mapping[str, str]) -> None:
        self.by_name = {m.name: m for m in members if m.name}
        self.local = local_members
        self.by_host_port: dict[tuple[str, int], tuple[Member, str]] = {}
        for member in members:
            for url in member.client_urls:
                ep = endpoint(url)
                if ep is not None:
                    self.by_host_port.setdefault((ep[1], ep[2]), (member, ep[0]))

    def node_of(self, member: Member) -> str:
        return next((n for n, name in self.local.items() if name == member.name), "")

    def current_urls(self) -> str:
        urls = [m.client_urls[0] for m in self.by_name.values() if m.client_urls]
        return ", ".join(urls) or "none known"


def _loopback_member(
    node: str, url: str, port: int, origin: str, members: _Members
) -> tuple[Member, str] | KubeFinding:
    """What a loopback URL in `node`'s --etcd-servers reaches: (member, its scheme there), or
    the problem that it reaches none."""
    # Loopback on this node is this node's own member, and nothing else.
    local = members.local.get(node, "")
    member = members.by_name.get(local) if local else None
    if not local:
        return _problem(
            node,
            "etcd-servers",
            f"{node}: --etcd-servers has {url}, but {node} runs no etcd member, "
            "so loopback reaches no member",
            f"Replace {url} in {origin} with a member's URL: {members.current_urls()}",
        )
    if member is None:
        return _problem(
            node,
            "etcd-servers",
            f"{node}: --etcd-servers has {url}, {node}'s own etcd {local!r}, "
            f"which is not in the member list (removed?)",
            f"Re-add {local} to the cluster, or replace {url} in {origin} with a "
            f"current member's URL: {members.current_urls()}",
        )
    for member_url in member.client_urls:
        member_ep = endpoint(member_url)
        if member_ep is not None and member_ep[2] == port:
            return member, member_ep[0]
    return _problem(
        node,
        "etcd-servers",
        f"{node}: --etcd-servers has {url}, but {node}'s member {member.name} "
        f"serves clients at {', '.join(member.client_urls) or 'no URL'}, "
        f"not port {port}",
        f"Change the port of {url} in {origin} to the member's client port",
    )


def _check_url(
    node: str, url: str, origin: str, members: _Members, used: set[int]
) -> list[KubeFinding]:
    ep = endpoint(url)
    if ep is None:
        return [
            _problem(
                node,
                "etcd-servers",
                f"{node}: --etcd-servers has {url!r}, which is not an http(s) URL",
                f"Fix --etcd-servers in {origin}; current members serve {members.current_urls()}",
            )
        ]
    scheme, host, port = ep
    found: tuple[Member, str] | None
    if is_loopback_host(host):
        local = _loopback_member(node, url, port, origin, members)
        if isinstance(local, KubeFinding):
            return [local]
        found = local
    else:
        found = members.by_host_port.get((host, port))
    findings: list[KubeFinding] = []
    if found is None:
        findings.append(
            _problem(
                node,
                "etcd-servers",
                f"{node}: --etcd-servers has {url}, which is no etcd member's client URL "
                "(removed or replaced member?)",
                f"Remove {url} from --etcd-servers in {origin}; "
                f"current members serve {members.current_urls()}",
            )
        )
    else:
        member, member_scheme = found
        used.add(member.id)
        if scheme != member_scheme:
            findings.append(
                _problem(
                    node,
                    "etcd-tls",
                    f"{node}: --etcd-servers has {url} as {scheme}, but member {member.name} "
                    f"serves {member_scheme} there, so the apiserver cannot talk to it",
                    f"Write {member_scheme}://{url.split('://', 1)[-1]} in {origin}",
                )
            )
    if scheme == "http" and (found is None or found[1] == "http"):
        findings.append(
            _problem(
                node,
                "etcd-tls",
                f"{node}: --etcd-servers has {url}, plain http: every Secret and the whole "
                "cluster state cross the network unencrypted and unauthenticated",
                "Serve etcd clients over TLS (--cert-file, --key-file, --client-cert-auth) "
                f"and use https:// in {origin}",
            )
        )
    return findings


def _check_apiserver(
    node: str, api: ApiserverSettings, members: _Members, used: set[int]
) -> list[KubeFinding]:
    if not api.etcd_servers:
        return [
            _problem(
                node,
                "etcd-servers",
                f"{node}: kube-apiserver has no --etcd-servers ({api.origin}), so it cannot start",
                f"Set --etcd-servers in {api.origin} to: {members.current_urls()}",
            )
        ]
    findings: list[KubeFinding] = []
    for url in api.etcd_servers:
        findings.extend(_check_url(node, url, api.origin, members, used))
    missing = [
        flag
        for flag, value in (
            ("--etcd-cafile", api.etcd_cafile),
            ("--etcd-certfile", api.etcd_certfile),
            ("--etcd-keyfile", api.etcd_keyfile),
        )
        if not value
    ]
    if missing and any(u.strip().lower().startswith("https://") for u in api.etcd_servers):
        findings.append(
            _problem(
                node,
                "etcd-tls",
                f"{node}: kube-apiserver talks https to etcd but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set, so etcd refuses it "
                "or it cannot verify etcd",
                f"Set {', '.join(missing)} in {api.origin} (kubeadm: "
                "/etc/kubernetes/pki/etcd/ca.crt, apiserver-etcd-client.crt/.key)",
            )
        )
    if not findings:
        count = len(api.etcd_servers)
        findings.append(
            KubeFinding(
                node=node,
                check="etcd-servers",
                severity=Severity.OK,
                message=f"{node}: {count} etcd server{'s' if count != 1 else ''}, "
                "all current members, over TLS with a client certificate",
            )
        )
    return findings


def check_wiring(
    apiservers: Mapping[str, ApiserverSettings],
    members: Sequence[Member],
    local_members: Mapping[str, str],
) -> list[KubeFinding]:
    """Each node's --etcd-servers against the member list: stale, unused, plain-text, untrusted.

    `apiservers` maps node → its kube-apiserver's settings; `local_members` maps node → the
    member that runs there, which is what 127.0.0.1 or localhost means on that node.
    """
    if not apiservers:
        return [
            _problem(
                "",
                "etcd-servers",
                "No kube-apiserver settings were read, so nothing checks which members they use",
                "Make sure /etc/kubernetes/manifests/kube-apiserver.yaml is readable on the nodes",
                Severity.WARN,
            )
        ]
    index = _Members(members, local_members)
    used: set[int] = set()
    findings: list[KubeFinding] = []
    for node, api in apiservers.items():
        findings.extend(_check_apiserver(node, api, index, used))
    for member in members:
        # A learner serves no client requests, and an unstarted member has no client URL yet
        # (the health rules report that); neither can be "unused".
        if member.is_learner or not member.client_urls or member.id in used:
            continue
        node = index.node_of(member)
        where = apiservers[node].origin if node in apiservers else "a kube-apiserver manifest"
        url = member.client_urls[0]
        findings.append(
            _problem(
                node,
                "member-unused",
                f"member {member.name} ({url}) is in no kube-apiserver's --etcd-servers: "
                "if the others fail, no apiserver fails over to it",
                f"Add {url} (member {member.name}) to --etcd-servers in {where}",
                Severity.WARN,
            )
        )
    return findings
