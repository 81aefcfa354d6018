"""A member that advertises a client URL holding shell code: nothing of it reaches a shell,
kube-apiserver's --etcd-servers or the config, on a real lab (real etcd, real sshd)."""

from __future__ import annotations

import subprocess
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from etcdtui.cli import main
from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import dump_toml, load_connection
from etcdtui.lab import LabInfo
from etcdtui.models.severity import Severity
from etcdtui.models.urls import url_problem
from etcdtui.runbooks.membership.env_file import env_file_text, parse_env
from etcdtui.services.health import cluster_findings
from tests.helpers.membership import KEYS, apiserver_config, etcd_servers, member_names, put_keys


def advertise(info: LabInfo, node: str, url: str) -> None:
    """Restart `node`'s member advertising `url` as its client URL, as anyone who can start a
    member could; wait until the member list shows it."""
    lab_node = info.node(node)
    env = parse_env(Path(lab_node.env_file).read_text())
    env["ETCD_ADVERTISE_CLIENT_URLS"] = url
    Path(lab_node.env_file).write_text(env_file_text(env))
    subprocess.run([lab_node.service, "restart"], check=True, timeout=60, capture_output=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = subprocess.run(
            [info.etcdctl, "member", "list", "-w", "json"],
            env=info.etcdctl_env(), capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        if url in listed.stdout.replace("\\u0026", "&").replace("\\u0027", "'"):
            return
        time.sleep(0.3)
    raise AssertionError(f"{node} never advertised {url!r}")


@pytest.fixture
def hostile(make_lab: Callable[..., LabInfo], tmp_path: Path) -> tuple[LabInfo, Path, Path]:
    info = make_lab(etcd_version="3.5", spares=1)
    put_keys(info)
    marker = tmp_path / "pwned"
    node3 = info.members()[2].name
    url = f"{info.node(node3).client_url}?x=';touch {marker};'"
    advertise(info, node3, url)
    return info, marker, apiserver_config(info, tmp_path)


def test_member_advertising_shell_code_is_never_written_anywhere(
    hostile: tuple[LabInfo, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info, marker, config = hostile
    node3 = info.members()[2].name
    # Without node3 in the config, the only URL known for it is the one it advertises: the
    # add is refused before anything changes.
    data = tomllib.loads(config.read_text())
    del data["clusters"]["lab"]["nodes"][node3]
    data["clusters"]["lab"]["endpoints"] = [info.node(n.name).client_url
                                            for n in info.members()[:2]]  # fmt: skip
    partial = tmp_path / "partial.toml"
    partial.write_text(dump_toml(data))
    before = member_names(info)
    audit = str(tmp_path / "audit.log")
    code = main(["add-member", "spare1", "--config", str(partial), "--cluster", "lab",
                    "--yes", "--audit-log", audit])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "suspicious client URL" in err and "--etcd-servers" in err
    assert member_names(info) == before
    assert not Path(info.node("spare1").env_file).exists()
    assert not any(Path(info.node(n.name).service + ".etcd-servers").exists()
                   for n in info.members())  # fmt: skip
    assert not marker.exists()

    # With node3 in the config, its configured URL is used: replace node2 with the spare.
    node2 = info.members()[1].name
    code = main(["replace-member", node2, "--new-node", "spare1", "--config", str(config),
                    "--cluster", "lab", "--yes", "--audit-log", audit])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert not marker.exists()
    for node in (info.members()[0].name, node3, "spare1"):
        servers = etcd_servers(info, node)
        assert all(url_problem(u) == "" for u in servers), servers
        assert info.node(node3).client_url in servers
        assert not any("touch" in u for u in servers)
    names = member_names(info)
    assert "spare1" in names and node2 not in names
    listed = subprocess.run(
        [info.etcdctl, "get", "membership/", "--prefix", "--keys-only"],
        env=info.etcdctl_env(), capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    assert len([k for k in listed.stdout.splitlines() if k]) == KEYS
    # The dashboard's rules call the member out.
    client = ClusterClient(load_connection(config, "lab"))
    try:
        findings = cluster_findings(client.read(metrics=False))
    finally:
        client.close()
    (odd,) = [f for f in findings if "suspicious" in f.text]
    assert odd.severity is Severity.CRITICAL and odd.member == node3 and "touch" in odd.text
