"""The new member's etcd.yaml, made from a running member's (runbooks/membership/manifest.py)."""

from __future__ import annotations

import pytest
import yaml

from etcdtui.errors import EtcdtuiError
from etcdtui.lab.kubeadm import etcd_manifest
from etcdtui.runbooks.membership.manifest import manifest_flags, new_member_manifest

SURVIVOR = etcd_manifest(
    "cp1",
    "10.0.0.11",
    "/data/cp1",
    "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380",
    "token-1",
    "3.5",
)
NEW = {
    "name": "cp4",
    "advertise-client-urls": "https://10.0.0.14:2379",
    "listen-client-urls": "https://127.0.0.1:2379,https://10.0.0.14:2379",
    "listen-peer-urls": "https://10.0.0.14:2380",
    "initial-advertise-peer-urls": "https://10.0.0.14:2380",
    "initial-cluster": "cp1=https://10.0.0.11:2380,cp4=https://10.0.0.14:2380",
    "initial-cluster-state": "existing",
}


def test_new_member_keeps_the_survivors_tls_and_takes_its_own_flags_and_data_dir() -> None:
    text = new_member_manifest(SURVIVOR, "cp1:etcd.yaml", NEW, "/var/lib/etcd")
    flags = manifest_flags(text, "new")
    assert {k: flags[k] for k in NEW} == NEW
    survivor = manifest_flags(SURVIVOR, "old")
    for kept in ("cert-file", "key-file", "trusted-ca-file", "peer-cert-file",
                 "initial-cluster-token", "data-dir", "client-cert-auth"):  # fmt: skip
        assert flags[kept] == survivor[kept]
    pod = yaml.safe_load(text)
    paths = {v["name"]: v["hostPath"]["path"] for v in pod["spec"]["volumes"]}
    assert paths == {"etcd-certs": "/etc/kubernetes/pki/etcd", "etcd-data": "/var/lib/etcd"}


def test_a_data_dir_below_its_volume_is_refused_rather_than_guessed() -> None:
    pod = yaml.safe_load(SURVIVOR)
    command = pod["spec"]["containers"][0]["command"]
    pod["spec"]["containers"][0]["command"] = [
        "--data-dir=/var/lib/etcd/member-data" if c.startswith("--data-dir=") else c
        for c in command
    ]
    with pytest.raises(EtcdtuiError, match="by hand"):
        new_member_manifest(yaml.safe_dump(pod), "cp1:etcd.yaml", NEW, "/var/lib/etcd")


def test_a_manifest_without_etcd_is_a_clear_error() -> None:
    with pytest.raises(EtcdtuiError, match=r"cp1:etcd\.yaml: no etcd container"):
        new_member_manifest("kind: Pod\nspec: {containers: []}\n", "cp1:etcd.yaml", NEW, "/x")
    with pytest.raises(EtcdtuiError, match="not YAML"):
        manifest_flags("kind: [", "cp1:etcd.yaml")
