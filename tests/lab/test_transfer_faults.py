"""Transfers that stall or drop mid-way, on a real netns lab (root): links taken down with
`ip link set … down`, sshd really killed, etcdctl really frozen on the node.

Each fault is made deterministic by hooking the moment it strikes: the first progress callback
of the save (so the copy is under way: 16 MB, of which at most a few are in flight), or a
wrapper etcdctl on the node that says it has started. The stall timeout is shortened through
$ETCDTUI_STALL_SECONDS, so every test ends in seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from etcdtui import cli
from etcdtui.cli import snapshot as cli_snapshot
from etcdtui.clients.ssh.connect import Connector
from etcdtui.clients.ssh.shell import SshShell
from etcdtui.clients.stall import TransferStalled
from etcdtui.config import dump_toml, load_connection
from etcdtui.lab import LabInfo, lab_down, lab_up
from etcdtui.lab.procs import descendants, process_alive, read_pid
from etcdtui.lab.sshd import start_sshd
from etcdtui.lab.state import sshd_dir
from etcdtui.models.runbook import Step
from etcdtui.runbooks.audit import AuditLog
from etcdtui.runbooks.restore import upload as restore_upload
from etcdtui.runbooks.restore.kinds import CopyArgs, RestoreKind
from etcdtui.snapshots.leftovers import LeftoverRecord

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = [pytest.mark.xdist_group("test_transfer_faults"), pytest.mark.slow]


STALL = 2  # seconds without a byte before a transfer gives up, in these tests
MARGIN = 8.0  # what a stalled save may take beyond STALL to clean up and report
# The stall clock runs from the last byte, which may be a little before the fault struck.
EARLY = 0.5
ETCDTUI = [sys.executable, "-m", "etcdtui"]
LEFT = re.compile(
    r"^etcdtui: node2: the node-side snapshot copy in (\S+) could not be removed; the next "
    r"snapshot save that reaches node2 removes it$",
    re.M,
)


# --- the lab and its faults -------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    """A TLS netns lab holding 16 MB of values: a copy takes long enough to be cut."""
    info = lab_up(tmp_path_factory.mktemp("faults") / "lab", tls=True, netns=True)
    try:
        node = info.node("node1")
        blob = info.dir / "blob"
        blob.write_bytes(os.urandom(1_000_000))
        flags = " ".join(
            f"--{k}={v}"
            for k, v in (("endpoints", node.local_client_url), ("cacert", info.cacert),
                         ("cert", info.cert), ("key", info.key))
        )  # fmt: skip
        fill = f"for i in $(seq 16); do {info.etcdctl} {flags} put fill/$i < {blob} || exit 1; done"
        assert node.netns
        inside = ["ip", "netns", "exec", node.netns, "sh", "-c", fill]
        subprocess.run(inside, check=True, capture_output=True, timeout=120,
                       env={**os.environ, "ETCDCTL_API": "3"})  # fmt: skip
        yield info
    finally:
        lab_down(info.dir)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A short stall timeout and a private state folder (the leftover record), here and in
    the etcdtui processes the test starts."""
    monkeypatch.setenv("ETCDTUI_STALL_SECONDS", str(STALL))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return dict(os.environ)


def _veth(info: LabInfo, node: str) -> str:
    state = json.loads((info.dir / "lab.json").read_text())
    return str(state["network"]["nodes"][node]["veth"])


def _link(info: LabInfo, node: str, state: str) -> None:
    subprocess.run(["ip", "link", "set", _veth(info, node), state], check=True, timeout=20)


def _kill_sshd(info: LabInfo, node: str) -> None:
    """SIGKILL the node's sshd and every session under it, as `pkill -9 sshd` would."""
    pid = read_pid(sshd_dir(info.dir, node) / "sshd.pid")
    assert pid is not None and process_alive(pid)
    for victim in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def _restart_sshd(info: LabInfo, node: str) -> None:
    lab_node = info.node(node)
    start_sshd(sshd_dir(info.dir, node), 22, info.dir / "ssh" / "authorized_keys",
               host=lab_node.address, netns=lab_node.netns)  # fmt: skip


def _node_folders(info: LabInfo, node: str) -> list[Path]:
    """etcdtui's temp folders beside the node's data dir (the netns lab shares our disk)."""
    return sorted(Path(info.node(node).data_dir).parent.glob(".etcdtui-snapshot.*"))


def _config_with_etcdctl(info: LabInfo, tmp_path: Path, body: str) -> Path:
    """The lab's config, with node2 running a wrapper etcdctl: `body`, REAL its real path."""
    data = tomllib.loads(info.config_path.read_text())
    variables = data["clusters"]["lab"]["nodes"]["node2"]["vars"]
    wrapper = tmp_path / "etcdctl-wrapper"
    wrapper.write_text("#!/bin/sh\n" + body.replace("REAL", variables["etcdctl"]))
    wrapper.chmod(0o755)
    variables["etcdctl"] = str(wrapper)
    config = tmp_path / "etcdtui.toml"
    config.write_text(dump_toml(data))
    return config


def _save_in_process(
    monkeypatch: pytest.MonkeyPatch,
    info: LabInfo,
    path: Path,
    fault: Callable[[], None],
    *extra: str,
) -> tuple[int, float]:
    """`etcdtui snapshot save` (this process: the fault strikes at its first progress
    callback); its exit code and the seconds from the fault to its end."""
    struck: list[float] = []

    def printer() -> Callable[[int, int | None, float], None]:
        def show(done: int, total: int | None, seconds: float) -> None:
            if not struck:
                struck.append(time.monotonic())
                fault()

        return show

    monkeypatch.setattr(cli_snapshot, "_progress_printer", printer)
    code = cli.main(["snapshot", "save", str(path), "--config", str(info.config_path),
                     "--audit-log", str(path.parent / "audit.log"), *extra])  # fmt: skip
    assert struck, "the fault never struck: the save did not start copying"
    return code, time.monotonic() - struck[0]


def _save_again_removes(lab: LabInfo, tmp_path: Path, env: dict[str, str], folder: Path) -> None:
    """The next on-node save (another etcdtui) removes `folder` from node2 and says so.

    It runs with the usual stall timeout: this save is not about stalls, and the short one of
    these tests can run out before etcdctl on the node writes its first byte."""
    usual = {k: v for k, v in env.items() if k != "ETCDTUI_STALL_SECONDS"}
    again = subprocess.run([*ETCDTUI, "snapshot", "save", str(tmp_path / "next.db"),
                            "--config", str(lab.config_path), "--on-node", "node2",
                            "--audit-log", str(tmp_path / "audit.log")],
                           capture_output=True, text=True, timeout=120, env=usual)  # fmt: skip
    assert again.returncode == 0, again.stderr
    removed = f"etcdtui: node2: removed the snapshot copy an earlier save left in {folder}"
    assert removed in again.stderr.splitlines()
    assert not folder.exists() and _node_folders(lab, "node2") == []
    assert LeftoverRecord().folders("lab", "node2") == []
    assert not LEFT.search(again.stderr)


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Exception in thread" not in err, err


def _cause_line(err: str) -> str:
    """The first of etcdtui's lines on stderr: the cause, before any note of what it left."""
    return next(line for line in err.splitlines() if line.startswith("etcdtui: "))


def _nothing_saved(path: Path) -> None:
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name)) == []


# --- snapshot save --on-node --------------------------------------------------------------------


def test_a_dropped_link_stalls_the_on_node_save_and_the_next_save_removes_the_copy(
    lab: LabInfo,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "cut.db"
    try:
        code, took = _save_in_process(monkeypatch, lab, path, lambda: _link(lab, "node2", "down"),
                                      "--on-node", "node2")  # fmt: skip
    finally:
        _link(lab, "node2", "up")
    err = capfd.readouterr().err
    assert code == 1, err
    assert STALL - EARLY <= took < STALL + MARGIN, f"{took:.1f} s after the link went down"
    assert _cause_line(err) == f"etcdtui: no data from node2 for {STALL} s: the transfer stalled"
    _no_traceback(err)
    left = LEFT.findall(err)
    assert len(left) == 1, err
    folder = Path(left[0])
    assert folder in _node_folders(lab, "node2")
    assert (folder / "snapshot.db").stat().st_size > 8_000_000  # the whole plaintext snapshot
    _nothing_saved(path)
    failed = AuditLog(tmp_path / "audit.log").recent()[-1]
    assert failed.exit_code == 1 and "the transfer stalled" in failed.output_tail
    assert str(folder) in failed.output_tail  # the audit log knows where the copy remains
    record = LeftoverRecord()
    assert record.path.parent == tmp_path / "state" / "etcdtui"
    assert oct(record.path.stat().st_mode & 0o777) == "0o600"
    assert record.folders("lab", "node2") == [str(folder)]

    # The link is back: the next save (another process) removes the copy and says so.
    _save_again_removes(lab, tmp_path, env, folder)


def test_sshd_killed_mid_copy_reports_the_dropped_connection_and_where_the_copy_remains(
    lab: LabInfo,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "killed.db"
    try:
        code, took = _save_in_process(monkeypatch, lab, path, lambda: _kill_sshd(lab, "node2"),
                                      "--on-node", "node2")  # fmt: skip
    finally:
        _restart_sshd(lab, "node2")
    err = capfd.readouterr().err
    assert code == 1, err
    assert took < MARGIN
    # The cause, not the clean-up's "cannot connect" (sshd is gone: nothing can connect).
    assert _cause_line(err) == "etcdtui: node2: the SSH connection dropped during the transfer"
    assert "cannot connect" not in err
    _no_traceback(err)
    left = LEFT.findall(err)
    assert len(left) == 1 and Path(left[0]) in _node_folders(lab, "node2"), err
    _nothing_saved(path)
    _save_again_removes(lab, tmp_path, env, Path(left[0]))


def test_sshd_killed_while_etcdctl_saves_on_the_node_reports_the_cause_in_one_line(
    lab: LabInfo, env: dict[str, str], tmp_path: Path
) -> None:
    mark = tmp_path / "etcdctl-started"
    config = _config_with_etcdctl(lab, tmp_path, f"touch {mark}\nexec sleep 300\n")
    # A long stall timeout: only the kill can end this save quickly.
    env = {**env, "ETCDTUI_STALL_SECONDS": "60"}
    save = subprocess.Popen([*ETCDTUI, "snapshot", "save", str(tmp_path / "s.db"),
                             "--config", str(config), "--on-node", "node2",
                             "--audit-log", str(tmp_path / "audit.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not mark.exists():
            assert save.poll() is None and time.monotonic() < deadline, save.communicate()
            time.sleep(0.02)
        _kill_sshd(lab, "node2")
        struck = time.monotonic()
        _, err = save.communicate(timeout=30)
        took = time.monotonic() - struck
    finally:
        if save.poll() is None:
            save.kill()
        _restart_sshd(lab, "node2")
    assert save.returncode == 1, err
    assert took < MARGIN
    assert _cause_line(err) == (
        "etcdtui: node2: the SSH connection dropped while etcdctl saved the snapshot on the node"
    )
    _no_traceback(err)
    left = LEFT.findall(err)
    assert len(left) == 1 and Path(left[0]) in _node_folders(lab, "node2"), err
    _save_again_removes(lab, tmp_path, env, Path(left[0]))


def test_a_frozen_etcdctl_on_the_node_stalls_the_save_which_stops_it_and_cleans_up(
    lab: LabInfo, env: dict[str, str], tmp_path: Path
) -> None:
    config = _config_with_etcdctl(lab, tmp_path, 'kill -STOP $$\nexec REAL "$@"\n')
    began = time.monotonic()
    save = subprocess.run([*ETCDTUI, "snapshot", "save", str(tmp_path / "s.db"),
                           "--config", str(config), "--on-node", "node2",
                           "--audit-log", str(tmp_path / "audit.log")],
                          capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    took = time.monotonic() - began
    assert save.returncode == 1, save.stderr
    assert _cause_line(save.stderr) == (
        f"etcdtui: no data from node2 for {STALL} s: the transfer stalled"
    )
    assert took < STALL + MARGIN + 3  # + starting Python and connecting
    _no_traceback(save.stderr)
    # The link works: the frozen etcdctl was killed and the node's folder removed at once.
    assert not LEFT.search(save.stderr)
    assert _node_folders(lab, "node2") == []
    wrapper = str(tmp_path / "etcdctl-wrapper")
    deadline = time.monotonic() + 10
    while _running(wrapper):
        assert time.monotonic() < deadline, "the frozen etcdctl was left on the node"
        time.sleep(0.05)


def _running(command: str) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if command.encode() in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


def test_a_command_stalled_by_a_dropped_link_is_not_chased_over_a_new_connection(
    lab: LabInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After a stall, the command is stopped over its own connection if that still works (a
    # frozen etcdctl); over a dead link that fails, and connecting again only waits longer.
    node = load_connection(lab.config_path, "lab").node("node2")
    # A connect timeout past the 5 s the kill gets after a stall: the kill's session request
    # is still waiting on the dead link when the connection is given up.
    shell = SshShell(replace(node, ssh=replace(node.ssh, connect_timeout=8.0)))
    connects: list[str] = []
    connect = Connector.connect

    def counted(self: Connector) -> Any:
        connects.append("connect")
        return connect(self)

    monkeypatch.setattr(Connector, "connect", counted)

    def drop(_stream: str, line: str) -> None:
        if line == "started":
            _link(lab, "node2", "down")

    try:
        with pytest.raises(TransferStalled, match=f"no data from node2 for {STALL} s"):
            shell.run("echo started; exec sleep 30", timeout=30, stall=STALL, on_line=drop)
        assert connects == ["connect"]  # the command's own: no other was tried
        assert not shell.connected
    finally:
        _link(lab, "node2", "up")
        shell.close()


# --- the other transfers ------------------------------------------------------------------------


def test_the_gateway_stream_through_ssh_stalls_with_the_same_one_line(
    lab: LabInfo,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "gateway.db"
    try:
        code, took = _save_in_process(monkeypatch, lab, path, lambda: _link(lab, "node2", "down"),
                                      "--from", "node2")  # fmt: skip
    finally:
        _link(lab, "node2", "up")
    err = capfd.readouterr().err
    assert code == 1, err
    assert STALL - EARLY <= took < STALL + MARGIN
    assert _cause_line(err) == f"etcdtui: no data from node2 for {STALL} s: the transfer stalled"
    _no_traceback(err)
    _nothing_saved(path)


def test_the_restore_copy_to_a_node_whose_link_drops_stops_at_the_stall_timeout(
    lab: LabInfo, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = tmp_path / "big.db"
    snapshot.write_bytes(os.urandom(32 << 20))
    remote = str(Path(lab.node("node2").data_dir).parent / "restore-copy.db")
    sha256 = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    step = Step(id="copy-node2", kind=RestoreKind.COPY, target="node2", command="sftp put",
                why="test", args=CopyArgs("node2", remote, sha256))  # fmt: skip
    struck: list[float] = []

    class Reader:
        """The snapshot file, taking the link down once the copy has sent its first block."""

        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def read(self, size: int) -> bytes:
            if self.handle.tell() > 0 and not struck:
                _link(lab, "node2", "down")
                struck.append(time.monotonic())
            return bytes(self.handle.read(size))

        def __enter__(self) -> Reader:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    def opener(path: Path, mode: str) -> Reader:
        return Reader(open(path, mode))  # Reader closes it

    from etcdtui.clients.ssh.shell import ShellPool

    monkeypatch.setattr(restore_upload, "open", opener, raising=False)
    connection = load_connection(lab.config_path, "lab")
    copier = restore_upload.SnapshotUpload(connection, ShellPool(connection.nodes), snapshot, None)
    try:
        ok, text = copier.copy(step, lambda line: None)
    finally:
        _link(lab, "node2", "up")
        copier.shells.close_all()
    assert struck
    took = time.monotonic() - struck[0]
    assert not ok
    # The connection is gone with the link: the staged plaintext copy cannot be removed now,
    # and the line says where it is.
    assert text == (
        f"copy to node2:{remote} failed: no data from node2 for {STALL} s: the transfer "
        f"stalled; its partial copy {remote}.part may remain on node2"
    )
    assert STALL - EARLY <= took < STALL + MARGIN
    assert not Path(remote).exists()


def test_a_failed_restore_copy_removes_its_staged_plaintext_while_the_node_answers(
    lab: LabInfo, tmp_path: Path
) -> None:
    from etcdtui.clients.ssh.shell import ShellPool

    snapshot = tmp_path / "changed.db"
    snapshot.write_bytes(os.urandom(1 << 20))
    remote = str(Path(lab.node("node2").data_dir).parent / "restore-changed.db")
    planned = hashlib.sha256(b"the file as it was when the plan was made").hexdigest()
    step = Step(id="copy-node2", kind=RestoreKind.COPY, target="node2", command="sftp put",
                why="test", args=CopyArgs("node2", remote, planned))  # fmt: skip
    connection = load_connection(lab.config_path, "lab")
    copier = restore_upload.SnapshotUpload(connection, ShellPool(connection.nodes), snapshot, None)
    try:
        ok, text = copier.copy(step, lambda line: None)
    finally:
        copier.shells.close_all()
    assert not ok and "changed since the plan" in text and "may remain" not in text
    assert not Path(remote).exists() and not Path(remote + ".part").exists()
