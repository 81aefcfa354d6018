"""Reading a cluster from the TOML config file, each mistake one line naming the file and the
key. Which keys a table allows, and their defaults, come from `etcdtui.config.schema`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from etcdtui.config.model import HOST_KEY_POLICIES, Connection, NodeConfig, SshTarget, TlsFiles
from etcdtui.config.profiles import BUILTIN_PROFILES, PROFILE_TABLE, template_fields
from etcdtui.config.schema import CLUSTER_TABLE, NODE_TABLE, SSH_TABLE, TOP_TABLE
from etcdtui.config.values import make_tls, normalise_endpoint
from etcdtui.errors import ConfigError, UsageError
from etcdtui.toml_io import TableReader, load_file


def _relative(base: Path, value: str | None) -> str | None:
    """Paths in a config are relative to the config file's folder."""
    if not value:
        return None
    expanded = Path(os.path.expanduser(value))
    return str(expanded if expanded.is_absolute() else base / expanded)


def _host_key_policies(s: TableReader) -> tuple[str, dict[str, str]]:
    """A node's ``ssh`` table checked for unknown keys, and its host-key policies: the
    node's own and each jump host's."""
    s.unknown_keys(SSH_TABLE.names)
    strict = SSH_TABLE.default("host_key_policy")
    policy = s.string("host_key_policy", strict) or strict
    if policy not in HOST_KEY_POLICIES:
        raise s.fail("host_key_policy", f"expected 'strict' or 'accept-new', got {policy!r}")
    jumps = s.sub("jump_host_key_policies")
    for jump_host, jump_policy in jumps.table.items():
        if jump_policy not in HOST_KEY_POLICIES:
            raise jumps.fail(jump_host, f"expected 'strict' or 'accept-new', got {jump_policy!r}")
    return policy, dict(jumps.table)


def _ssh_target(
    s: TableReader, base: Path, policy: str, jump_policies: dict[str, str]
) -> SshTarget:
    """A node's ``ssh`` table, once `_host_key_policies` has checked it."""
    return SshTarget(
        host=s.required_string("host"),
        port=s.integer("port", 1, 65535),
        user=s.string("user"),
        identity_file=_relative(base, s.string("identity_file")),
        proxy_jump=s.string("proxy_jump"),
        known_hosts=_relative(base, s.string("known_hosts")),
        host_key_policy=policy,
        connect_timeout=s.number("connect_timeout", SSH_TABLE.default("connect_timeout"), 0.1, 300),
        jump_host_key_policies=jump_policies,
    )


def _node(path: Path, cluster: str, name: str, table: Any) -> NodeConfig:
    """One ``[clusters.CLUSTER.nodes.NAME]`` table."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: clusters.{cluster}.nodes.{name}: expected a table")
    r = TableReader(path, f"clusters.{cluster}.nodes.{name}", table)
    r.unknown_keys(NODE_TABLE.names)
    s = r.sub("ssh", required=True)
    policy, jump_policies = _host_key_policies(s)
    variables = r.sub("vars")
    for key, value in variables.table.items():
        if not isinstance(value, str):
            raise variables.fail(key, f"expected a string, got {value!r}")
    local = r.string("local_client_url", "") or ""
    if local:
        try:
            local = normalise_endpoint(local, tls=False)
        except UsageError as exc:
            raise r.fail("local_client_url", exc.message) from None
    default = NODE_TABLE.default
    return NodeConfig(
        name=name,
        ssh=_ssh_target(s, path.parent, policy, jump_policies),
        member=r.string("member", "") or "",
        profile=r.string("profile", default("profile")) or default("profile"),
        data_dir=_node_path(r, "data_dir", default("data_dir")),
        peer_urls=r.strings("peer_urls"),
        client_urls=r.strings("client_urls"),
        sudo=r.boolean("sudo", default("sudo")),
        vars=dict(variables.table),
        local_client_url=local,
        tunnel_via=r.string("tunnel_via", "") or "",
        apiserver=r.boolean("apiserver", default("apiserver")),
    )


def _node_path(r: TableReader, key: str, default: str) -> str:
    """An absolute path on the node: a relative one would depend on the SSH login's home."""
    value = r.string(key, default) or default
    if not value.startswith("/"):
        raise r.fail(key, f"expected an absolute path on the node, got {value!r}")
    return value


def cluster_names(path: Path) -> list[str]:
    """The clusters a config file defines, in file order."""
    clusters = TableReader(path, "(top)", load_file(path)).sub("clusters").table
    return list(clusters)


def _choose(path: Path, top: TableReader, cluster: str | None) -> tuple[str, TableReader]:
    """The name and table of the cluster named `cluster`, else of default_cluster, else of
    the only one."""
    clusters = top.sub("clusters").table
    if not clusters:
        raise ConfigError(f"{path}: no [clusters.NAME] table")
    name = cluster or top.string("default_cluster")
    if name is None:
        if len(clusters) != 1:
            names = ", ".join(sorted(clusters))
            raise UsageError(f"{path} has several clusters ({names}): choose one with --cluster")
        name = next(iter(clusters))
    if name not in clusters:
        names = ", ".join(sorted(clusters))
        raise UsageError(f"{path}: no cluster named {name!r} (clusters: {names})")
    return name, TableReader(path, "clusters", clusters).sub(name)


def _tls_and_endpoints(
    path: Path, name: str, r: TableReader, certs_on_node: str
) -> tuple[TlsFiles, tuple[str, ...]]:
    """The cluster's TLS files (paths on the bastion, checked; or on `certs_on_node`, as
    written) and its endpoints, normalised."""
    try:
        if certs_on_node:
            # Paths on that node, read over SSH when connecting: nothing to check here.
            cacert, cert, key = (r.string(k) for k in ("cacert", "cert", "key"))
            if bool(cert) != bool(key):
                raise UsageError("cert and key go together: give both or neither")
            tls = TlsFiles(cacert, cert, key)
        else:
            base = path.parent
            tls = make_tls(*(_relative(base, r.string(k)) for k in ("cacert", "cert", "key")))
        endpoints = tuple(normalise_endpoint(e, tls.enabled) for e in r.strings("endpoints"))
    except UsageError as exc:
        raise ConfigError(f"{path}: clusters.{name}: {exc.message}") from None
    if not endpoints:
        raise r.fail("endpoints", "missing (a list of client URLs is required)")
    return tls, endpoints


def _check_node_names(
    path: Path, name: str, r: TableReader, nodes: tuple[NodeConfig, ...], certs_on_node: str
) -> None:
    """Every node named by another key (tunnel_via, certs_on_node) is one of the cluster's."""
    node_names = {node.name for node in nodes}
    for node in nodes:
        if node.tunnel_via and node.tunnel_via not in node_names:
            raise ConfigError(
                f"{path}: clusters.{name}.nodes.{node.name}.tunnel_via: no node named "
                f"{node.tunnel_via!r}"
            )
    if certs_on_node and certs_on_node not in node_names:
        raise r.fail("certs_on_node", f"no node named {certs_on_node!r} in this cluster")


def _profiles(top: TableReader) -> dict[str, dict[str, str]]:
    """The ``[profiles.NAME]`` tables, each template checked to be only plain placeholders."""
    profiles_reader = top.sub("profiles")
    profiles: dict[str, dict[str, str]] = {}
    for profile, _table in profiles_reader.table.items():
        p = profiles_reader.sub(profile)
        p.unknown_keys(PROFILE_TABLE.names)
        profiles[profile] = {k: p.required_string(k) for k in p.table}
        for action, template in profiles[profile].items():
            try:
                template_fields(template, action)
            except ConfigError as exc:
                raise p.fail(action, exc.message.split(": ", 1)[1]) from None
    return profiles


def _check_node_profiles(
    path: Path, name: str, nodes: tuple[NodeConfig, ...], profiles: dict[str, dict[str, str]]
) -> None:
    """Every node's profile is built in or defined in the file."""
    for node in nodes:
        if node.profile not in BUILTIN_PROFILES and node.profile not in profiles:
            known = ", ".join(sorted({*BUILTIN_PROFILES, *profiles}))
            raise ConfigError(
                f"{path}: clusters.{name}.nodes.{node.name}.profile: unknown profile "
                f"{node.profile!r} (known: {known})"
            )


def load_connection(path: Path, cluster: str | None) -> Connection:
    """The named cluster from a config file (the only one if the file has just one)."""
    top = TableReader(path, "(top)", load_file(path))
    top.unknown_keys(TOP_TABLE.names)
    name, r = _choose(path, top, cluster)
    r.unknown_keys(CLUSTER_TABLE.names)
    certs_on_node = r.string("certs_on_node", "") or ""
    tls, endpoints = _tls_and_endpoints(path, name, r, certs_on_node)
    default = CLUSTER_TABLE.default
    via = r.string("via", default("via"))
    if via not in ("direct", "ssh"):
        raise r.fail("via", f"expected 'direct' or 'ssh', got {via!r}")
    nodes = tuple(_node(path, name, n, t) for n, t in r.sub("nodes").table.items())
    _check_node_names(path, name, r, nodes, certs_on_node)
    if certs_on_node and not tls.enabled:
        raise r.fail("certs_on_node", "names a node, but cacert/cert/key are not given")
    if via == "ssh":
        check_routes(path, name, endpoints, nodes)
    profiles = _profiles(top)
    _check_node_profiles(path, name, nodes, profiles)
    return Connection(
        cluster=name,
        endpoints=endpoints,
        tls=tls,
        timeout=r.number("timeout", default("timeout"), 0.1, 300),
        nodes=nodes,
        profiles=profiles,
        source=str(path),
        via=via,
        certs_on_node=certs_on_node,
        snapshot_dir=_relative(path.parent, r.string("snapshot_dir")) or "",
        rpo_hours=r.number("rpo_hours", default("rpo_hours"), 0.01, 24 * 365),
        check_minutes=r.number("check_minutes", default("check_minutes"), 0, 7 * 24 * 60),
    )


def check_routes(
    path: Path, cluster: str, endpoints: tuple[str, ...], nodes: tuple[NodeConfig, ...]
) -> None:
    """Through SSH, every endpoint needs a node to tunnel from: refuse a config without one,
    rather than fall back to a direct connection that may reach the wrong etcd."""
    if not nodes:
        raise ConfigError(
            f"{path}: clusters.{cluster}.via: 'ssh' needs the cluster's nodes "
            f"([clusters.{cluster}.nodes.NAME] with client_urls and ssh)"
        )
    listed = {url for node in nodes for url in node.client_urls}
    for endpoint in endpoints:
        if endpoint not in listed:
            raise ConfigError(
                f"{path}: clusters.{cluster}.endpoints: {endpoint} is in no node's client_urls, "
                "so there is no node to reach it through over SSH"
            )
