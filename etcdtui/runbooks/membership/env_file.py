"""The new member's etcd flags as an env file: read a survivor's, write the new node's.

The file is KEY='value' lines that both sh (``. FILE``) and systemd's EnvironmentFile read; the
new member's is a survivor's (the token, TLS flags, quota...) with the per-member variables
replaced and ETCD_INITIAL_CLUSTER naming the members etcd has plus the new one.
"""

from __future__ import annotations

import shlex

from etcdtui.config import NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models import Member
from etcdtui.models.urls import name_problem, url_problem

_TLS_VARS = (
    ("cert_file", "ETCD_CERT_FILE"),
    ("key_file", "ETCD_KEY_FILE"),
    ("ca_file", "ETCD_TRUSTED_CA_FILE"),
    ("peer_cert_file", "ETCD_PEER_CERT_FILE"),
    ("peer_key_file", "ETCD_PEER_KEY_FILE"),
    ("ca_file", "ETCD_PEER_TRUSTED_CA_FILE"),
)


def env_file_text(variables: dict[str, str]) -> str:
    """KEY='value' lines that both sh (``. FILE``) and systemd's EnvironmentFile read."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in variables.items())


def parse_env(text: str) -> dict[str, str]:
    """The variables of an env file as env_file_text (or a person) writes it."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.removeprefix("export ").partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            continue
        found[key.strip()] = words[0] if words else ""
    return found


def initial_cluster(members: tuple[Member, ...], name: str, peer_urls: tuple[str, ...]) -> str:
    """ETCD_INITIAL_CLUSTER: every started member, and the new one (not started yet).

    Names and URLs come from etcd, where any member chose them: one that could forge an entry
    (a ',' or '=' in a name, a URL that fails the strict check) stops the run instead."""
    pairs = [(m.name, url) for m in members if m.name and m.name != name for url in m.peer_urls]
    pairs += [(name, url) for url in peer_urls]
    for member_name, url in pairs:
        problem = name_problem(member_name) or url_problem(url)
        if problem:
            raise EtcdtuiError(
                f"member {member_name!r} with peer URL {url!r} cannot go into "
                f"--initial-cluster: {problem}",
                "remove that member, or rename it, first",
            )
    return ",".join(f"{n}={u}" for n, u in pairs)


def new_env(
    template: dict[str, str], node: NodeConfig, name: str, members: tuple[Member, ...]
) -> dict[str, str]:
    """The new member's ETCD_* flags: a survivor's (`template`) with the per-member ones
    replaced, and the node's own certificates rather than the survivor's."""
    env = dict(template)
    token = node.vars.get("initial_cluster_token") or env.get("ETCD_INITIAL_CLUSTER_TOKEN")
    client_url = node.client_urls[0] if node.client_urls else ""
    peer_url = ",".join(node.peer_urls)
    env |= {
        "ETCD_NAME": name,
        "ETCD_DATA_DIR": node.data_dir,
        "ETCD_LISTEN_CLIENT_URLS": node.local_client_url or client_url,
        "ETCD_ADVERTISE_CLIENT_URLS": ",".join(node.client_urls),
        "ETCD_LISTEN_PEER_URLS": peer_url,
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": peer_url,
        "ETCD_INITIAL_CLUSTER": initial_cluster(members, name, node.peer_urls),
        "ETCD_INITIAL_CLUSTER_STATE": "existing",
    }
    if token:
        env["ETCD_INITIAL_CLUSTER_TOKEN"] = token
    for var, key in _TLS_VARS:
        if node.vars.get(var) and key in env:
            env[key] = node.vars[var]
    return env
