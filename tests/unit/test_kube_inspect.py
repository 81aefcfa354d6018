"""Reading a node's etcd settings with real files and a real shell (this machine's).

There is no systemd here, so `systemctl` is the one stand-in: a script on PATH that prints a
unit as `systemctl cat etcd.service` would. Everything else is read from real files.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from etcdtui.clients.local_shell import LocalShell
from etcdtui.services.kube.inspect import DEFAULT_ENV, inspect_node


def test_debian_package_defaults_are_not_an_etcd_member() -> None:
    # Debian's etcd-server (installed by the set-up) ships /etc/default/etcd all commented out.
    assert Path(DEFAULT_ENV).exists()
    facts = inspect_node(LocalShell())
    assert facts.etcd is None and facts.apiserver is None and facts.error == ""
    assert facts.notes and "no etcd here" in facts.notes[0]


def test_systemd_unit_its_environment_file_and_flags_make_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / "etcd.env"
    env.write_text(
        "# written by hand\n"
        "ETCD_DATA_DIR=/var/lib/etcd/prod\n"
        'ETCD_LISTEN_CLIENT_URLS="https://10.0.0.11:2379,https://127.0.0.1:2379"\n'
        "ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.11:2379\n"
        "ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.11:2380\n"
        "ETCD_INITIAL_CLUSTER_STATE=new\n"
        "ETCD_CERT_FILE=/etc/etcd/pki/server.crt\n"
        "ETCD_KEY_FILE=/etc/etcd/pki/server.key\n"
        "ETCD_TRUSTED_CA_FILE=/etc/etcd/pki/ca.crt\n"
        "ETCD_CLIENT_CERT_AUTH=true\n"
    )
    unit = tmp_path / "etcd.service"
    unit.write_text(
        "# /lib/systemd/system/etcd.service\n"
        "[Unit]\nDescription=etcd key-value store\n\n"
        "[Service]\n"
        "Environment=ETCD_NAME=%H\n"
        f"EnvironmentFile=-{env}\n"
        "ExecStart=/usr/bin/etcd --initial-cluster-state=existing \\\n"
        "    --peer-client-cert-auth=true\n"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(
        f'#!/bin/sh\n[ "$1 $2" = "cat etcd.service" ] && exec cat {unit}\nexit 1\n'
    )
    systemctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    facts = inspect_node(LocalShell())
    etcd = facts.etcd
    assert etcd is not None, facts
    assert etcd.source == "systemd"
    assert etcd.name == socket.gethostname()  # %H, filled in from the node's hostname
    assert etcd.data_dir == "/var/lib/etcd/prod"
    assert etcd.advertise_client_urls == ("https://10.0.0.11:2379",)
    assert etcd.local_client_url == "https://127.0.0.1:2379"
    assert etcd.initial_cluster_state == "existing"  # the unit's flag beats the file
    assert etcd.client_cert_auth and etcd.peer_client_cert_auth
    assert etcd.cert_file == "/etc/etcd/pki/server.crt"
    assert str(env) in etcd.origin


def test_rke2_layout_reads_the_pod_manifest_and_its_config_file_from_the_node(
    tmp_path: Path,
) -> None:
    from etcdtui.services.kube.layouts import RKE2_MANIFESTS, find_layout

    fixtures = Path(__file__).resolve().parents[1] / "data" / "discover" / "rke2"
    manifests = tmp_path / RKE2_MANIFESTS.lstrip("/")
    manifests.mkdir(parents=True)
    (manifests / "etcd.yaml").write_text((fixtures / "etcd.yaml").read_text())
    config = tmp_path / "var/lib/rancher/rke2/server/db/etcd/config"
    config.parent.mkdir(parents=True)
    config.write_text((fixtures / "config").read_text())
    found = find_layout(LocalShell(), root=str(tmp_path))
    assert found is not None and found.name == "rke2"
    assert found.etcd.name == "rke2-cp-1-2f6c1d0e"
    assert found.etcd.advertise_client_urls == ("https://10.0.0.31:2379",)
    assert dict(found.vars)["manifest"] == f"{RKE2_MANIFESTS}/etcd.yaml"
