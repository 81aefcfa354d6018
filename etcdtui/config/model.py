"""What etcdtui knows of a cluster: its endpoints and TLS files, its nodes and how to reach
them over SSH, and the commands its node profiles run.

A field declared with ``metadata=config_key(...)`` is also a key of the config file's table for that
class (`etcdtui.config.schema`): its name is the key, its default the key's default.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from etcdtui.config.keys import config_key, keys_from
from etcdtui.config.profiles import BUILTIN_PROFILES, PROFILE_DEFAULT_VARS, template_fields
from etcdtui.errors import ConfigError, UsageError

DEFAULT_TIMEOUT = 2.0
HOST_KEY_POLICIES = ("strict", "accept-new")


@dataclass(frozen=True)
class TlsFiles:
    """The three files etcdctl takes as --cacert, --cert and --key."""

    cacert: str | None = field(default=None, metadata=config_key("etcdctl's --cacert: the CA file"))
    cert: str | None = field(
        default=None, metadata=config_key("etcdctl's --cert: the client certificate (with key)")
    )
    key: str | None = field(
        default=None, metadata=config_key("etcdctl's --key: the client key (with cert)")
    )

    @property
    def enabled(self) -> bool:
        return bool(self.cacert or self.cert)


@dataclass(frozen=True)
class SshTarget:
    """How to reach a node over SSH; unset fields come from ~/.ssh/config."""

    host: str = field(
        metadata=config_key("a host name, an address, or a Host alias from ~/.ssh/config")
    )
    port: int | None = field(default=None, metadata=config_key("sshd's port"))
    user: str | None = field(
        default=None, metadata=config_key("the login (default: ~/.ssh/config, else yours)")
    )
    identity_file: str | None = field(default=None, metadata=config_key("the private key file"))
    proxy_jump: str | None = field(
        default=None, metadata=config_key("jump hosts, as ssh -J (also read from ~/.ssh/config)")
    )
    known_hosts: str | None = field(
        default=None, metadata=config_key("the known_hosts file (default: ~/.ssh/known_hosts)")
    )
    host_key_policy: str = field(
        default="strict",
        metadata=config_key('"strict", or "accept-new": accept (and record) an unknown key once'),
    )
    connect_timeout: float = field(default=5.0, metadata=config_key("seconds to connect"))
    # Jump hosts are other machines: each has its own policy, keyed by the host as written in
    # proxy_jump (or ~/.ssh/config's ProxyJump); "strict" when not named here.
    jump_host_key_policies: Mapping[str, str] = field(
        default_factory=dict,
        metadata=config_key("a table from jump host, as written in proxy_jump, to its policy"),
    )

    def jump_policy(self, jump_host: str) -> str:
        """The host-key policy for `jump_host` (strict unless the config names it)."""
        return self.jump_host_key_policies.get(jump_host, "strict")


@dataclass(frozen=True)
class NodeConfig:
    """A machine that runs (or will run) an etcd member."""

    name: str
    ssh: SshTarget = field(metadata=config_key("how to reach the node: a table, [...NODE.ssh]"))
    member: str = field(default="", metadata=config_key("the member's name (default: the node's)"))
    profile: str = field(
        default="systemd",
        metadata=config_key("how etcd runs there: systemd, static-pod, lab, or one of [profiles]"),
    )
    data_dir: str = field(
        default="/var/lib/etcd",
        metadata=config_key("etcd's data dir, an absolute path on the node"),
    )
    peer_urls: tuple[str, ...] = field(default=(), metadata=config_key("the member's peer URLs"))
    client_urls: tuple[str, ...] = field(
        default=(), metadata=config_key("the member's client URLs: which endpoints it serves")
    )
    sudo: bool = field(default=False, metadata=config_key("run node-side commands through sudo -n"))
    vars: Mapping[str, str] = field(
        default_factory=dict, metadata=config_key("strings the profile's templates fill in")
    )
    # The member's client URL as reached on the node itself (kubeadm: https://127.0.0.1:2379):
    # where SSH tunnels and node-side etcdctl connect. Default: the first client URL.
    local_client_url: str = field(
        default="",
        metadata=config_key(
            "where the node itself reaches the member (default: the first client URL)"
        ),
    )
    # The node whose SSH connection opens the tunnels to this member; default: this node.
    tunnel_via: str = field(
        default="", metadata=config_key("the node whose SSH connection tunnels to this member")
    )
    # A control-plane node running kube-apiserver: a restore stops it first, starts it last.
    apiserver: bool = field(
        default=False, metadata=config_key("kube-apiserver runs here: a restore stops it first")
    )

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
    endpoints: tuple[str, ...] = field(
        metadata=config_key("client URLs, as for etcdctl --endpoints")
    )
    tls: TlsFiles = field(default=TlsFiles(), metadata=keys_from(TlsFiles))
    timeout: float = field(default=DEFAULT_TIMEOUT, metadata=config_key("seconds per request"))
    nodes: tuple[NodeConfig, ...] = field(
        default=(), metadata=config_key("the machines that run the members: [...nodes.NODE] tables")
    )
    profiles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    source: str = ""
    # "direct": connect to the endpoints; "ssh": reach each member through its node's SSH.
    via: str = field(
        default="direct",
        metadata=config_key('"direct", or "ssh": reach each member through its node over SSH'),
    )
    # The TLS files are on this node (e.g. kubeadm's pki); they are read from it over SSH.
    certs_on_node: str = field(
        default="", metadata=config_key("the node that holds cacert, cert and key, read over SSH")
    )
    # Where snapshots are kept (the catalogue), and the recovery-point objective: the newest
    # snapshot older than this is a warning.
    snapshot_dir: str = field(
        default="", metadata=config_key("where snapshots are kept (the backups screen's folder)")
    )
    rpo_hours: float = field(
        default=24.0, metadata=config_key("a newest snapshot older than this is a warning")
    )
    check_minutes: float = field(
        default=0.0,
        metadata=config_key("the dashboard's consistency check every so many minutes (0: off)"),
    )

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
