"""`etcdtui discover` over SSH on nodes laid out by other distributions (root: namespaces).

One `lab up --rke2-layout` lab: its members run etcd as RKE2 does (a static pod whose only
argument is `--config-file`, RKE2's paths and certificates, each node's own /var/lib/rancher),
run by the lab's kubelet. Its spares run no etcd; each is given the files of another layout
(k3s's embedded etcd, a manifest under a kubelet's non-default staticPodPath, OpenShift's
operator-managed etcd) where that layout keeps them, and discovery reads them over real sshd.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from etcdtui.lab import LabInfo, LabNode, lab_down, lab_up
from etcdtui.lab.kubeadm import etcd_manifest

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("test_discover_rke2")

ETCDTUI = [sys.executable, "-m", "etcdtui"]
CASES = Path(__file__).parents[1] / "data" / "discover"
RKE2_TLS = "/var/lib/rancher/rke2/server/tls/etcd"
RKE2_DATA = "/var/lib/rancher/rke2/server/db/etcd"


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ETCDTUI, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def rke2_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    info = lab_up(tmp_path_factory.mktemp("rke2") / "lab", spares=3, rke2_layout=True)
    yield info
    lab_down(info.dir)


def discover(info: LabInfo, nodes: list[LabNode], *more: str) -> subprocess.CompletedProcess[str]:
    hosts = ",".join(f"root@{n.address}" for n in nodes)
    ssh = ["--identity-file", str(info.dir / "ssh/id_ed25519"),
           "--known-hosts", str(info.dir / "ssh/known_hosts")]  # fmt: skip
    return run("discover", "--ssh", hosts, *ssh, *more)


NodeFile = Callable[[LabNode, str, str], None]


@pytest.fixture
def node_file() -> Iterator[NodeFile]:
    """Lays a file out on a node, at a path as the node sees it (its own /etc/kubernetes and
    /var/lib/rancher are folders of the lab's node directory); removed after the test, so
    that each spare is a node without etcd again."""
    made: list[Path] = []

    def lay_out(node: LabNode, path: str, text: str) -> None:
        for seen, real in (("/etc/kubernetes/", "kubernetes"), ("/var/lib/rancher/", "rancher")):
            if path.startswith(seen):
                target = node.node_dir / real / path[len(seen) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
                made.append(target)
                return
        raise AssertionError(f"{path} is not in a folder of the node's own")

    yield lay_out
    for path in made:
        path.unlink(missing_ok=True)


def test_rke2_lab_runs_etcd_from_rke2s_config_file_at_rke2s_paths(rke2_lab: LabInfo) -> None:
    node = rke2_lab.node("node1")
    pid = rke2_lab.pid("node1")
    assert pid is not None
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[1:]
    assert [a for a in argv if a] == [f"--config-file={RKE2_DATA}/config"]
    # The member's data is in the node's own /var/lib/rancher, not the host's.
    assert (node.node_dir / "rancher/rke2/server/db/etcd/member/wal").is_dir()
    assert not Path("/var/lib/rancher/rke2").exists()
    manifests = node.node_dir / "rancher/rke2/agent/pod-manifests"
    assert sorted(p.name for p in manifests.iterdir()) == ["etcd.yaml", "kube-apiserver.yaml"]


def test_discover_over_ssh_names_rke2_and_writes_a_config_that_works_as_written(
    rke2_lab: LabInfo, tmp_path: Path
) -> None:
    config = tmp_path / "etcdtui.toml"
    done = discover(rke2_lab, list(rke2_lab.nodes), "--write", "rke2", "--config", str(config))
    assert done.returncode == 0, done.stderr
    for member in rke2_lab.members():
        assert f"root@{member.address}: etcd found as laid out by rke2" in done.stderr
    cluster = tomllib.loads(config.read_text())["clusters"]["rke2"]
    assert cluster["endpoints"] == list(rke2_lab.endpoints)
    assert (cluster["cacert"], cluster["cert"], cluster["key"]) == (
        f"{RKE2_TLS}/server-ca.crt",
        f"{RKE2_TLS}/client.crt",
        f"{RKE2_TLS}/client.key",
    )
    assert cluster["certs_on_node"] == "node1"
    node1 = cluster["nodes"]["node1"]
    assert node1["member"] == "node1" and node1["profile"] == "static-pod"
    assert node1["data_dir"] == RKE2_DATA
    assert node1["peer_urls"] == [rke2_lab.node("node1").peer_url]
    assert node1["vars"]["manifest"] == "/var/lib/rancher/rke2/agent/pod-manifests/etcd.yaml"
    assert (
        node1["vars"]["manifest_stash"] == "/var/lib/rancher/rke2/agent/etcd.yaml.etcdtui-stopped"
    )
    # A spare (no etcd yet) gets the members' layout, RKE2's paths included.
    spare = cluster["nodes"][rke2_lab.node("spare1").address.replace(".", "-")]
    assert spare["vars"]["manifest"] == node1["vars"]["manifest"]
    # As written, with more patience than the 2 s per request discover writes (a loaded
    # 2-core machine, TLS handshakes into namespaces, the certificates read over SSH first).
    status = run("status", "--config", str(config), "--cluster", "rke2", "--timeout", "10")
    assert status.returncode == 0, status.stdout + status.stderr + config.read_text()
    assert "3 voting members" in status.stdout
    for member in rke2_lab.members():
        assert f"| {member.name} " in status.stdout and "unhealthy" not in status.stdout


def test_discover_over_ssh_finds_k3s_embedded_etcd(rke2_lab: LabInfo, node_file: NodeFile) -> None:
    node = rke2_lab.node("spare1")
    k3s = (CASES / "k3s" / "config").read_text().replace("10.0.0.41", node.address)
    node_file(node, "/var/lib/rancher/k3s/server/db/etcd/config", k3s)
    done = discover(rke2_lab, [node])
    assert done.returncode == 0, done.stderr
    assert "etcd found as laid out by k3s" in done.stderr
    assert "stopping it stops the k3s service" in done.stderr
    table = tomllib.loads(done.stdout)["clusters"]["discovered"]
    assert table["endpoints"] == [f"https://{node.address}:2379"]
    found = table["nodes"]["k3s-server-2-8a41c07b"]
    assert found["profile"] == "systemd" and found["vars"] == {"unit": "k3s"}
    assert found["data_dir"] == "/var/lib/rancher/k3s/server/db/etcd"
    assert table["cacert"] == "/var/lib/rancher/k3s/server/tls/etcd/server-ca.crt"


def test_discover_over_ssh_reads_the_kubelets_static_pod_path(
    rke2_lab: LabInfo, node_file: NodeFile
) -> None:
    node = rke2_lab.node("spare2")
    kubelet = (
        "apiVersion: kubelet.config.k8s.io/v1beta1\n"
        "kind: KubeletConfiguration\n"
        "staticPodPath: /etc/kubernetes/pods\n"
    )
    node_file(node, "/etc/kubernetes/kubelet-config.yaml", kubelet)
    members = f"cp9=https://{node.address}:2380"
    manifest = etcd_manifest("cp9", node.address, "/srv/etcd", members, "token-9", "3.5")
    node_file(node, "/etc/kubernetes/pods/etcd.manifest", manifest)
    done = discover(rke2_lab, [node])
    assert done.returncode == 0, done.stderr
    assert "etcd found as laid out by kubelet staticPodPath /etc/kubernetes/pods" in done.stderr
    table = tomllib.loads(done.stdout)["clusters"]["discovered"]
    found = table["nodes"]["cp9"]
    assert found["member"] == "cp9" and found["profile"] == "static-pod"
    assert found["data_dir"] == "/srv/etcd"  # the hostPath, not the pod's /var/lib/etcd
    assert found["peer_urls"] == [f"https://{node.address}:2380"]
    assert found["vars"]["manifest"] == "/etc/kubernetes/pods/etcd.manifest"
    assert found["vars"]["manifest_stash"] == "/etc/kubernetes/etcd.manifest.etcdtui-stopped"


def test_discover_over_ssh_names_openshifts_etcd_and_writes_no_config(
    rke2_lab: LabInfo, node_file: NodeFile, tmp_path: Path
) -> None:
    node = rke2_lab.node("spare3")
    pod = (CASES / "openshift" / "etcd-pod.yaml").read_text()
    node_file(node, "/etc/kubernetes/manifests/etcd-pod.yaml", pod)
    config = tmp_path / "etcdtui.toml"
    done = discover(rke2_lab, [node], "--write", "ocp", "--config", str(config))
    assert done.returncode != 0
    assert "OpenShift's etcd" in done.stderr
    assert "managed by the cluster-etcd-operator: use its tooling" in done.stderr
    assert "[clusters." not in done.stdout
    assert not config.exists()
