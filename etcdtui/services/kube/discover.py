"""`etcdtui discover`: a config cluster built from what control-plane nodes say over SSH.

Each host's etcd settings (kubeadm manifest or systemd) give a node: its member name, data
dir, peer and client URLs, where its client port answers on the node itself, and the profile
that stops and starts it. The client certificate is the one kube-apiserver uses for etcd
(``--etcd-cafile/--etcd-certfile/--etcd-keyfile``); its files stay on the node
(``certs_on_node``) unless the user asks for copies. If the bastion cannot open the members'
advertised client URLs, the cluster is reached through SSH.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from etcdtui.clients.shell import NodeShell
from etcdtui.clients.ssh.connect import split_jump_spec
from etcdtui.config import SshTarget, load_connection
from etcdtui.errors import EtcdtuiError, SshError, UsageError
from etcdtui.services.kube.inspect import NodeFacts, inspect_node
from etcdtui.services.kube.remote import read_files
from etcdtui.services.kube.settings import EtcdSettings
from etcdtui.toml_io import replace_file, set_cluster

NODE_NAME = re.compile(r"[^A-Za-z0-9_-]+")
PROBE_TIMEOUT = 2.0

ShellFactory = Callable[[str, SshTarget], NodeShell]
"""(host as given, target) -> a NodeShell; the CLI passes one that makes SshShells."""


@dataclass(frozen=True)
class Discovery:
    """The cluster table built, what each host said, and what the user should know."""

    cluster: dict[str, Any]
    facts: tuple[NodeFacts, ...]
    warnings: tuple[str, ...] = ()
    # (path on the node, path on the bastion) of the certificate copies to make, and the
    # host to read them from (with --copy-certs).
    copies: tuple[tuple[str, str], ...] = ()
    copy_from: str = ""


def parse_host(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` -> (user, host, port), as ssh -J takes them; UsageError if not."""
    try:
        user, host, port = split_jump_spec(spec)
    except SshError:
        port = 0
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--ssh: bad host {spec!r}: expected [user@]host[:port]")
    return user, host, port


def node_name(host: str, etcd: EtcdSettings | None, taken: set[str]) -> str:
    """A TOML-safe node name: the member's name, else the host's, unique in `taken`."""
    base = NODE_NAME.sub("-", (etcd.name if etcd and etcd.name else host)).strip("-") or "node"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if a TCP connection to the URL's host and port opens from here."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 2379), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def _node_table(
    target: SshTarget, etcd: EtcdSettings | None, facts: NodeFacts, sudo: bool
) -> dict[str, Any]:
    ssh: dict[str, Any] = {"host": target.host, "port": target.port, "user": target.user}
    ssh |= {
        "identity_file": target.identity_file,
        "known_hosts": target.known_hosts,
        "host_key_policy": target.host_key_policy,
    }
    table: dict[str, Any] = {}
    if etcd is not None:
        local = etcd.local_client_url
        table |= {
            "member": etcd.name,
            "profile": etcd.source,
            "data_dir": etcd.data_dir,
            "peer_urls": list(etcd.initial_advertise_peer_urls),
            "client_urls": list(etcd.advertise_client_urls),
            "local_client_url": local if local not in etcd.advertise_client_urls else None,
        }
    else:
        table["profile"] = "static-pod" if facts.apiserver else "systemd"
    if facts.layout == "k3s":
        table["profile"] = "systemd"  # k3s's own service runs its etcd
    if facts.vars:
        table["vars"] = dict(facts.vars)
    table["sudo"] = sudo
    if facts.apiserver is not None:
        table["apiserver"] = True
    table["ssh"] = ssh
    return table


def discover(
    hosts: Sequence[str],
    target_of: Callable[[str], SshTarget],
    open_shell: ShellFactory,
    *,
    copy_certs_to: Path | None = None,
    cluster_name: str = "discovered",
    on_progress: Callable[[str], None] | None = None,
    timeout: float = 2.0,
) -> Discovery:
    """Read every host (in parallel) and build the cluster table for the config file.

    Nothing is written here: with `copy_certs_to` the table already names the copies, and
    copy_certs() makes them once the user has seen the result.
    """
    say = on_progress or (lambda _: None)
    if not hosts:
        raise UsageError("--ssh: give at least one host")
    targets = {host: target_of(host) for host in hosts}  # bad input refused before any SSH

    say(f"reading {len(hosts)} node(s) over SSH: {', '.join(hosts)}")
    read = _read_hosts(hosts, targets, open_shell)
    facts, nodes, warnings = read.facts, read.nodes, read.warnings
    hosts_of, addresses = read.hosts_of, read.addresses
    members = [f for f in facts if f.etcd is not None]
    settings = [f.etcd for f in facts if f.etcd is not None]
    endpoints = [url for etcd in settings for url in etcd.advertise_client_urls[:1]]
    if not members or not endpoints:
        found = "no etcd member" if not members else "no member advertising a client URL"
        raise EtcdtuiError(
            f"{found} found on " + ", ".join(hosts),
            hint="; ".join(warnings) or "is etcd run by kubeadm or systemd there?",
        )
    profiles = {etcd.source for etcd in settings}
    if len(profiles) > 1:
        warnings.append(f"members are run in different ways ({', '.join(sorted(profiles))})")
    for fact in facts:
        if fact.etcd is None and not fact.error:
            nodes[fact.node] |= _spare_urls(fact.node, members, addresses, warnings)
    cluster: dict[str, Any] = {"endpoints": endpoints}
    with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
        open_here = list(pool.map(reachable, endpoints))
    if not all(open_here):
        closed = [u for u, ok in zip(endpoints, open_here, strict=True) if not ok]
        say(f"not reachable from here: {', '.join(closed)}: the cluster is reached via SSH")
        cluster["via"] = "ssh"
    tls_source = next((f for f in facts if f.apiserver and f.apiserver.etcd_certfile), None)
    copies: tuple[tuple[str, str], ...] = ()
    copy_from = ""
    if any(u.startswith("https") for u in endpoints):
        cluster |= _client_tls(tls_source, members, warnings)
        source = tls_source or members[0]
        if copy_certs_to is not None:
            copies = _plan_copies(cluster, copy_certs_to, cluster_name)
            copy_from = hosts_of[source.node]
        elif cluster.get("cacert"):
            cluster["certs_on_node"] = source.node
    cluster["timeout"] = timeout
    cluster["nodes"] = nodes
    return Discovery(cluster, tuple(facts), tuple(warnings), copies, copy_from)


@dataclass
class _Read:
    """What reading the hosts found, per node name."""

    facts: list[NodeFacts] = field(default_factory=list)
    nodes: dict[str, Any] = field(default_factory=dict)  # name -> its [nodes] table
    warnings: list[str] = field(default_factory=list)
    hosts_of: dict[str, str] = field(default_factory=dict)  # name -> the host as given
    addresses: dict[str, str] = field(default_factory=dict)  # name -> its SSH host


def _read_host(host: str, target: SshTarget, open_shell: ShellFactory) -> tuple[NodeFacts, bool]:
    """One host's facts, and whether reading them needs sudo; an error is a fact too."""
    shell = open_shell(host, target)
    try:
        uid = shell.run("id -u", timeout=15)
        if not uid.ok:
            raise SshError(f"id -u failed: {uid.stderr.strip()[:200]}", node=host)
        sudo = uid.stdout.strip() != "0"  # kubeadm's manifests and keys are root's (0600)
        return inspect_node(shell, sudo=sudo), sudo
    except EtcdtuiError as exc:  # this host is reported; the others still count
        return NodeFacts(host, error=str(exc)), False
    finally:
        shell.close()


def _read_hosts(
    hosts: Sequence[str], targets: dict[str, SshTarget], open_shell: ShellFactory
) -> _Read:
    """Every host read in parallel, each named and turned into its [nodes] table."""
    with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
        results = list(pool.map(lambda h: _read_host(h, targets[h], open_shell), hosts))
    taken: set[str] = set()
    found = _Read()
    for host, (fact, sudo) in zip(hosts, results, strict=True):
        target = targets[host]
        name = node_name(target.host, fact.etcd, taken)
        fact = replace(fact, node=name)
        found.facts.append(fact)
        found.hosts_of[name], found.addresses[name] = host, target.host
        if fact.error:
            found.warnings.append(f"{host}: {fact.error}")
        found.warnings.extend(f"{host}: {note}" for note in fact.notes)
        found.nodes[name] = _node_table(target, fact.etcd, fact, sudo)
        if fact.etcd is not None and not fact.etcd.data_dir.startswith("/"):
            # etcd's default data dir is relative to its working directory: never guess.
            del found.nodes[name]["data_dir"]
            found.warnings.append(
                f"{host}: data dir {fact.etcd.data_dir!r} is relative: set data_dir"
            )
    return found


def _plan_copies(cluster: dict[str, Any], folder: Path, name: str) -> tuple[tuple[str, str], ...]:
    """Point cacert/cert/key at their copies-to-be in `folder`; refuse existing files."""
    folder = folder.expanduser().resolve()
    planned = []
    for key in ("cacert", "cert", "key"):
        source = cluster.get(key)
        if not source:
            continue
        target = folder / f"{name}-{os.path.basename(source)}"
        if target.exists():
            raise UsageError(f"--copy-certs: {target} exists; not overwriting it")
        planned.append((source, str(target)))
        cluster[key] = str(target)
    return tuple(planned)


def copy_certs(
    found: Discovery, target_of: Callable[[str], SshTarget], open_shell: ShellFactory
) -> list[str]:
    """Make the copies `found` planned: read over SSH, written 0600 into a 0700 folder (made
    if missing; an existing one must not be open to others). All or nothing."""
    if not found.copies:
        return []
    folder = Path(found.copies[0][1]).parent
    if folder.exists() and folder.stat().st_mode & 0o077:
        raise UsageError(f"--copy-certs: {folder} is open to other users: choose a private folder")
    host = found.copy_from
    shell = open_shell(host, target_of(host))
    try:
        sudo = shell.run("id -u", timeout=15).stdout.strip() != "0"
        texts = read_files(shell, [source for source, _ in found.copies], sudo=sudo)
    finally:
        shell.close()
    for source, _ in found.copies:
        if not texts[source].exists or texts[source].error:
            raise EtcdtuiError(f"copying {source} from {host}: {texts[source].error}")
    written: list[str] = []
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for source, target in found.copies:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            written.append(target)
            with os.fdopen(fd, "w") as handle:
                handle.write(texts[source].text + "\n")
    except OSError as exc:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise EtcdtuiError(f"--copy-certs: {exc}") from None
    return written


def _spare_urls(
    node: str, members: list[NodeFacts], addresses: dict[str, str], warnings: list[str]
) -> dict[str, Any]:
    """A node without etcd (a replacement or scale-out target): the members' profile, and
    their URL pattern on its address when every member advertises its own SSH address."""
    template = members[0].etcd
    assert template is not None
    # The members' data dir as etcd is told it (a static pod's path inside the pod, which
    # kubeadm maps to the same host path); the host's own mapping is unknown until it runs.
    table: dict[str, Any] = {
        "profile": template.source,
        "data_dir": template.flags.get("data-dir") or template.data_dir,
    }
    if members[0].vars:  # the layout's paths (RKE2's manifests), the same on every node
        table["vars"] = dict(members[0].vars)
    host = addresses[node]
    peer, client = template.initial_advertise_peer_urls, template.advertise_client_urls
    same_host = all(
        f.etcd is not None
        and urlsplit(f.etcd.initial_advertise_peer_urls[0]).hostname == addresses.get(f.node)
        for f in members
        if f.etcd and f.etcd.initial_advertise_peer_urls
    )
    if peer and client and same_host:
        old = urlsplit(peer[0]).hostname or ""
        table["peer_urls"] = [peer[0].replace(old, host, 1)]
        table["client_urls"] = [client[0].replace(old, host, 1)]
        if template.local_client_url not in client:
            table["local_client_url"] = template.local_client_url
        warnings.append(
            f"{host} runs no etcd: its URLs ({table['peer_urls'][0]}) follow the members'; "
            "check them before adding a member there"
        )
    else:
        warnings.append(f"{host} runs no etcd: give it peer_urls and client_urls by hand")
    return table


def _client_tls(
    source: NodeFacts | None, members: list[NodeFacts], warnings: list[str]
) -> dict[str, Any]:
    """cacert/cert/key: kube-apiserver's etcd client files, else etcd's CA alone."""
    if source is not None and source.apiserver is not None:
        api = source.apiserver
        return {"cacert": api.etcd_cafile, "cert": api.etcd_certfile, "key": api.etcd_keyfile}
    etcd = members[0].etcd
    assert etcd is not None
    warnings.append(
        "no kube-apiserver manifest names an etcd client certificate: set cert and key "
        "(etcd refuses clients without one when client-cert-auth is on)"
    )
    return {"cacert": etcd.trusted_ca_file or None}


def save_cluster(path: Path, name: str, cluster: dict[str, Any]) -> Path | None:
    """Add or replace cluster `name` in the config file at `path`, the rest of the file as it
    was; returns the backup of the old file (None if there was none). A result that does not
    load as a config is undone."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it: {exc}") from None
    edited = set_cluster(text, name, cluster)
    if edited is None:
        raise UsageError(
            f"{path}: its layout cannot be edited safely (clusters written inline?); "
            "add the cluster shown above by hand"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        backup = replace_file(path, edited, stamp)
    except OSError as exc:
        raise EtcdtuiError(f"{path}: not written: {exc}") from None
    try:
        load_connection(path, name)
    except EtcdtuiError as exc:
        if backup is not None:
            os.replace(backup, os.path.realpath(path))
        else:
            path.unlink()
        raise EtcdtuiError(f"{path}: the cluster written does not load ({exc}): undone") from None
    return backup
