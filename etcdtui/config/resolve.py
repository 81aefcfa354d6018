"""Where a connection comes from: etcdctl-style flags, the ETCDCTL_* variables, or a config
file (the default one when nothing else is given)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from etcdtui.config.load import check_routes, load_connection
from etcdtui.config.model import DEFAULT_TIMEOUT, Connection
from etcdtui.config.values import make_tls, normalise_endpoint
from etcdtui.errors import UsageError


def default_config_path() -> Path:
    """The config file read when none is named: ``$XDG_CONFIG_HOME/etcdtui/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "etcdtui" / "config.toml"


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
    check_routes(Path(connection.source), connection.cluster, connection.endpoints,
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
