"""Reading a node's etcd and kube-apiserver settings: kubeadm static pods and systemd units.

The fixtures are what kubeadm and Debian write, byte for byte in shape, so a rule that passes
here reads a real node the same way.
"""

from __future__ import annotations

import pytest

from etcdtui.errors import EtcdtuiError
from etcdtui.services.kube.pods import parse_apiserver_manifest, parse_etcd_manifest
from etcdtui.services.kube.settings import KubeConfigError, parse_flags
from etcdtui.services.kube.systemd import (
    env_file_values,
    parse_systemd_etcd,
    unit_config_file,
    unit_environment_files,
)

ETCD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://10.0.0.11:2379
  creationTimestamp: null
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://10.0.0.11:2379
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --client-cert-auth=true
    - --data-dir={data_dir}
    - --experimental-initial-corrupt-check=true
    - --experimental-watch-progress-notify-interval=5s
    - --initial-advertise-peer-urls=https://10.0.0.11:2380
    - --initial-cluster=cp1=https://10.0.0.11:2380
    - --key-file=/etc/kubernetes/pki/etcd/server.key
    - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.11:2379
    - --listen-metrics-urls=http://127.0.0.1:2381
    - --listen-peer-urls=https://10.0.0.11:2380
    - --name=cp1
    - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
    - --peer-client-cert-auth=true
    - --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
    - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    - --snapshot-count=10000
    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    image: registry.k8s.io/etcd:3.5.1-0
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 127.0.0.1
        path: /health?exclude=NOSPACE&serializable=true
        port: 2381
        scheme: HTTP
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    name: etcd
    resources:
      requests:
        cpu: 100m
        memory: 100Mi
    startupProbe:
      failureThreshold: 24
      httpGet:
        host: 127.0.0.1
        path: /health?serializable=false
        port: 2381
        scheme: HTTP
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    volumeMounts:
    - mountPath: {mount_path}
      name: etcd-data
    - mountPath: /etc/kubernetes/pki/etcd
      name: etcd-certs
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki/etcd
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: {host_path}
      type: DirectoryOrCreate
    name: etcd-data
status: {{}}
"""

APISERVER_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 10.0.0.11:6443
  creationTimestamp: null
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.0.11
    - --allow-privileged=true
    - --authorization-mode=Node,RBAC
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --enable-admission-plugins=NodeRestriction
    - --enable-bootstrap-token-auth=true
    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt
    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt
    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key
    - --etcd-servers=https://127.0.0.1:2379
    - --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt
    - --kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key
    - --secure-port=6443
    - --service-account-issuer=https://kubernetes.default.svc.cluster.local
    - --service-cluster-ip-range=10.96.0.0/12
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    image: registry.k8s.io/kube-apiserver:v1.23.0
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 10.0.0.11
        path: /livez
        port: 6443
        scheme: HTTPS
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    name: kube-apiserver
    resources:
      requests:
        cpu: 250m
    volumeMounts:
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
  hostNetwork: true
  priorityClassName: system-node-critical
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
status: {}
"""

ORIGIN = "/etc/kubernetes/manifests/etcd.yaml"


def etcd_yaml(
    data_dir: str = "/var/lib/etcd",
    mount_path: str = "/var/lib/etcd",
    host_path: str = "/var/lib/etcd",
) -> str:
    return ETCD_YAML.format(data_dir=data_dir, mount_path=mount_path, host_path=host_path)


def test_kubeadm_etcd_manifest_reads_every_setting() -> None:
    s = parse_etcd_manifest(etcd_yaml(), ORIGIN)
    assert s.source == "static-pod"
    assert s.origin == ORIGIN
    assert s.name == "cp1"
    assert s.data_dir == "/var/lib/etcd"
    assert s.listen_client_urls == ("https://127.0.0.1:2379", "https://10.0.0.11:2379")
    assert s.advertise_client_urls == ("https://10.0.0.11:2379",)
    assert s.listen_peer_urls == ("https://10.0.0.11:2380",)
    assert s.initial_advertise_peer_urls == ("https://10.0.0.11:2380",)
    assert s.initial_cluster == "cp1=https://10.0.0.11:2380"
    assert s.cert_file == "/etc/kubernetes/pki/etcd/server.crt"
    assert s.key_file == "/etc/kubernetes/pki/etcd/server.key"
    assert s.trusted_ca_file == "/etc/kubernetes/pki/etcd/ca.crt"
    assert s.client_cert_auth and s.peer_client_cert_auth
    assert s.peer_cert_file == "/etc/kubernetes/pki/etcd/peer.crt"
    assert s.peer_trusted_ca_file == "/etc/kubernetes/pki/etcd/ca.crt"
    assert s.image == "registry.k8s.io/etcd:3.5.1-0"
    assert s.flags["snapshot-count"] == "10000"
    assert s.flags["listen-metrics-urls"] == "http://127.0.0.1:2381"
    assert s.client_tls and s.peer_tls
    assert s.local_client_url == "https://127.0.0.1:2379"


def test_kubeadm_etcd_manifest_without_flags_kubeadm_omits_gets_etcd_defaults() -> None:
    s = parse_etcd_manifest(etcd_yaml(), ORIGIN)
    # kubeadm does not set these; etcd's own defaults apply.
    assert s.initial_cluster_state == "new"
    assert s.initial_cluster_token == "etcd-cluster"


def test_data_dir_is_translated_to_the_host_path_of_its_volume() -> None:
    s = parse_etcd_manifest(etcd_yaml(host_path="/data/etcd"), ORIGIN)
    assert s.data_dir == "/data/etcd"


def test_data_dir_below_a_mount_keeps_the_rest_of_its_path() -> None:
    text = etcd_yaml(data_dir="/var/lib/etcd/member-data", mount_path="/var/lib/etcd/")
    s = parse_etcd_manifest(text.replace("path: /var/lib/etcd\n", "path: /data/etcd\n"), ORIGIN)
    assert s.data_dir == "/data/etcd/member-data"
    assert s.flags["data-dir"] == "/var/lib/etcd/member-data"


def test_data_dir_outside_every_mount_stays_as_etcd_sees_it() -> None:
    s = parse_etcd_manifest(etcd_yaml(data_dir="/srv/etcd", host_path="/data/etcd"), ORIGIN)
    assert s.data_dir == "/srv/etcd"


def test_flag_forms_equals_separate_word_and_bare_boolean() -> None:
    flags = parse_flags(
        [
            "--name=cp1",
            "--data-dir",
            "/var/lib/etcd",
            "--client-cert-auth",
            "--debug",
            "-key-file=k",
        ]
    )
    assert flags == {
        "name": "cp1",
        "data-dir": "/var/lib/etcd",
        "client-cert-auth": "true",
        "debug": "true",
        "key-file": "k",
    }


def test_bare_boolean_does_not_swallow_a_following_word() -> None:
    assert parse_flags(["--client-cert-auth", "stray", "--name", "a"]) == {
        "client-cert-auth": "true",
        "name": "a",
    }


def test_manifest_with_split_flags_in_args_and_a_full_binary_path() -> None:
    text = """\
apiVersion: v1
kind: Pod
metadata: {name: etcd, namespace: kube-system}
spec:
  containers:
  - name: db
    command: ["/usr/local/bin/etcd"]
    args: ["--name", "cp2", "--client-cert-auth", "--advertise-client-urls", "https://10.0.0.12:2379"]
"""
    s = parse_etcd_manifest(text, ORIGIN)
    assert s.name == "cp2"
    assert s.client_cert_auth is True
    assert s.advertise_client_urls == ("https://10.0.0.12:2379",)
    # Nothing set the data dir or the listen URLs: etcd's defaults.
    assert s.data_dir == "cp2.etcd"
    assert s.listen_client_urls == ("http://localhost:2379",)
    assert s.local_client_url == "http://localhost:2379"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("kind: Pod\nspec: [unclosed\n", "not valid YAML"),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: etcd}\n", "not a Kubernetes Pod"),
        ("just a line of text\n", "not a Kubernetes Pod"),
        (
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n",
            "no etcd container",
        ),
    ],
)
def test_broken_manifest_raises_kube_config_error_naming_the_file(text: str, problem: str) -> None:
    with pytest.raises(KubeConfigError) as caught:
        parse_etcd_manifest(text, ORIGIN)
    assert ORIGIN in str(caught.value)
    assert problem in str(caught.value)
    assert isinstance(caught.value, EtcdtuiError)


def test_kubeadm_apiserver_manifest_gives_etcd_servers_and_client_certificate() -> None:
    origin = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    a = parse_apiserver_manifest(APISERVER_YAML, origin)
    assert a.origin == origin
    assert a.etcd_servers == ("https://127.0.0.1:2379",)
    assert a.etcd_cafile == "/etc/kubernetes/pki/etcd/ca.crt"
    assert a.etcd_certfile == "/etc/kubernetes/pki/apiserver-etcd-client.crt"
    assert a.etcd_keyfile == "/etc/kubernetes/pki/apiserver-etcd-client.key"
    assert a.image == "registry.k8s.io/kube-apiserver:v1.23.0"


def test_apiserver_manifest_with_several_servers_keeps_their_order() -> None:
    text = APISERVER_YAML.replace(
        "--etcd-servers=https://127.0.0.1:2379",
        "--etcd-servers=https://10.0.0.11:2379,https://10.0.0.12:2379,https://10.0.0.13:2379",
    )
    a = parse_apiserver_manifest(text, "kube-apiserver.yaml")
    assert a.etcd_servers == (
        "https://10.0.0.11:2379",
        "https://10.0.0.12:2379",
        "https://10.0.0.13:2379",
    )


def test_etcd_manifest_is_not_an_apiserver_manifest() -> None:
    with pytest.raises(KubeConfigError, match=r"^etcd\.yaml: no kube-apiserver container"):
        parse_apiserver_manifest(etcd_yaml(), "etcd.yaml")


# --- systemd ------------------------------------------------------------------------------------

UNIT = """\
# /lib/systemd/system/etcd.service
[Unit]
Description=etcd key-value store
Documentation=https://github.com/etcd-io/etcd

[Service]
Type=notify
Environment="ETCD_UNSUPPORTED_ARCH=" ETCD_NAME=from-unit
EnvironmentFile=-/etc/default/%p
ExecStart=/usr/bin/etcd $DAEMON_ARGS
Restart=always

[Install]
WantedBy=multi-user.target

# /etc/systemd/system/etcd.service.d/override.conf
[Service]
EnvironmentFile=/etc/etcd/etcd.env
ExecStart=
ExecStart=/usr/local/bin/etcd \\
  --name=node2 \\
  # a comment between continued lines is skipped
  --listen-client-urls https://10.0.0.12:2379,https://127.0.0.1:2379 \\
  --advertise-client-urls=https://10.0.0.12:2379 \\
  --client-cert-auth
"""

ENV_FILE = """\
# /etc/etcd/etcd.env
ETCD_NAME=from-env-file
ETCD_DATA_DIR="/srv/etcd data"
export ETCD_CERT_FILE='/etc/etcd/pki/server.crt'
ETCD_KEY_FILE=/etc/etcd/pki/server.key
ETCD_TRUSTED_CA_FILE=/etc/etcd/pki/ca.crt
ETCD_INITIAL_CLUSTER_STATE=existing

ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379
"""


def test_unit_environment_files_strips_the_optional_dash_and_resolves_specifiers() -> None:
    assert unit_environment_files(UNIT) == ["/etc/default/etcd", "/etc/etcd/etcd.env"]


def test_env_file_values_undo_shell_quoting_and_skip_comments() -> None:
    values = env_file_values(ENV_FILE)
    assert values["ETCD_DATA_DIR"] == "/srv/etcd data"
    assert values["ETCD_CERT_FILE"] == "/etc/etcd/pki/server.crt"
    assert values["ETCD_NAME"] == "from-env-file"
    assert "# /etc/etcd/etcd.env" not in values


def test_env_file_hash_is_a_comment_only_at_the_start_of_a_word() -> None:
    values = env_file_values('A=tok#1\nB=x # note\nC="a # b"\nD=one \\\n  two\n')
    assert values == {"A": "tok#1", "B": "x", "C": "a # b", "D": "one two"}


def test_systemd_flags_beat_environment_and_env_files_beat_unit_environment() -> None:
    s = parse_systemd_etcd("etcd.service", unit=UNIT, environment=env_file_values(ENV_FILE))
    assert s.source == "systemd"
    # The drop-in's ExecStart replaced the first one; its flags win over ETCD_* variables.
    assert s.name == "node2"
    assert s.listen_client_urls == ("https://10.0.0.12:2379", "https://127.0.0.1:2379")
    assert s.advertise_client_urls == ("https://10.0.0.12:2379",)
    assert s.client_cert_auth is True
    # What only the environment file says still counts.
    assert s.data_dir == "/srv/etcd data"
    assert s.cert_file == "/etc/etcd/pki/server.crt"
    assert s.initial_cluster_state == "existing"
    assert s.local_client_url == "https://127.0.0.1:2379"


def test_environment_alone_sets_what_no_flag_does() -> None:
    unit = (
        "[Service]\nEnvironment=ETCD_NAME=solo ETCD_CLIENT_CERT_AUTH=1\nExecStart=/usr/bin/etcd\n"
    )
    s = parse_systemd_etcd("etcd.service", unit=unit)
    assert s.name == "solo"
    assert s.client_cert_auth is True
    assert s.data_dir == "solo.etcd"
    assert s.initial_cluster == "solo=http://localhost:2380"


def test_daemon_args_variable_expands_into_flags() -> None:
    unit = "[Service]\nEnvironmentFile=-/etc/default/etcd\nExecStart=/usr/bin/etcd $DAEMON_ARGS\n"
    env = env_file_values('DAEMON_ARGS="--name=n3 --data-dir /var/lib/etcd/n3"\n')
    s = parse_systemd_etcd("etcd.service", unit=unit, environment=env)
    assert (s.name, s.data_dir) == ("n3", "/var/lib/etcd/n3")


CONFIG_YML = """\
name: 'infra1'
data-dir: /var/lib/etcd/infra1
listen-client-urls: https://10.0.0.21:2379,https://127.0.0.1:2379
advertise-client-urls: https://10.0.0.21:2379
listen-peer-urls: https://10.0.0.21:2380
initial-advertise-peer-urls: https://10.0.0.21:2380
initial-cluster: infra1=https://10.0.0.21:2380,infra2=https://10.0.0.22:2380
initial-cluster-state: 'new'
initial-cluster-token: 'etcd-cluster-1'
client-transport-security:
  cert-file: /etc/etcd/server.crt
  key-file: /etc/etcd/server.key
  client-cert-auth: true
  trusted-ca-file: /etc/etcd/ca.crt
peer-transport-security:
  cert-file: /etc/etcd/peer.crt
  key-file: /etc/etcd/peer.key
  client-cert-auth: true
  trusted-ca-file: /etc/etcd/ca.crt
"""


def test_config_file_is_all_etcd_reads_when_the_unit_names_one() -> None:
    unit = (
        "[Service]\nEnvironment=ETCD_NAME=ignored\n"
        "ExecStart=/usr/bin/etcd --config-file=/etc/etcd/etcd.conf.yml --name=ignored-too\n"
    )
    assert unit_config_file(unit, {}) == "/etc/etcd/etcd.conf.yml"
    s = parse_systemd_etcd("etcd.service", unit=unit, config_yaml=CONFIG_YML)
    assert s.name == "infra1"
    assert s.data_dir == "/var/lib/etcd/infra1"
    assert s.initial_cluster_token == "etcd-cluster-1"
    assert s.cert_file == "/etc/etcd/server.crt"
    assert s.client_cert_auth is True
    assert s.peer_cert_file == "/etc/etcd/peer.crt"
    assert s.peer_trusted_ca_file == "/etc/etcd/ca.crt"
    assert s.peer_client_cert_auth is True
    assert s.origin == "etcd.service"


def test_config_file_named_by_environment_variable() -> None:
    unit = "[Service]\nEnvironmentFile=/etc/etcd/etcd.env\nExecStart=/usr/bin/etcd\n"
    assert unit_config_file(unit, {"ETCD_CONFIG_FILE": "/etc/etcd/c.yml"}) == "/etc/etcd/c.yml"
    assert unit_config_file(unit, {}) == ""


def test_config_file_named_but_not_given_is_an_error_not_a_guess() -> None:
    unit = "[Service]\nExecStart=/usr/bin/etcd --config-file /etc/etcd/etcd.conf.yml\n"
    with pytest.raises(KubeConfigError, match=r"^etcd\.service: .*/etc/etcd/etcd\.conf\.yml"):
        parse_systemd_etcd("etcd.service", unit=unit)


def test_broken_config_file_names_the_config_file() -> None:
    unit = "[Service]\nExecStart=/usr/bin/etcd --config-file=/etc/etcd/etcd.conf.yml\n"
    with pytest.raises(KubeConfigError, match=r"^/etc/etcd/etcd\.conf\.yml: not valid YAML"):
        parse_systemd_etcd("etcd.service", unit=unit, config_yaml="name: [oops\n")


def test_unit_without_exec_start_is_an_error() -> None:
    with pytest.raises(KubeConfigError, match="no ExecStart"):
        parse_systemd_etcd("etcd.service", unit="[Service]\nType=notify\n")


DEBIAN_UNIT = """\
# /lib/systemd/system/etcd.service
[Unit]
Description=etcd - highly-available key value store
Documentation=https://etcd.io/docs
After=network.target

[Service]
Environment=DAEMON_ARGS=
Environment=ETCD_NAME=%H
Environment=ETCD_DATA_DIR=/var/lib/etcd/default
EnvironmentFile=-/etc/default/%p
Type=notify
User=etcd
#ExecStart=/bin/sh -c "GOMAXPROCS=$(nproc) /usr/bin/etcd $DAEMON_ARGS"
ExecStart=/usr/bin/etcd $DAEMON_ARGS
Restart=on-abnormal

[Install]
WantedBy=multi-user.target
"""

DEBIAN_DEFAULT = """\
## etcd(1) daemon options
## See "/usr/share/doc/etcd-server/op-guide/configuration.md.gz"

### Member flags

##### --name
## Human-readable name for this member.
## default: host name returned by `hostname`.
## This value is referenced as this node's own entries listed in the `--initial-cluster`
## flag (Ex: `default=http://localhost:2380` or `default=http://localhost:2380,default=http://localhost:7001`).
# ETCD_NAME="hostname"

##### --data-dir
## Path to the data directory.
# ETCD_DATA_DIR="/var/lib/etcd/default"

##### --listen-client-urls
## List of URLs to listen on for client traffic.
# ETCD_LISTEN_CLIENT_URLS="http://localhost:2379"

#DAEMON_ARGS=""
"""


def test_debian_default_file_all_commented_out_still_parses_to_etcd_defaults() -> None:
    env = env_file_values(DEBIAN_DEFAULT)
    assert env == {}
    s = parse_systemd_etcd("etcd.service", unit=DEBIAN_UNIT, environment=env, hostname="deb1")
    assert s.name == "deb1"
    assert s.data_dir == "/var/lib/etcd/default"
    assert s.listen_client_urls == ("http://localhost:2379",)
    assert s.advertise_client_urls == ("http://localhost:2379",)
    assert s.initial_cluster == "deb1=http://localhost:2380"
    assert not s.client_tls
    assert unit_environment_files(DEBIAN_UNIT) == ["/etc/default/etcd"]


def test_no_unit_at_all_gives_etcd_defaults() -> None:
    s = parse_systemd_etcd("/etc/default/etcd", environment={})
    assert s.name == "default"
    assert s.data_dir == "default.etcd"
    assert s.listen_peer_urls == ("http://localhost:2380",)
    assert s.initial_cluster == "default=http://localhost:2380"


def test_shell_script_finds_the_word_that_runs_etcd_not_a_path_naming_it() -> None:
    from etcdtui.services.kube.commandline import invocation

    script = "mkdir -p /var/lib/etcd && exec /usr/local/bin/etcd --name a 2>&1 | tee /var/log/etcd"
    assert invocation("etcd", ["/bin/sh", "-c", script]) == ["--name", "a"]
    assert invocation("etcd", ["sh", "-ec", "X=1 etcd --name=$N"], {"N": "b"}) == ["--name=b"]
    assert invocation("etcd", ["/bin/sh", "-c", "echo etcd"]) is None


def test_config_file_wins_over_flags_and_environment() -> None:
    from etcdtui.services.kube.settings import Sources, resolve

    sources = Sources(
        flags={"name": "flag", "config-file": "/c"}, env={"name": "env"}, config={"name": "file"}
    )
    settings = resolve("systemd", "x", sources)
    assert settings.name == "file"
    assert "etcd ignores these flags beside its config file: name" in settings.warnings
    assert resolve("systemd", "x", Sources(flags={"name": "flag"}, env={"name": "env"})).name == (
        "flag"
    )


def test_specifiers_beyond_the_unit_name_are_filled_or_kept_with_a_warning() -> None:
    unit = (
        "# /etc/systemd/system/etcd@db-1.service\n[Service]\n"
        "Environment=ETCD_NAME=%i-%m ETCD_DATA_DIR=/var/lib/%p/%I-%%\n"
        "ExecStart=/usr/bin/etcd --listen-client-urls=http://%b:2379\n"
    )
    s = parse_systemd_etcd("etcd@db-1.service", unit=unit, node={"m": "0123abcd"})
    assert s.name == "db-1-0123abcd"
    assert s.data_dir == "/var/lib/etcd/db/1-%"
    assert s.listen_client_urls == ("http://%b:2379",)
    assert any("%b" in w for w in s.warnings)


def test_apiserver_underscore_flags_are_read_as_dashes() -> None:
    text = APISERVER_YAML.replace("--etcd-servers=", "--etcd_servers=")
    assert parse_apiserver_manifest(text, "a").etcd_servers == ("https://127.0.0.1:2379",)
