"""Kubernetes-aware etcdtui against a `lab up --kubeadm-layout` lab (root: namespaces).

Each node has kubeadm's /etc/kubernetes (pki and static-pod manifests) and a lab kubelet that
runs etcd and a stand-in kube-apiserver from them. The tests run in file order on one lab:
discovery and the read-only checks first, then changes that the later tests build on.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from textual.content import Content
from textual.widgets import DataTable, Static

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.clients.via_ssh import client_without_certificate, open_cluster
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.lab import LabInfo, lab_down, lab_up
from etcdtui.services.kube.report import KubeReport, build_report, probe_without_certificate
from etcdtui.ui.app import EtcdtuiApp
from tests.helpers.labs import connection_of

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("test_kubeadm_lab")

ETCDTUI = [sys.executable, "-m", "etcdtui"]


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ETCDTUI, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def kube_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    info = lab_up(tmp_path_factory.mktemp("kubeadm") / "lab", spares=1, kubeadm_layout=True)
    yield info
    lab_down(info.dir)


def kube_dir(info: LabInfo, node: str) -> Path:
    return info.node(node).node_dir / "kubernetes"


def etcdctl(info: LabInfo, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | info.etcdctl_env()
    return subprocess.run(
        [info.etcdctl, *args], capture_output=True, text=True, env=env, timeout=30, check=True
    )


def healthy_view(conn: Connection, members: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        client = open_cluster(conn)
        try:
            view = client.read(metrics=False)
        finally:
            client.close()
        if view.healthy and len(view.members) == members:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy in {timeout} s: {view}")
        time.sleep(0.5)


def kube_report(info: LabInfo) -> KubeReport:
    conn = connection_of(info)
    shells = ShellPool(conn.nodes)
    cluster: ClusterClient = open_cluster(conn, shells)
    try:
        members = None
        for endpoint in conn.endpoints:
            try:
                members = cluster.client(endpoint).member_list()
                break
            except EtcdtuiError:
                continue
        assert members is not None
        probe = probe_without_certificate(lambda e: client_without_certificate(cluster, e))
        return build_report(conn, shells.shell, members, probe)
    finally:
        cluster.close()
        shells.close_all()


def test_discover_writes_a_config_that_works_as_written(kube_lab: LabInfo, tmp_path: Path) -> None:
    config = tmp_path / "etcdtui.toml"
    config.write_text('# mine\n[clusters.other]\nendpoints = ["http://127.0.0.1:1"]\n')
    hosts = ",".join(f"root@{n.address}" for n in kube_lab.nodes)
    ssh = ["--identity-file", str(kube_lab.dir / "ssh/id_ed25519"),
           "--known-hosts", str(kube_lab.dir / "ssh/known_hosts")]  # fmt: skip
    done = run("discover", "--ssh", hosts, *ssh, "--write", "k8s", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "[clusters.k8s]" in done.stdout  # shown before it was written
    data = tomllib.loads(config.read_text())
    assert data["clusters"]["other"] == {"endpoints": ["http://127.0.0.1:1"]}
    assert config.read_text().startswith("# mine\n")
    k8s = data["clusters"]["k8s"]
    assert k8s["endpoints"] == list(kube_lab.endpoints)
    assert k8s["cert"] == "/etc/kubernetes/pki/apiserver-etcd-client.crt"
    assert k8s["certs_on_node"] == "node1"
    node1 = k8s["nodes"]["node1"]
    assert node1["profile"] == "static-pod" and node1["apiserver"] is True
    assert node1["data_dir"] == kube_lab.node("node1").data_dir  # the hostPath, not /var/lib/etcd
    assert node1["local_client_url"] == "https://127.0.0.1:2379"
    spare = k8s["nodes"][kube_lab.node("spare1").address.replace(".", "-")]
    assert spare["peer_urls"] == [kube_lab.node("spare1").peer_url]
    # As written, but with more patience than the 2 s per request discover writes: on a loaded
    # 2-core machine running four labs, a TLS handshake into a namespace can take longer.
    status = run("status", "--config", str(config), "--cluster", "k8s", "--timeout", "10")
    assert status.returncode == 0, status.stdout + status.stderr + config.read_text()
    assert "3 voting members" in status.stdout

    before = config.read_text()
    again = run("discover", "--ssh", hosts, *ssh, "--write", "k8s", "--config", str(config))
    assert again.returncode == 2 and "--yes" in again.stderr
    assert config.read_text() == before

    copies = tmp_path / "certs"
    copied = run("discover", "--ssh", hosts, *ssh, "--write", "copied", "--config", str(config),
                 "--copy-certs", str(copies))  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    assert sorted(oct(p.stat().st_mode & 0o777) for p in copies.iterdir()) == ["0o600"] * 3
    assert oct(copies.stat().st_mode & 0o777) == "0o700"
    status = run("status", "--config", str(config), "--cluster", "copied")
    assert status.returncode == 0, status.stdout + status.stderr

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    before = config.read_text()
    refused = run("discover", "--ssh", hosts, *ssh, "--write", "open", "--config", str(config),
                  "--copy-certs", str(shared))  # fmt: skip
    assert refused.returncode == 2 and "open to other users" in refused.stderr
    assert config.read_text() == before and not any(shared.iterdir())


def test_discover_bad_host_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "etcdtui.toml"
    done = run("discover", "--ssh", "root@host:notaport", "--write", "x", "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "[user@]host[:port]" in done.stderr
    assert not config.exists()


def test_fresh_kubeadm_lab_passes_every_check(kube_lab: LabInfo) -> None:
    report = kube_report(kube_lab)
    assert report.worst == "ok", [f.message for f in report.security + report.wiring] + [
        c.message for c in report.certs if c.severity != "ok"
    ]
    checks = {f.check for f in report.security}
    assert {"client-cert-auth", "peer TLS", "data dir 0700", "private keys"} <= checks
    assert len(report.wiring) == 3 and all(f.ok for f in report.wiring)
    roles = {c.role for c in report.certs if c.node == "node1"}
    assert {"server", "peer", "CA", "client (kube-apiserver)"} <= roles
    # The same from the command line, for scripts and monitoring.
    done = run("kube-check", "--config", str(kube_lab.config_path), "-w", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["worst"] == "ok" and len(data["certificates"]) == 15


def test_kube_check_needs_the_nodes_and_says_so_in_one_line() -> None:
    done = run("kube-check", "--endpoints", "http://127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "etcdtui discover" in done.stderr


async def test_kubernetes_screen_reads_every_node_of_the_lab(kube_lab: LabInfo) -> None:
    app = EtcdtuiApp(connection_of(kube_lab), refresh=60)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.polls < 1:
            await pilot.pause(0.1)
        await pilot.press("k")
        for _ in range(100):  # the report is read over SSH in a worker
            await app.workers.wait_for_complete()
            await pilot.pause(0.1)
            summary = app.screen.query_one("#kube-summary", Static)
            text = Content.from_markup(str(summary.content)).plain
            if text.startswith(("OK", "WARN", "CRITICAL")):
                break
        assert text.startswith("OK · wiring 3 ok"), text
        assert app.screen.query_one("#kube-wiring", DataTable).row_count == 3
        certs = app.screen.query_one("#kube-certs", DataTable).row_count
        assert certs == 15  # server, peer, CA and two client certificates on each node


def test_expiring_certificate_is_flagged(kube_lab: LabInfo) -> None:
    path = kube_dir(kube_lab, "node2") / "pki/etcd/server.crt"
    original = path.read_bytes()
    cert = x509.load_pem_x509_certificate(original)
    pki = kube_lab.dir / "pki"
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(ca.subject)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=5))
    )
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    short = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    path.write_bytes(short.public_bytes(serialization.Encoding.PEM))
    try:
        report = kube_report(kube_lab)
    finally:
        path.write_bytes(original)
    flagged = [c for c in report.certs if c.severity != "ok"]
    assert [(c.node, c.role, c.severity) for c in flagged] == [("node2", "server", "critical")]
    assert "expires in 4 days" in flagged[0].message and str(path.name) in flagged[0].message


def test_loose_data_dir_and_key_modes_are_flagged_with_the_fix(kube_lab: LabInfo) -> None:
    data = Path(kube_lab.node("node1").data_dir)
    key = kube_dir(kube_lab, "node2") / "pki/etcd/peer.key"
    data.chmod(0o755)
    key.chmod(0o644)
    try:
        report = kube_report(kube_lab)
    finally:
        data.chmod(0o700)
        key.chmod(0o600)
    failed = {(f.node, f.check): f for f in report.security if not f.ok}
    assert set(failed) == {("node1", "data dir 0700"), ("node2", "private keys")}
    assert failed["node1", "data dir 0700"].fix == f"chmod 700 {data}"
    assert failed["node2", "private keys"].fix == "chmod 600 /etc/kubernetes/pki/etcd/peer.key"


def _set_flag(manifest: Path, flag: str, value: str | None, *drop: str) -> str:
    """Set (or with None drop) a flag of the manifest's command, and drop the flags `drop`,
    in one write, as an admin's edit would (the kubelet restarts etcd once)."""
    original = manifest.read_text()
    pod = yaml.safe_load(original)
    command = pod["spec"]["containers"][0]["command"]
    gone = tuple(f"--{name}=" for name in drop)
    pod["spec"]["containers"][0]["command"] = [
        f"--{flag}={value}" if c.startswith(f"--{flag}=") else c
        for c in command
        if (value is not None or not c.startswith(f"--{flag}=")) and not c.startswith(gone)
    ]
    tmp = manifest.with_name(".edit.tmp")
    tmp.write_text(yaml.safe_dump(pod, sort_keys=False))
    os.replace(tmp, manifest)
    return original


def test_unenforced_client_cert_auth_is_flagged(kube_lab: LabInfo) -> None:
    conn = connection_of(kube_lab)
    manifest = kube_dir(kube_lab, "node3") / "manifests/etcd.yaml"
    # --client-cert-auth=false alone changes nothing while --trusted-ca-file is set (etcd
    # still asks for a certificate): only a request made without one tells the truth.
    starts = _etcd_starts(kube_lab, "node3")
    original = _set_flag(manifest, "client-cert-auth", None, "trusted-ca-file")
    try:
        _wait_etcd_started(kube_lab, "node3", after=starts)  # the kubelet applied the flags
        healthy_view(conn, 3)
        report = kube_report(kube_lab)
    finally:
        starts = _etcd_starts(kube_lab, "node3")
        manifest.write_text(original)
    _wait_etcd_started(kube_lab, "node3", after=starts)
    healthy_view(conn, 3)
    node3 = kube_lab.node("node3").client_url
    failed = [f for f in report.security if not f.ok]
    assert [(f.check, f.severity) for f in failed] == [("client-cert-auth", "critical")]
    assert node3 in failed[0].message and "WITHOUT a certificate" in failed[0].message
    assert "--client-cert-auth=true" in failed[0].fix


def _events(info: LabInfo, node: str) -> list[str]:
    lines = (info.node(node).node_dir / "kubelet.log").read_text().splitlines()
    return [line.split(" ", 1)[1] for line in lines]


def _etcd_starts(info: LabInfo, node: str) -> int:
    return sum(e.startswith("started pod etcd ") for e in _events(info, node))


def _wait_etcd_started(info: LabInfo, node: str, after: int, timeout: float = 60) -> None:
    """Until the node's kubelet has (re)started etcd since `after` starts were logged."""
    deadline = time.monotonic() + timeout
    while _etcd_starts(info, node) <= after:
        assert time.monotonic() < deadline, f"the kubelet did not restart etcd on {node}"
        time.sleep(0.1)


def test_restore_goes_through_the_static_pod_manifests(kube_lab: LabInfo, tmp_path: Path) -> None:
    for i in range(5):
        etcdctl(kube_lab, "put", f"/registry/kept/{i}", "v")
    snapshot = tmp_path / "snap.db"
    config = str(kube_lab.config_path)
    saved = run("snapshot", "save", str(snapshot), "--config", config)
    assert saved.returncode == 0, saved.stderr
    etcdctl(kube_lab, "put", "/registry/after-snapshot", "x")
    marks = {n.name: len(_events(kube_lab, n.name)) for n in kube_lab.members()}
    done = run("restore", str(snapshot), "--config", config, "--yes")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.etcdtui-stopped" in (
        done.stdout
    )
    # etcd stops only once no kube-apiserver answers: the kubelet stops a pod a while after
    # its manifest moved.
    readyz = "curl -ksSf --max-time 3 https://127.0.0.1:6443/readyz"
    assert f"run {readyz} on node1, node2, node3 until it fails on each" in done.stdout
    # The restore ends only once every kube-apiserver serves /readyz again.
    for node in kube_lab.members():
        assert f"[PASS] kube-apiserver on {node.name} serving: ready after" in done.stdout
    keys = etcdctl(kube_lab, "get", "/registry/", "--prefix", "--keys-only").stdout.split()
    assert keys == [f"/registry/kept/{i}" for i in range(5)]
    for node in kube_lab.members():
        events = _events(kube_lab, node.name)[marks[node.name] :]
        kinds = [e.split(" (")[0].rsplit(" pid", 1)[0] for e in events]
        # kube-apiserver stopped before etcd, and started again only after etcd.
        assert kinds == [
            "stopped pod kube-apiserver",
            "stopped pod etcd",
            "started pod etcd",
            "started pod kube-apiserver",
        ], events
        kept = list(node.node_dir.glob("data.etcdtui-before-restore-*"))
        assert len(kept) == 1 and (kept[0] / "member").is_dir()


def test_replace_member_writes_the_new_static_pod(kube_lab: LabInfo) -> None:
    node3 = kube_lab.node("node3")
    # The node dies: its kubelet and etcd are killed, so nothing restarts the member.
    kubelet = int((node3.node_dir / "kubelet.pid").read_text())
    etcd = kube_lab.pid("node3")
    assert etcd is not None
    os.kill(kubelet, 9)
    os.kill(etcd, 9)
    config = str(kube_lab.config_path)
    # Without kubeadm's etcd certificates on the new node, the plan is refused up front.
    cert = kube_dir(kube_lab, "spare1") / "pki/etcd/peer.crt"
    cert.rename(cert.with_suffix(".away"))
    try:
        refused = run("replace-member", "node3", "--new-node", "spare1", "--config", config,
                      "--yes")  # fmt: skip
    finally:
        cert.with_suffix(".away").rename(cert)
    assert refused.returncode == 1
    assert "[FAIL] spare1 has kubeadm's etcd certificates" in refused.stdout
    assert "/etc/kubernetes/pki/etcd/peer.crt" in refused.stdout
    assert not (kube_dir(kube_lab, "spare1") / "etcd.yaml.etcdtui-stopped").exists()
    done = run("replace-member", "node3", "--new-node", "spare1", "--config",
               str(kube_lab.config_path), "--yes")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "[PASS] configured endpoints" in done.stdout  # the config file was updated too
    spare = kube_lab.node("spare1")
    manifest = yaml.safe_load((kube_dir(kube_lab, "spare1") / "manifests/etcd.yaml").read_text())
    command = manifest["spec"]["containers"][0]["command"]
    assert "--name=spare1" in command and "--initial-cluster-state=existing" in command
    assert f"--advertise-client-urls={spare.client_url}" in command
    data = {v["name"]: v["hostPath"]["path"] for v in manifest["spec"]["volumes"]}
    assert data["etcd-data"] == spare.data_dir
    for name in ("node1", "node2"):
        api = (kube_dir(kube_lab, name) / "manifests/kube-apiserver.yaml").read_text()
        assert spare.client_url in api and node3.client_url not in api
        assert "stopped pod kube-apiserver (manifest changed)" in _events(kube_lab, name)
    healthy_view(connection_of(kube_lab), 3)


def test_wiring_flags_a_removed_member_still_in_a_manifest(kube_lab: LabInfo) -> None:
    # node3 was replaced by the test before: put its URL back into node1's apiserver flags.
    removed = kube_lab.node("node3").client_url
    manifest = kube_dir(kube_lab, "node1") / "manifests/kube-apiserver.yaml"
    servers = next(s for s in manifest.read_text().split() if s.startswith("--etcd-servers="))
    _set_flag(manifest, "etcd-servers", servers.split("=", 1)[1] + "," + removed)
    report = kube_report(kube_lab)
    bad = [f for f in report.wiring if not f.ok]
    assert [(f.node, f.severity) for f in bad] == [("node1", "critical")]
    assert removed in bad[0].message and "no etcd member" in bad[0].message
    done = run("kube-check", "--config", str(kube_lab.config_path))
    assert done.returncode == 1
    assert "Kubernetes checks CRITICAL" in done.stdout
    assert f"CRITICAL etcd-servers      node1: --etcd-servers has {removed}" in done.stdout
