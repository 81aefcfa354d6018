"""The config file's tables and the keys each allows, declared once: the cluster, node and
ssh tables by their dataclasses' fields (`etcdtui.config.model`), the top level and profiles
here and in `etcdtui.config.profiles`. The loader's unknown-key checks and defaults, the key
reference in `etcdtui.config`'s docstring, and the README check all read these.
"""

from __future__ import annotations

from etcdtui.config.keys import Key, Table, keys_of
from etcdtui.config.model import Connection, NodeConfig, SshTarget
from etcdtui.config.profiles import PROFILE_TABLE

TOP_TABLE = Table(
    "",
    "the file's own keys",
    (
        Key("default_cluster", "the cluster used when none is named (--cluster)"),
        Key("clusters", "the clusters: [clusters.NAME] tables"),
        Key("profiles", "node profiles' command templates: [profiles.NAME] tables"),
    ),
)
CLUSTER_TABLE = Table("clusters.NAME", "one cluster", keys_of(Connection))
NODE_TABLE = Table(
    "clusters.NAME.nodes.NODE",
    "a machine that runs (or will run) a member; NODE is the member's name unless `member` "
    "says otherwise",
    keys_of(NodeConfig),
)
SSH_TABLE = Table(
    "clusters.NAME.nodes.NODE.ssh",
    "how to reach the node over SSH; what is not set comes from ~/.ssh/config",
    keys_of(SshTarget),
)
CONFIG_TABLES = (TOP_TABLE, CLUSTER_TABLE, NODE_TABLE, SSH_TABLE, PROFILE_TABLE)


def key_reference() -> str:
    """Every table of the config file with its keys, what each is for and its default."""
    return "\n\n".join(table.reference() for table in CONFIG_TABLES)
