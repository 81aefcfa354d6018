"""Connection settings: flags, ETCDCTL_* variables, and the TOML config file."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

import etcdtui.config
from etcdtui.config import (
    CONFIG_TABLES,
    dump_toml,
    from_flags,
    key_reference,
    load_connection,
    normalise_endpoint,
    resolve,
)
from etcdtui.config.profiles import PROFILE_TABLE
from etcdtui.config.schema import CLUSTER_TABLE, NODE_TABLE, SSH_TABLE, TOP_TABLE
from etcdtui.errors import ConfigError, UsageError

GOOD = """
[clusters.prod]
endpoints = ["https://10.0.0.1:2379", "10.0.0.2:2379"]
cacert = "ca.crt"
cert = "client.crt"
key = "client.key"
timeout = 3

[clusters.prod.nodes.cp1]
profile = "static-pod"
data_dir = "/var/lib/etcd"
peer_urls = ["https://10.0.0.1:2380"]
client_urls = ["https://10.0.0.1:2379"]
sudo = true

[clusters.prod.nodes.cp1.ssh]
host = "cp1.example"
port = 2222
user = "ops"
identity_file = "~/.ssh/id_ed25519"
proxy_jump = "bastion"
host_key_policy = "accept-new"

[clusters.staging]
endpoints = ["http://127.0.0.1:2379"]
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / name).write_text("x")
    (tmp_path / "config.toml").write_text(GOOD)
    return tmp_path


def test_config_cluster_loads_with_paths_relative_to_the_file(config_dir: Path) -> None:
    conn = load_connection(config_dir / "config.toml", "prod")
    assert conn.endpoints == ("https://10.0.0.1:2379", "https://10.0.0.2:2379")
    assert conn.tls.cacert == str(config_dir / "ca.crt")
    assert conn.timeout == 3.0
    node = conn.node("cp1")
    assert node.ssh.port == 2222 and node.ssh.proxy_jump == "bastion"
    assert node.ssh.host_key_policy == "accept-new"
    assert node.sudo and node.member_name == "cp1"
    assert conn.profile_command(node, "stop") == (
        "mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.etcdtui-stopped"
    )


def test_several_clusters_need_a_cluster_name(config_dir: Path) -> None:
    with pytest.raises(UsageError, match="several clusters"):
        load_connection(config_dir / "config.toml", None)
    with pytest.raises(UsageError, match="no cluster named 'nope'"):
        load_connection(config_dir / "config.toml", "nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[clusters.a]\nendpoints = 3\n", "clusters.a.endpoints: expected a list of strings"),
        ("[clusters.a]\n", "clusters.a.endpoints: missing"),
        (
            "[clusters.a]\nendpoints=['x:1']\ntimeout='fast'\n",
            "clusters.a.timeout: expected a number",
        ),
        ("[clusters.a]\nendpoints=['x:1']\nbogus=1\n", "clusters.a.bogus: unknown key"),
        ("[clusters.a]\nendpoints=['ftp://x:1']\n", "scheme must be http or https"),
        ("[clusters.a\n", "not valid TOML"),
        (
            "[clusters.a]\nendpoints=['x:1']\n[clusters.a.nodes.n1.ssh]\nhost='h'\nport=70000\n",
            "clusters.a.nodes.n1.ssh.port: expected a whole number from 1 to 65535",
        ),
        (
            "[clusters.a]\nendpoints=['x:1']\n[clusters.a.nodes.n1]\ndata_dir='cp1.etcd'\n"
            "[clusters.a.nodes.n1.ssh]\nhost='h'\n",
            "clusters.a.nodes.n1.data_dir: expected an absolute path on the node",
        ),
        (
            "[clusters.a]\nendpoints=['x:1']\n[clusters.a.nodes.n1]\nprofile='docker'\n"
            "[clusters.a.nodes.n1.ssh]\nhost='h'\n",
            "unknown profile 'docker'",
        ),
        (
            "[clusters.a]\nendpoints=['x:1']\n[clusters.a.nodes.n1.ssh]\nhost='h'\n"
            "host_key_policy='yolo'\n",
            "expected 'strict' or 'accept-new'",
        ),
    ],
)
def test_malformed_config_names_file_key_and_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_connection(path, None)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_connection(tmp_path / "absent.toml", None)


@pytest.mark.parametrize(
    ("raw", "tls", "expected"),
    [
        ("127.0.0.1:2379", False, "http://127.0.0.1:2379"),
        ("127.0.0.1:2379", True, "https://127.0.0.1:2379"),
        ("https://etcd-1:2379/", False, "https://etcd-1:2379"),
        ("http://[::1]:2379", False, "http://[::1]:2379"),
    ],
)
def test_endpoints_are_normalised_like_etcdctl(raw: str, tls: bool, expected: str) -> None:
    assert normalise_endpoint(raw, tls) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("http://h", "no port"), ("http://h:99999", "port"), ("http://:2379", "no host"),
     ("http://h:1/v3", "nothing more")],
)  # fmt: skip
def test_bad_endpoints_are_refused(raw: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        normalise_endpoint(raw, False)


def test_etcdctl_variables_are_defaults_and_flags_win(tmp_path: Path) -> None:
    for name in ("ca", "crt", "key"):
        (tmp_path / name).write_text("x")
    env = {
        "ETCDCTL_ENDPOINTS": "10.1.1.1:2379,10.1.1.2:2379",
        "ETCDCTL_CACERT": str(tmp_path / "ca"),
        "ETCDCTL_CERT": str(tmp_path / "crt"),
        "ETCDCTL_KEY": str(tmp_path / "key"),
    }
    conn = resolve(None, None, None, None, None, None, environ=env)
    assert conn.endpoints == ("https://10.1.1.1:2379", "https://10.1.1.2:2379")
    assert conn.tls.cert == str(tmp_path / "crt")
    conn = resolve(None, None, "http://10.9.9.9:2379", None, None, None, environ=env)
    assert conn.endpoints == ("http://10.9.9.9:2379",)


def test_config_and_endpoints_together_are_refused(config_dir: Path) -> None:
    with pytest.raises(UsageError, match="not both"):
        resolve(str(config_dir / "config.toml"), "prod", "x:1", None, None, None, environ={})


def test_cert_without_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "crt").write_text("x")
    with pytest.raises(UsageError, match="--cert and --key go together"):
        from_flags("x:1", cert=str(tmp_path / "crt"))


def test_written_config_reads_back(tmp_path: Path) -> None:
    data = {
        "clusters": {
            "lab": {
                "endpoints": ["http://127.0.0.1:1"],
                "timeout": 2.5,
                "nodes": {
                    "node1": {
                        "profile": "lab",
                        "vars": {"service": '/path with "quotes"/svc'},
                        "ssh": {"host": "127.0.0.1", "port": 2201},
                    }
                },
            }
        }
    }
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(data))
    conn = load_connection(path, "lab")
    node = conn.node("node1")
    assert node.vars["service"] == '/path with "quotes"/svc'
    # Filled in as one shell word: the shell gives the path back whole.
    assert shlex.split(conn.profile_command(node, "start")) == ['/path with "quotes"/svc', "start"]
    assert conn.timeout == 2.5


HOSTILE_VARS = ["x; touch /tmp/etcdtui-pwned", "$(id)", "`id`", "a'b", "a\nb", "{name}", "-rf /"]


@pytest.mark.parametrize("value", HOSTILE_VARS)
def test_profile_values_reach_the_shell_as_one_word(tmp_path: Path, value: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(dump_toml({
        "clusters": {"lab": {"endpoints": ["http://127.0.0.1:2379"], "nodes": {"n1": {
            "profile": "lab", "vars": {"service": value}, "ssh": {"host": "127.0.0.1"}}}}},
        "profiles": {"lab": {"is_active": "printf %s {service}"}},
    }))  # fmt: skip
    conn = load_connection(path, "lab")
    node = conn.node("n1")
    assert shlex.split(conn.profile_command(node, "stop")) == [value, "stop"]
    command = conn.profile_command(node, "is_active")
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=5)
    assert done.stdout == value


@pytest.mark.parametrize(
    ("template", "reason"),
    [("{service} start }", "Single '}'"), ("{service start", "expected '}'"),
     ("{} start", "not a plain"), ("{service.__class__} x", "not a plain"),
     ("{service!r} x", "not a plain"), ("{service:>9} x", "not a plain")],
)  # fmt: skip
def test_profile_template_with_stray_braces_is_a_config_error_naming_the_key(
    tmp_path: Path, template: str, reason: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(dump_toml({
        "clusters": {"lab": {"endpoints": ["http://127.0.0.1:2379"]}},
        "profiles": {"lab": {"start": template}},
    }))  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_connection(path, "lab")
    assert "profiles.lab.start" in caught.value.message
    assert reason in caught.value.message
    assert "\n" not in caught.value.message


KUBEADM = """
[clusters.prod]
via = "ssh"
endpoints = ["https://10.0.0.11:2379"]
certs_on_node = "cp1"
cacert = "/etc/kubernetes/pki/etcd/ca.crt"
cert = "/etc/kubernetes/pki/etcd/healthcheck-client.crt"
key = "/etc/kubernetes/pki/etcd/healthcheck-client.key"

[clusters.prod.nodes.cp1]
client_urls = ["https://10.0.0.11:2379"]
local_client_url = "https://127.0.0.1:2379"
sudo = true
ssh = { host = "cp1.example" }
"""


def test_ssh_route_and_node_side_certificates_are_read(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(KUBEADM)
    connection = load_connection(path, None)
    assert connection.via_ssh and connection.certs_on_node == "cp1"
    # Paths on the node: kept as written, not checked on the bastion.
    assert connection.tls.cert == "/etc/kubernetes/pki/etcd/healthcheck-client.crt"
    node = connection.node_for_url("https://10.0.0.11:2379")
    assert node is not None and node.client_url_on_node == "https://127.0.0.1:2379"
    assert connection.node_tls(node) == connection.tls


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('via = "ssh"', 'via = "tunnel"'), "expected 'direct' or 'ssh'"),
        (('"https://127.0.0.1:2379"', '"https://127.0.0.1"'), "local_client_url: bad endpoint"),
        (("sudo = true", 'tunnel_via = "cp9"'), "tunnel_via: no node named 'cp9'"),
        (('key = "/etc/kubernetes/pki/etcd/healthcheck-client.key"', ""), "cert and key go"),
    ],
)
def test_ssh_route_mistakes_are_one_line_config_errors(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(KUBEADM.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_connection(path, None)
    assert expected in caught.value.message and "\n" not in caught.value.message


# --- the key declarations -------------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(
    "key", [k.name for table in CONFIG_TABLES for k in table.keys], ids=lambda name: name
)
def test_readme_documents_every_declared_config_key(key: str) -> None:
    # As `key` or `key = ...` in prose, as key = ... in an example, or as part of a table
    # header ([clusters.NAME]).
    shown = rf"`{key}(`| =)|^[#\s]*{key} =|[{{,]\s*{key} =|[\[.]{key}[.\]]"
    assert re.search(shown, README.read_text(), re.MULTILINE), f"README never shows {key!r}"


def test_unknown_key_error_lists_exactly_the_declared_keys(tmp_path: Path) -> None:
    tables = [
        (NODE_TABLE, "[clusters.a]\nendpoints=['x:1']\n[clusters.a.nodes.n1]\nbogus=1\n"),
        (SSH_TABLE, "[clusters.a]\nendpoints=['x:1']\n[clusters.a.nodes.n1.ssh]\nbogus=1\n"),
        (CLUSTER_TABLE, "[clusters.a]\nendpoints=['x:1']\nbogus=1\n"),
        (TOP_TABLE, "bogus=1\n[clusters.a]\nendpoints=['x:1']\n"),
        (PROFILE_TABLE, "[clusters.a]\nendpoints=['x:1']\n[profiles.p]\nbogus='x'\n"),
    ]
    path = tmp_path / "c.toml"
    for table, text in tables:
        path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_connection(path, None)
        expected = ", ".join(sorted(table.names))
        assert caught.value.message.endswith(f"bogus: unknown key (expected one of: {expected})")


def test_declared_defaults_are_what_a_bare_config_loads_with(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[clusters.a]\nendpoints=['x:1']\n[clusters.a.nodes.n1.ssh]\nhost='h'\n")
    connection = load_connection(path, None)
    node = connection.node("n1")
    for table, loaded in ((CLUSTER_TABLE, connection), (NODE_TABLE, node), (SSH_TABLE, node.ssh)):
        for key in table.keys:
            if not key.required and hasattr(loaded, key.name) and key.name != "nodes":
                assert getattr(loaded, key.name) == key.default, key.name


def test_key_reference_gives_every_key_its_line() -> None:
    reference = key_reference()
    assert etcdtui.config.__doc__ is not None and reference in etcdtui.config.__doc__
    for table in CONFIG_TABLES:
        for key in table.keys:
            assert re.search(rf"^  {key.name} +\S", reference, re.MULTILINE), key.name
    assert "  timeout        seconds per request (default: 2.0)" in reference
    assert "  host " in reference and "(required)" in reference
