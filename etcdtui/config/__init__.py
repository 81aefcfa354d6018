"""Connection settings: the etcdctl flags and variables, or a TOML config file.

The file (see README) holds ``[clusters.NAME]`` tables, each with ``[clusters.NAME.nodes.NODE]``
tables and their ``ssh`` tables, and ``[profiles.NAME]`` tables that override a node profile's
command templates. Every key is declared once (`etcdtui.config.schema`); the reference below is
made from those declarations.

- `model`: the dataclasses a cluster becomes (`Connection`, `NodeConfig`, `SshTarget`,
  `TlsFiles`), whose fields declare the cluster, node and ssh keys.
- `profiles`: the built-in node profiles and the ``[profiles.NAME]`` keys.
- `keys` and `schema`: how a key is declared, and the file's tables.
- `values`: endpoints and TLS files, checked.
- `load`: reading a cluster from the file; `resolve`: flags, ETCDCTL_* or the file.
- `identity`: what keys a cluster's state on this machine.
"""

from __future__ import annotations

from etcdtui.config.keys import Key, Table
from etcdtui.config.load import cluster_names, load_connection
from etcdtui.config.model import (
    DEFAULT_TIMEOUT,
    HOST_KEY_POLICIES,
    Connection,
    NodeConfig,
    SshTarget,
    TlsFiles,
)
from etcdtui.config.profiles import (
    BUILTIN_PROFILES,
    PROFILE_ACTIONS,
    PROFILE_DEFAULT_VARS,
    READYZ,
    template_fields,
)
from etcdtui.config.resolve import default_config_path, from_flags, resolve
from etcdtui.config.schema import CONFIG_TABLES, key_reference
from etcdtui.config.values import make_tls, normalise_endpoint
from etcdtui.toml_io import dump_toml as dump_toml  # where callers have found it
from etcdtui.toml_io import toml_value as toml_value

__doc__ = f"{__doc__}\nThe keys of each table:\n\n{key_reference()}\n"

__all__ = [
    "BUILTIN_PROFILES",
    "CONFIG_TABLES",
    "DEFAULT_TIMEOUT",
    "HOST_KEY_POLICIES",
    "PROFILE_ACTIONS",
    "PROFILE_DEFAULT_VARS",
    "READYZ",
    "Connection",
    "Key",
    "NodeConfig",
    "SshTarget",
    "Table",
    "TlsFiles",
    "cluster_names",
    "default_config_path",
    "dump_toml",
    "from_flags",
    "key_reference",
    "load_connection",
    "make_tls",
    "normalise_endpoint",
    "resolve",
    "template_fields",
    "toml_value",
]
