"""Connection settings: the etcdctl flags and variables, or a TOML config file.

The schema (see README): ``[clusters.NAME]`` with ``endpoints``, optional ``cacert``, ``cert``,
``key``, ``timeout``, ``via`` ("direct" or "ssh"), ``certs_on_node``, ``snapshot_dir``,
``rpo_hours``;
``[clusters.NAME.nodes.NODE]`` with ``member``, ``profile``, ``data_dir``, ``peer_urls``,
``client_urls``, ``local_client_url``, ``tunnel_via``, ``sudo``, ``apiserver``, ``vars`` and an
``ssh`` table (``host``, ``port``, ``user``, ``identity_file``, ``proxy_jump``, ``known_hosts``,
``host_key_policy``, ``connect_timeout``, ``jump_host_key_policies``: a table from jump host,
as written in proxy_jump, to its policy, strict when absent); ``[profiles.NAME]`` overrides a
node profile's command templates (``start``, ``stop``, ``is_active`` for etcd; ``apiserver_stop``,
``apiserver_start``, ``apiserver_ready``, ``control_plane_restart`` and ``apiserver_etcd_servers``
for a node with
``apiserver = true``).
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from etcdtui.errors import ConfigError, UsageError
from etcdtui.toml_io import TableReader, load_file, regular_file
from etcdtui.toml_io import dump_toml as dump_toml  # where callers have found it
from etcdtui.toml_io import toml_value as toml_value

DEFAULT_TIMEOUT = 2.0
HOST_KEY_POLICIES = ("strict", "accept-new")

# kube-apiserver serves again: its /readyz on the node (anonymous access to it is the default).
READYZ = "curl -ksSf --max-time 3 https://127.0.0.1:{apiserver_port}/readyz"
# How etcd is run on a node: command templates filled with the node's fields and ``vars``.
BUILTIN_PROFILES: dict[str, dict[str, str]] = {
    "systemd": {
        "start": "systemctl start {unit}",
        "stop": "systemctl stop {unit}",
        "is_active": "systemctl is-active {unit}",
        "apiserver_stop": "systemctl stop {apiserver_unit}",
        "apiserver_start": "systemctl start {apiserver_unit}",
        "apiserver_ready": READYZ,
    },
    "static-pod": {
        "start": "mv {manifest_stash} {manifest}",
        "stop": "mv {manifest} {manifest_stash}",
        "is_active": "test -e {manifest}",
        # Guarded, so that running either twice (a restore resumed) is harmless.
        "apiserver_stop": "test ! -e {apiserver_manifest} || "
        "mv {apiserver_manifest} {apiserver_manifest_stash}",
        "apiserver_start": "test ! -e {apiserver_manifest_stash} || "
        "mv {apiserver_manifest_stash} {apiserver_manifest}",
        "apiserver_ready": READYZ,
        # {servers}, {servers_sed} and {apiserver_backup} are filled in by the member runbooks
        # ({servers_sed} is the whole sed expression, built from checked URLs and quoted as
        # one word). The backup goes outside the manifests folder: kubelet would run a copy
        # left there as a second static pod. kubelet restarts the apiserver when its manifest
        # changes.
        "apiserver_etcd_servers": "cp -p {apiserver_manifest} {apiserver_backup} && "
        "grep -q -e --etcd-servers= {apiserver_manifest} && "
        "sed -i {servers_sed} {apiserver_manifest}",
    },
    # The lab runs etcd under a small service script that behaves like systemctl.
    "lab": {
        "start": "{service} start",
        "stop": "{service} stop",
        "is_active": "{service} is-active",
    },
}
PROFILE_DEFAULT_VARS: dict[str, dict[str, str]] = {
    "systemd": {"unit": "etcd", "apiserver_unit": "kube-apiserver", "apiserver_port": "6443"},
    "static-pod": {
        "manifest": "/etc/kubernetes/manifests/etcd.yaml",
        "manifest_stash": "/etc/kubernetes/etcd.yaml.etcdtui-stopped",
        "apiserver_manifest": "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "apiserver_manifest_stash": "/etc/kubernetes/kube-apiserver.yaml.etcdtui-stopped",
        "apiserver_backup_dir": "/etc/kubernetes",
        "apiserver_port": "6443",
    },
    "lab": {},
}
# What a [profiles.NAME] table may set: etcd's own commands, and for control-plane nodes
# (apiserver = true) how to stop and start kube-apiserver and, optionally, how to restart
# kube-scheduler, kube-controller-manager and kubelet (a reminder is shown otherwise), how to
# set kube-apiserver's --etcd-servers to {servers} after a member change, and how to ask
# whether kube-apiserver serves (exit 0 when it does).
PROFILE_ACTIONS = frozenset(
    {
        "start",
        "stop",
        "is_active",
        "apiserver_stop",
        "apiserver_start",
        "control_plane_restart",
        "apiserver_etcd_servers",
        "apiserver_ready",
    }
)


@dataclass(frozen=True)
class TlsFiles:
    """The three files etcdctl takes as --cacert, --cert and --key."""

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.cacert or self.cert)


@dataclass(frozen=True)
class SshTarget:
    """How to reach a node over SSH; unset fields come from ~/.ssh/config."""

    host: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    proxy_jump: str | None = None
    known_hosts: str | None = None
    host_key_policy: str = "strict"
    connect_timeout: float = 5.0
    # Jump hosts are other machines: each has its own policy, keyed by the host as written in
    # proxy_jump (or ~/.ssh/config's ProxyJump); "strict" when not named here.
    jump_host_key_policies: Mapping[str, str] = field(default_factory=dict)

    def jump_policy(self, jump_host: str) -> str:
        """The host-key policy for `jump_host` (strict unless the config names it)."""
        return self.jump_host_key_policies.get(jump_host, "strict")


@dataclass(frozen=True)
class NodeConfig:
    """A machine that runs (or will run) an etcd member."""

    name: str
    ssh: SshTarget
    member: str = ""
    profile: str = "systemd"
    data_dir: str = "/var/lib/etcd"
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()
    sudo: bool = False
    vars: Mapping[str, str] = field(default_factory=dict)
    # The member's client URL as reached on the node itself (kubeadm: https://127.0.0.1:2379):
    # where SSH tunnels and node-side etcdctl connect. Default: the first client URL.
    local_client_url: str = ""
    # The node whose SSH connection opens the tunnels to this member; default: this node.
    tunnel_via: str = ""
    # A control-plane node running kube-apiserver: a restore stops it first, starts it last.
    apiserver: bool = False

    @property
    def member_name(self) -> str:
        return self.member or self.name

    @property
    def client_url_on_node(self) -> str:
        """Where the member's client port is reached from the node that tunnels to it."""
        return self.local_client_url or (self.client_urls[0] if self.client_urls else "")


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one cluster."""

    cluster: str
    endpoints: tuple[str, ...]
    tls: TlsFiles = TlsFiles()
    timeout: float = DEFAULT_TIMEOUT
    nodes: tuple[NodeConfig, ...] = ()
    profiles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    source: str = ""
    # "direct": connect to the endpoints; "ssh": reach each member through its node's SSH.
    via: str = "direct"
    # The TLS files are on this node (e.g. kubeadm's pki); they are read from it over SSH.
    certs_on_node: str = ""
    # Where snapshots are kept (the catalogue), and the recovery-point objective: the newest
    # snapshot older than this is a warning.
    snapshot_dir: str = ""
    rpo_hours: float = 24.0

    @property
    def via_ssh(self) -> bool:
        return self.via == "ssh"

    def node_tls(self, node: NodeConfig | None) -> TlsFiles:
        """The TLS files as seen on `node`, for etcdctl run there: the node's
        ``vars.etcdctl_cacert/_cert/_key``, else the cluster's (which are node paths when
        ``certs_on_node`` is set)."""
        variables = node.vars if node is not None else {}
        return TlsFiles(
            cacert=variables.get("etcdctl_cacert", self.tls.cacert),
            cert=variables.get("etcdctl_cert", self.tls.cert),
            key=variables.get("etcdctl_key", self.tls.key),
        )

    def node_for_url(self, url: str) -> NodeConfig | None:
        """The node whose member has client URL `url` (None if no node lists it)."""
        for node in self.nodes:
            if url in node.client_urls:
                return node
        return None

    def node(self, name: str) -> NodeConfig:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes) or "none"
        raise UsageError(f"no node named {name!r} in cluster {self.cluster!r} (nodes: {known})")

    def has_profile_command(self, node: NodeConfig, action: str) -> bool:
        """Whether `node`'s profile (built in or overridden) defines `action`."""
        return action in BUILTIN_PROFILES.get(node.profile, {}) or action in self.profiles.get(
            node.profile, {}
        )

    def profile_var(self, node: NodeConfig, name: str) -> str:
        """A profile variable as `node`'s commands see it (its vars, else the profile's
        default), e.g. a static-pod node's ``manifest`` path; "" if unset."""
        return str(node.vars.get(name, PROFILE_DEFAULT_VARS.get(node.profile, {}).get(name, "")))

    def profile_command(
        self, node: NodeConfig, action: str, extra: Mapping[str, str] | None = None
    ) -> str:
        """The shell command that performs `action` on `node`: start, stop, is_active,
        apiserver_stop, apiserver_start, control_plane_restart or apiserver_etcd_servers
        (which needs `extra` values: servers, servers_sed, apiserver_backup).

        Every value is filled in as one shell word (``shlex.quote``): node vars, data dirs and
        names are data, whatever they hold."""
        templates = {
            **BUILTIN_PROFILES.get(node.profile, {}),
            **self.profiles.get(node.profile, {}),
        }
        if action not in templates:
            raise ConfigError(f"node profile {node.profile!r} has no {action!r} command")
        values = {
            **PROFILE_DEFAULT_VARS.get(node.profile, {}),
            "name": node.member_name,
            "node": node.name,
            "data_dir": node.data_dir,
            **node.vars,
            **(extra or {}),
        }
        missing = [f for f in template_fields(templates[action], action) if f not in values]
        if missing:
            raise ConfigError(f"node {node.name}: profile {node.profile!r} needs vars.{missing[0]}")
        quoted = {key: shlex.quote(str(value)) for key, value in values.items()}
        return templates[action].format_map(quoted)


def template_fields(template: str, key: str) -> list[str]:
    """The {names} a profile template uses; a malformed one is a ConfigError naming `key`.

    Only plain names are allowed: no positional ``{}``, attribute or index access, conversion
    or format spec, so a template can do nothing but place quoted words."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"profile command {key!r}: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    fields: list[str] = []
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ConfigError(
                f"profile command {key!r}: {shown} is not a plain {{name}} placeholder"
            )
        fields.append(name)
    return fields


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "etcdtui" / "config.toml"


def normalise_endpoint(raw: str, tls: bool) -> str:
    """`host:port` or a URL -> a URL; refuse anything else with a clear reason."""
    text = raw.strip()
    if not text:
        raise UsageError("empty endpoint")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        # urlsplit drops a tab or new line silently and would connect elsewhere than written.
        raise UsageError(f"bad endpoint {raw!r}: it holds white space or a control character")
    if "://" not in text:
        text = ("https://" if tls else "http://") + text
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise UsageError(f"bad endpoint {raw!r}: {exc}") from None
    if parts.username or parts.password:
        raise UsageError(f"bad endpoint {raw!r}: no user or password in the URL, please")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"bad endpoint {raw!r}: the scheme must be http or https")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"bad endpoint {raw!r}: the port is not a number from 0 to 65535"
        ) from None
    if not parts.hostname:
        raise UsageError(f"bad endpoint {raw!r}: no host")
    if port is None:
        raise UsageError(f"bad endpoint {raw!r}: no port (etcd's client port is usually 2379)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "#" in text:
        raise UsageError(f"bad endpoint {raw!r}: expected scheme://host:port and nothing more")
    return f"{parts.scheme}://{parts.netloc}"


def _check_file(path: str | None, what: str) -> str | None:
    """`path` with ~ expanded, once it is known to be a readable regular file: the TLS
    library reads it later, and a FIFO or a device there would hang that read."""
    if not path:
        return None
    expanded = os.path.expanduser(path)
    regular_file(expanded, what)
    return expanded


def make_tls(cacert: str | None, cert: str | None, key: str | None) -> TlsFiles:
    if bool(cert) != bool(key):
        raise UsageError("--cert and --key go together: give both or neither")
    return TlsFiles(
        cacert=_check_file(cacert, "CA certificate file (--cacert)"),
        cert=_check_file(cert, "client certificate file (--cert)"),
        key=_check_file(key, "client key file (--key)"),
    )


def from_flags(
    endpoints: str,
    cacert: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Connection:
    """A connection from etcdctl-style flags (comma-separated endpoints)."""
    tls = make_tls(cacert, cert, key)
    urls = tuple(normalise_endpoint(e, tls.enabled) for e in endpoints.split(",") if e.strip())
    if not urls:
        raise UsageError("no endpoints given")
    return Connection(cluster="default", endpoints=urls, tls=tls, timeout=timeout, source="flags")


# --- the TOML file -----------------------------------------------------------------------------


def _relative(base: Path, value: str | None) -> str | None:
    """Paths in a config are relative to the config file's folder."""
    if not value:
        return None
    expanded = Path(os.path.expanduser(value))
    return str(expanded if expanded.is_absolute() else base / expanded)


def _node(path: Path, cluster: str, name: str, table: Any) -> NodeConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: clusters.{cluster}.nodes.{name}: expected a table")
    r = TableReader(path, f"clusters.{cluster}.nodes.{name}", table)
    r.unknown_keys(
        {
            "member",
            "profile",
            "data_dir",
            "peer_urls",
            "client_urls",
            "local_client_url",
            "tunnel_via",
            "sudo",
            "apiserver",
            "vars",
            "ssh",
        }
    )
    s = r.sub("ssh", required=True)
    s.unknown_keys(
        {
            "host",
            "port",
            "user",
            "identity_file",
            "proxy_jump",
            "known_hosts",
            "host_key_policy",
            "connect_timeout",
            "jump_host_key_policies",
        }
    )
    policy = s.string("host_key_policy", "strict") or "strict"
    if policy not in HOST_KEY_POLICIES:
        raise s.fail("host_key_policy", f"expected 'strict' or 'accept-new', got {policy!r}")
    jumps = s.sub("jump_host_key_policies")
    for jump_host, jump_policy in jumps.table.items():
        if jump_policy not in HOST_KEY_POLICIES:
            raise jumps.fail(jump_host, f"expected 'strict' or 'accept-new', got {jump_policy!r}")
    variables = r.sub("vars")
    for key, value in variables.table.items():
        if not isinstance(value, str):
            raise variables.fail(key, f"expected a string, got {value!r}")
    base = path.parent
    local = r.string("local_client_url", "") or ""
    if local:
        try:
            local = normalise_endpoint(local, tls=False)
        except UsageError as exc:
            raise r.fail("local_client_url", exc.message) from None
    return NodeConfig(
        name=name,
        ssh=SshTarget(
            host=s.required_string("host"),
            port=s.integer("port", 1, 65535),
            user=s.string("user"),
            identity_file=_relative(base, s.string("identity_file")),
            proxy_jump=s.string("proxy_jump"),
            known_hosts=_relative(base, s.string("known_hosts")),
            host_key_policy=policy,
            connect_timeout=s.number("connect_timeout", 5.0, 0.1, 300),
            jump_host_key_policies=dict(jumps.table),
        ),
        member=r.string("member", "") or "",
        profile=r.string("profile", "systemd") or "systemd",
        data_dir=_node_path(r, "data_dir", "/var/lib/etcd"),
        peer_urls=r.strings("peer_urls"),
        client_urls=r.strings("client_urls"),
        sudo=r.boolean("sudo", False),
        vars=dict(variables.table),
        local_client_url=local,
        tunnel_via=r.string("tunnel_via", "") or "",
        apiserver=r.boolean("apiserver", False),
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


def load_connection(path: Path, cluster: str | None) -> Connection:
    """The named cluster from a config file (the only one if the file has just one)."""
    data = load_file(path)
    top = TableReader(path, "(top)", data)
    top.unknown_keys({"clusters", "profiles", "default_cluster"})
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
    r = TableReader(path, "clusters", clusters).sub(name)
    r.unknown_keys(
        {
            "endpoints",
            "cacert",
            "cert",
            "key",
            "timeout",
            "via",
            "certs_on_node",
            "snapshot_dir",
            "rpo_hours",
            "nodes",
        }
    )
    base = path.parent
    certs_on_node = r.string("certs_on_node", "") or ""
    try:
        if certs_on_node:
            # Paths on that node, read over SSH when connecting: nothing to check here.
            cacert, cert, key = (r.string(k) for k in ("cacert", "cert", "key"))
            if bool(cert) != bool(key):
                raise UsageError("cert and key go together: give both or neither")
            tls = TlsFiles(cacert, cert, key)
        else:
            tls = make_tls(*(_relative(base, r.string(k)) for k in ("cacert", "cert", "key")))
        endpoints = tuple(normalise_endpoint(e, tls.enabled) for e in r.strings("endpoints"))
    except UsageError as exc:
        raise ConfigError(f"{path}: clusters.{name}: {exc.message}") from None
    if not endpoints:
        raise r.fail("endpoints", "missing (a list of client URLs is required)")
    via = r.string("via", "direct")
    if via not in ("direct", "ssh"):
        raise r.fail("via", f"expected 'direct' or 'ssh', got {via!r}")
    nodes = tuple(_node(path, name, n, t) for n, t in r.sub("nodes").table.items())
    node_names = {node.name for node in nodes}
    for node in nodes:
        if node.tunnel_via and node.tunnel_via not in node_names:
            raise ConfigError(
                f"{path}: clusters.{name}.nodes.{node.name}.tunnel_via: no node named "
                f"{node.tunnel_via!r}"
            )
    if certs_on_node and certs_on_node not in node_names:
        raise r.fail("certs_on_node", f"no node named {certs_on_node!r} in this cluster")
    if certs_on_node and not tls.enabled:
        raise r.fail("certs_on_node", "names a node, but cacert/cert/key are not given")
    if via == "ssh":
        _check_routes(path, name, endpoints, nodes)
    profiles_reader = top.sub("profiles")
    profiles: dict[str, dict[str, str]] = {}
    for profile, _table in profiles_reader.table.items():
        p = profiles_reader.sub(profile)
        p.unknown_keys(set(PROFILE_ACTIONS))
        profiles[profile] = {k: p.required_string(k) for k in p.table}
        for action, template in profiles[profile].items():
            try:
                template_fields(template, action)
            except ConfigError as exc:
                raise p.fail(action, exc.message.split(": ", 1)[1]) from None
    for node in nodes:
        if node.profile not in BUILTIN_PROFILES and node.profile not in profiles:
            known = ", ".join(sorted({*BUILTIN_PROFILES, *profiles}))
            raise ConfigError(
                f"{path}: clusters.{name}.nodes.{node.name}.profile: unknown profile "
                f"{node.profile!r} (known: {known})"
            )
    return Connection(
        cluster=name,
        endpoints=endpoints,
        tls=tls,
        timeout=r.number("timeout", DEFAULT_TIMEOUT, 0.1, 300),
        nodes=nodes,
        profiles=profiles,
        source=str(path),
        via=via,
        certs_on_node=certs_on_node,
        snapshot_dir=_relative(base, r.string("snapshot_dir")) or "",
        rpo_hours=r.number("rpo_hours", 24.0, 0.01, 24 * 365),
    )


def _check_routes(
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


def resolve(
    config: str | None,
    cluster: str | None,
    endpoints: str | None,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    environ: Mapping[str, str] | None = None,
    via_ssh: bool = False,
) -> Connection:
    """Pick the connection the way etcdctl users expect: flags, then ETCDCTL_*, then the config.

    ``--config``/``--cluster`` win; ``--endpoints`` (or ETCDCTL_ENDPOINTS) comes next, with
    ETCDCTL_CACERT/CERT/KEY as defaults for the TLS flags; otherwise the default config file;
    otherwise etcdctl's default endpoint, 127.0.0.1:2379. ``via_ssh`` (--via-ssh) reaches the
    members through SSH, which needs a config that describes the cluster's nodes.
    """
    connection = _resolve(config, cluster, endpoints, cacert, cert, key, environ)
    if not via_ssh or connection.via_ssh:
        return connection
    if not connection.nodes:
        raise UsageError(
            "--via-ssh needs a config whose cluster lists its nodes (--config FILE --cluster NAME)"
        )
    _check_routes(Path(connection.source), connection.cluster, connection.endpoints,
                  connection.nodes)  # fmt: skip
    return replace(connection, via="ssh")


def _resolve(
    config: str | None,
    cluster: str | None,
    endpoints: str | None,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    environ: Mapping[str, str] | None,
) -> Connection:
    env = os.environ if environ is None else environ
    if config or cluster:
        if endpoints or cacert or cert or key:
            raise UsageError(
                "give either --config/--cluster or --endpoints/--cacert/--cert/--key, not both"
            )
        return load_connection(Path(config) if config else default_config_path(), cluster)
    cacert = cacert or env.get("ETCDCTL_CACERT")
    cert = cert or env.get("ETCDCTL_CERT")
    key = key or env.get("ETCDCTL_KEY")
    endpoints = endpoints or env.get("ETCDCTL_ENDPOINTS")
    if endpoints:
        return from_flags(endpoints, cacert, cert, key)
    default = default_config_path()
    if default.exists():
        return load_connection(default, None)
    return from_flags("127.0.0.1:2379", cacert, cert, key)
