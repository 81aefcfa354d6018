"""The rolling upgrade on a `lab up --kubeadm-layout` lab (root: namespaces) on etcd 3.4: each
member's etcd.yaml gets 3.5's image by a YAML edit that changes that one line, and the lab
kubelet then runs the etcd that image names; an image the kubelet cannot run leaves the member
down until its wait runs out, and the member is rolled back to its manifest as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from etcdtui.errors import LabError
from etcdtui.lab import LabInfo, etcd_binaries, kubeadm, rke2
from etcdtui.lab.binaries import IMAGE_VERSIONS, image_binary
from tests.helpers.etcd import etcdctl
from tests.helpers.upgrade import (
    audit_rows,
    member_versions,
    node_vars,
    put_keys,
    run_upgrade,
    set_node_var,
    use_snapshot_dir,
    user_keys,
)

KEYS = 50
OLD_IMAGE = "registry.k8s.io/etcd:3.4.23-0"
NEW_IMAGE = "registry.k8s.io/etcd:3.5.1-0"
# Well-formed, tagged 3.5.2, and no binary in the lab: the kubelet cannot "pull" it.
UNRUNNABLE_IMAGE = "registry.k8s.io/etcd:3.5.2-0"
MEMBER_TIMEOUT = "20"  # seconds: a 3.4 member restarts in a few
NEVER_UP_TIMEOUT = "8"  # seconds: the wait for a member that cannot start runs out in full


@pytest.fixture
def kube34(make_lab, tmp_path: Path) -> LabInfo:  # type: ignore[no-untyped-def]
    """A 3-member kubeadm-layout lab on etcd 3.4 with KEYS keys and a snapshot folder."""
    info: LabInfo = make_lab(etcd_version="3.4", kubeadm_layout=True)
    use_snapshot_dir(info, tmp_path / "snapshots")
    put_keys(info, KEYS)
    return info


def kube_dir(info: LabInfo, node: str) -> Path:
    return info.node(node).node_dir / "kubernetes"


def manifests(info: LabInfo) -> dict[str, bytes]:
    """Each member's etcd.yaml, as its node sees it in /etc/kubernetes/manifests."""
    return {n.name: (kube_dir(info, n.name) / "manifests/etcd.yaml").read_bytes()
            for n in info.members()}  # fmt: skip


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, str]]:
    """The (old, new) pairs of lines that differ (the line count must not change)."""
    old, new = before.decode().splitlines(), after.decode().splitlines()
    assert len(old) == len(new), (before.decode(), after.decode())
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def stopped_members(audit: Path) -> list[str]:
    return [r["step_id"].removeprefix("stop-") for r in audit_rows(audit)
            if r["step_id"].startswith("stop-") and r["note"] == "started"]  # fmt: skip


def test_every_lab_etcd_image_runs_its_versions_binary() -> None:
    for version, image in [*kubeadm.IMAGES.items(), *rke2.IMAGES.items()]:
        assert IMAGE_VERSIONS[image] == version
        assert image_binary(image) == etcd_binaries(version)[0]
    with pytest.raises(LabError, match="cannot pull"):
        image_binary(UNRUNNABLE_IMAGE)


def test_static_pod_upgrade_changes_only_the_etcd_image_line(
    kube34: LabInfo, tmp_path: Path
) -> None:
    assert {v.get("upgrade_image") for v in node_vars(kube34).values()} == {NEW_IMAGE}
    before = manifests(kube34)
    audit = tmp_path / "audit.log"
    result = run_upgrade(kube34, audit, "--to", "3.5", "--yes")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "[PASS] manifest image editable: 3 manifests" in out
    after = manifests(kube34)
    for name, old in before.items():
        # Checked as a string: the image line and nothing else, indentation and all.
        assert changed_lines(old, after[name]) == [
            (f"    image: {OLD_IMAGE}", f"    image: {NEW_IMAGE}")
        ], name
        pod_before, pod_after = yaml.safe_load(old), yaml.safe_load(after[name])
        pod_before["spec"]["containers"][0]["image"] = NEW_IMAGE
        assert pod_after == pod_before, name
        # The old manifest kept beside the folder (kubelet would run a copy left in it).
        assert (kube_dir(kube34, name) / "etcd.yaml.etcdtui-pre-upgrade").read_bytes() == old
        listed = sorted(p.name for p in (kube_dir(kube34, name) / "manifests").iterdir())
        assert listed == ["etcd.yaml", "kube-apiserver.yaml"], listed
    assert set(member_versions(kube34).values()) == {"3.5.1"}
    assert "[PASS] cluster version: 3.5" in out
    assert user_keys(kube34) == KEYS
    assert len(stopped_members(audit)) == 3


def test_static_pod_image_the_kubelet_cannot_run_is_rolled_back(
    kube34: LabInfo, tmp_path: Path
) -> None:
    for node in kube34.nodes:
        set_node_var(kube34, node.name, "upgrade_image", UNRUNNABLE_IMAGE)
    before = manifests(kube34)
    audit = tmp_path / "audit.log"
    result = run_upgrade(
        kube34, audit, "--to", "3.5", "--yes", "--member-timeout", NEVER_UP_TIMEOUT
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    # Preflight checks the reference's form and the version its tag names, not whether a
    # kubelet can pull it: it passes, and the member's wait is what catches it.
    assert "[PASS] new binary on every node: 3 nodes report etcd 3.5.2" in out
    assert f"not up on 3.5.2 after {NEVER_UP_TIMEOUT} s" in out
    assert "rolled back to 3.4.23" in out
    stopped = stopped_members(audit)
    assert len(stopped) == 1, stopped  # the run stopped at its first member
    assert manifests(kube34) == before  # byte for byte
    assert set(member_versions(kube34).values()) == {"3.4.23"}
    health = etcdctl(kube34, "endpoint", "health", "-w", "json")
    assert health.returncode == 0, health.stdout + health.stderr
    assert all(e["health"] for e in json.loads(health.stdout))
    assert user_keys(kube34) == KEYS
    log = (kube34.node(stopped[0]).node_dir / "kubelet.log").read_text()
    assert f"the lab has no etcd for image {UNRUNNABLE_IMAGE!r}" in log
