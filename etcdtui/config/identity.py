"""A cluster's identity on this bastion: what keys its lock file, its restore journals and its
default snapshot folder.

A cluster is known by its name *and* the config file that defines it: two configs may both
call their cluster `lab`, and their snapshots, journals and locks must never mix. The key is
the name made safe for a file name, then a digest of (config file, name):
`lab-3f2a9c0d1b7e`. A cluster that comes from no file (built in code) has only its name.
"""

from __future__ import annotations

import hashlib
import os
import re

from etcdtui.config import Connection

# Connection.source for a cluster given by --endpoints flags: no file to resolve.
FLAGS_SOURCE = "flags"


def cluster_key(cluster: str, source: str) -> str:
    """`<name>-<12 hex digits>`: the cluster's name (made safe for a file name, at most 64
    characters) and a digest of the real path of the config file and the name; the name
    alone (`legacy_folder_name`) when `source` is empty."""
    if not source:
        return legacy_folder_name(cluster)
    where = source if source == FLAGS_SOURCE else os.path.realpath(source)
    digest = hashlib.sha256(f"{where}\0{cluster}".encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", cluster)[:64]
    return f"{safe}-{digest}"


def connection_key(connection: Connection) -> str:
    """`cluster_key` of the cluster `connection` talks to."""
    return cluster_key(connection.cluster, connection.source)


def legacy_folder_name(cluster: str) -> str:
    """The folder name state used before it was keyed by identity (the name alone): still
    read, so that a restore journal written then can be continued."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", cluster).lstrip(".") or "_"
