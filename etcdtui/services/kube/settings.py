"""What a control-plane node says about its etcd and kube-apiserver: the settings themselves,
and how etcd resolves them from its flags, ETCD_* variables, config file and defaults.

Static pods are read in `pods`, systemd units in `systemd`, etcd's YAML config file in
`configfile`, and the command lines of both (with their `sh -c` scripts) in `commandline`.
None of them does I/O: they work from text the caller has read, so every rule can be tested
with the exact bytes of a real node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from etcdtui.errors import EtcdtuiError


class KubeConfigError(EtcdtuiError):
    """A manifest, unit or etcd config file that is not what it should be; names the file."""


# etcd's own defaults (embed.NewConfig in 3.5) for whatever no flag, variable or file sets.
ETCD_DEFAULTS: Mapping[str, str] = {
    "name": "default",
    "listen-client-urls": "http://localhost:2379",
    "advertise-client-urls": "http://localhost:2379",
    "listen-peer-urls": "http://localhost:2380",
    "initial-advertise-peer-urls": "http://localhost:2380",
    "initial-cluster-state": "new",
    "initial-cluster-token": "etcd-cluster",
}
# The settings whose default is worth a warning: a member rarely runs with it on purpose.
_WARN_DEFAULT = (
    "name",
    "data-dir",
    "listen-client-urls",
    "advertise-client-urls",
    "listen-peer-urls",
    "initial-advertise-peer-urls",
)
# Settings that name a file or folder: a static pod's are translated to the node's paths.
PATH_SETTINGS = (
    "data-dir",
    "wal-dir",
    "cert-file",
    "key-file",
    "trusted-ca-file",
    "peer-cert-file",
    "peer-key-file",
    "peer-trusted-ca-file",
)

# Go's flag package lets a boolean stand alone, so `--client-cert-auth --data-dir=x` must not
# swallow the next word as its value; any other flag written `--flag value` takes the next word.
_BOOL_FLAG_NAMES = """
    client-cert-auth peer-client-cert-auth auto-tls peer-auto-tls strict-reconfig-check
    enable-v2 enable-pprof enable-grpc-gateway force-new-cluster debug unsafe-no-fsync
    socket-reuse-port socket-reuse-address peer-skip-client-san-verification
    experimental-initial-corrupt-check experimental-enable-distributed-tracing
    experimental-enable-lease-checkpoint experimental-memory-mlock allow-privileged
    enable-bootstrap-token-auth enable-aggregator-routing version help
"""
_BOOL_FLAGS = frozenset(_BOOL_FLAG_NAMES.split())


def is_loopback_host(host: str) -> bool:
    """True for localhost, ::1 and anything in 127.0.0.0/8."""
    host = host.lower().strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def url_host(url: str) -> str:
    """The host part of a URL, lower-cased, without IPv6 brackets ("" if there is none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


@dataclass(frozen=True)
class EtcdSettings:
    """How one node runs its etcd member, as its static pod manifest or systemd unit says."""

    source: str  # "static-pod" or "systemd"
    origin: str  # the file(s) it was read from
    name: str
    data_dir: str  # on the host: a static pod's hostPath is already resolved
    listen_client_urls: tuple[str, ...]
    advertise_client_urls: tuple[str, ...]
    listen_peer_urls: tuple[str, ...]
    initial_advertise_peer_urls: tuple[str, ...]
    initial_cluster: str = ""
    initial_cluster_state: str = ""
    initial_cluster_token: str = ""
    cert_file: str = ""  # certificate paths, like data_dir, are the node's
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False
    peer_cert_file: str = ""
    peer_key_file: str = ""
    peer_trusted_ca_file: str = ""
    peer_client_cert_auth: bool = False
    image: str = ""
    # Every setting as given, keyed by flag name without dashes ({"data-dir": "/var/lib/etcd"}),
    # paths as etcd sees them (inside a static pod's container).
    flags: Mapping[str, str] = field(default_factory=dict)
    # What the reader should know: defaults etcd falls back to, values that cannot be known.
    warnings: tuple[str, ...] = ()

    @property
    def client_tls(self) -> bool:
        """Every advertised client URL is https."""
        urls = self.advertise_client_urls
        return bool(urls) and all(u.lower().startswith("https://") for u in urls)

    @property
    def peer_tls(self) -> bool:
        """Every advertised peer URL is https."""
        urls = self.initial_advertise_peer_urls
        return bool(urls) and all(u.lower().startswith("https://") for u in urls)

    @property
    def local_client_url(self) -> str:
        """Where a tool on the node itself reaches the member: loopback if it listens there."""
        for url in self.listen_client_urls:
            if is_loopback_host(url_host(url)):
                return url
        return self.advertise_client_urls[0] if self.advertise_client_urls else ""


@dataclass(frozen=True)
class ApiserverSettings:
    """The etcd flags of one kube-apiserver."""

    origin: str
    etcd_servers: tuple[str, ...]
    etcd_cafile: str = ""
    etcd_certfile: str = ""
    etcd_keyfile: str = ""
    image: str = ""


def parse_flags(args: Sequence[str], *, underscores: bool = False) -> dict[str, str]:
    """`--a=1 --b 2 --c` → {"a": "1", "b": "2", "c": "true"}; the last of a repeated flag wins.

    Words that are not flags (and everything after a bare `--`) are skipped. `underscores`
    reads `--etcd_servers` as `--etcd-servers`, as Kubernetes' programs do (their flag sets
    normalise `_` to `-`); etcd's Go flag package does not, so etcd's flags keep theirs.
    """
    flags: dict[str, str] = {}
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            continue
        name, sep, value = word.lstrip("-").partition("=")
        if underscores:
            name = name.replace("_", "-")
        if not sep:
            if name not in _BOOL_FLAGS and i < len(args) and not args[i].startswith("-"):
                value = args[i]
                i += 1
            else:
                value = "true"
        flags[name] = value
    return flags


def env_settings(env: Mapping[str, str]) -> dict[str, str]:
    """ETCD_NAME=x → {"name": "x"}: etcd maps every flag to ETCD_ + upper case with `_`;
    an empty value counts as unset."""
    return {
        k[len("ETCD_") :].lower().replace("_", "-"): v
        for k, v in env.items()
        if k.startswith("ETCD_") and v != ""
    }


def _bool(value: str) -> bool:
    # Go's strconv.ParseBool, which etcd uses for flags and ETCD_* variables alike.
    return value.strip().lower() in ("1", "t", "true")


def urls(value: str) -> tuple[str, ...]:
    """A comma-separated URL list as a tuple, blanks dropped."""
    return tuple(u.strip() for u in value.split(",") if u.strip())


@dataclass(frozen=True)
class Sources:
    """Where etcd takes its settings from, before they are resolved."""

    flags: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # ETCD_* already mapped to flag names
    config: Mapping[str, str] | None = None  # the config file's settings, when it has one
    config_path: str = ""


def given_settings(sources: Sources) -> dict[str, str]:
    """The settings etcd runs with, defaults aside.

    With a config file (--config-file, else ETCD_CONFIG_FILE), etcd reads that file alone:
    every other flag and ETCD_* variable is ignored. Without one, a flag wins over its
    variable. etcd 3.4, 3.5 and 3.6 all do this (etcdmain/config.go's parse() calls
    configFromFile *or* configFromCmdLine, and only the latter applies ETCD_* to flags not
    set; the 3.4-3.6 configuration docs: "If a configuration file is provided, other command
    line flags and environment variables will be ignored").
    """
    if sources.config is not None:
        return dict(sources.config)
    return {**sources.env, **sources.flags}


def resolve(
    source: str,
    origin: str,
    sources: Sources,
    *,
    node_path: Callable[[str], str] = lambda p: p,
    image: str = "",
    warnings: Sequence[str] = (),
) -> EtcdSettings:
    """The settings as etcd resolves them; `node_path` turns a path etcd sees into the node's."""
    given = given_settings(sources)
    if sources.config is not None and sources.flags.keys() - {"config-file"}:
        ignored = ", ".join(sorted(sources.flags.keys() - {"config-file"}))
        warnings = [*warnings, f"etcd ignores these flags beside its config file: {ignored}"]
    merged = {**ETCD_DEFAULTS, **given}
    notes = list(warnings)
    for key in _WARN_DEFAULT:
        if key not in given:
            value = ETCD_DEFAULTS.get(key) or f"{merged['name']}.etcd (relative)"
            notes.append(f"{key} is not set: etcd's default {value} applies")
    if "initial-advertise-peer-urls" not in given and "listen-peer-urls" in given:
        notes.append(
            "the advertised peer URL is etcd's default, not what the member may advertise "
            "(it was added with another): confirm with the member list"
        )
    return _settings(source, origin, given, merged, node_path, image, tuple(notes))


def _settings(
    source: str,
    origin: str,
    given: Mapping[str, str],
    merged: Mapping[str, str],
    node_path: Callable[[str], str],
    image: str,
    warnings: tuple[str, ...],
) -> EtcdSettings:
    name = merged["name"]
    peer_urls = urls(merged["initial-advertise-peer-urls"])
    path = {key: node_path(merged[key]) if merged.get(key) else "" for key in PATH_SETTINGS}
    # etcd's defaults, computed as etcd computes them when nothing sets them: the data
    # directory "${name}.etcd" (relative to its working directory) and a one-member cluster.
    initial_cluster = merged.get("initial-cluster") or ",".join(f"{name}={u}" for u in peer_urls)
    return EtcdSettings(
        source=source,
        origin=origin,
        name=name,
        data_dir=path["data-dir"] or f"{name}.etcd",
        listen_client_urls=urls(merged["listen-client-urls"]),
        advertise_client_urls=urls(merged["advertise-client-urls"]),
        listen_peer_urls=urls(merged["listen-peer-urls"]),
        initial_advertise_peer_urls=peer_urls,
        initial_cluster=initial_cluster,
        initial_cluster_state=merged["initial-cluster-state"],
        initial_cluster_token=merged["initial-cluster-token"],
        cert_file=path["cert-file"],
        key_file=path["key-file"],
        trusted_ca_file=path["trusted-ca-file"],
        client_cert_auth=_bool(merged.get("client-cert-auth", "false")),
        peer_cert_file=path["peer-cert-file"],
        peer_key_file=path["peer-key-file"],
        peer_trusted_ca_file=path["peer-trusted-ca-file"],
        peer_client_cert_auth=_bool(merged.get("peer-client-cert-auth", "false")),
        image=image,
        flags=dict(given),
        warnings=warnings,
    )
