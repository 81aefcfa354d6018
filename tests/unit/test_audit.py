"""The runbooks' audit log: real files in tmp_path, real concurrent writers, no secrets."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import getpass
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from etcdtui.errors import EtcdtuiError
from etcdtui.runbooks import audit
from etcdtui.runbooks.audit import (
    AuditEntry,
    AuditLog,
    AuditLogError,
    default_audit_path,
    new_run_id,
    redact,
)

FIELDS = {f.name for f in dataclasses.fields(AuditEntry)}
KEY_PATH = "/etc/kubernetes/pki/etcd/healthcheck-client.key"


def _record(log: AuditLog, step: int = 0, **kw: Any) -> AuditEntry:
    args: dict[str, Any] = {
        "cluster": "prod",
        "runbook": "defrag",
        "run_id": "20261125T143000Z-3f2a",
        "step": step,
        "step_id": f"defrag-{step}",
        "target": "node-1",
        "command": "etcdctl defrag",
        "exit_code": 0,
        "duration": 0.5,
    }
    args.update(kw)
    return log.record(**args)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- creation and permissions ----------------------------------------------------------------


def test_creates_file_0600_and_missing_folders_0700_whatever_the_umask(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "state" / "etcdtui" / "audit.log"
    old = os.umask(0o277)  # would give 0400 files and 0500 folders without the chmods
    try:
        _record(AuditLog(path))
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert _mode(path.parent.parent) == 0o700
    assert _mode(tmp_path) == 0o755  # an existing folder is left alone


def test_existing_group_writable_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text("")
    path.chmod(0o664)
    with pytest.raises(AuditLogError, match=r"writable by others \(mode 664\)") as err:
        _record(AuditLog(path))
    assert str(path) in str(err.value)
    assert path.read_text() == ""
    assert _mode(path) == 0o664


def test_existing_readable_file_is_written_with_a_warning_and_never_chmodded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.log"
    path.write_text("")
    path.chmod(0o644)
    log = AuditLog(path)
    _record(log)
    assert "readable by others (mode 644)" in log.warning
    assert _mode(path) == 0o644
    assert len(path.read_text().splitlines()) == 1
    path.chmod(0o600)
    _record(log)
    assert log.warning == ""


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_file_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text("")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(AuditLogError, match="owned by uid 65534"):
        _record(AuditLog(path))
    assert path.read_text() == ""


# -- the line format -------------------------------------------------------------------------


def test_one_json_object_per_line_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    first = _record(log, 0, duration=1.23456, output="ok\n")
    second = _record(log, 1, exit_code=3, note="retry later", output="boom\n")
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    objs = [json.loads(line) for line in lines]
    assert all(set(obj) == FIELDS for obj in objs)
    assert objs[0] == dataclasses.asdict(first)
    assert objs[1] == dataclasses.asdict(second)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", objs[0]["time"])
    when = datetime.fromisoformat(objs[0]["time"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60
    assert objs[0]["user"] == getpass.getuser()
    assert objs[0]["host"] == socket.gethostname()
    assert (objs[0]["step"], objs[0]["step_id"], objs[0]["target"]) == (0, "defrag-0", "node-1")
    assert objs[0]["duration"] == 1.235
    assert (objs[0]["exit_code"], objs[0]["ok"]) == (0, True)
    assert (objs[1]["exit_code"], objs[1]["ok"]) == (3, False)
    assert objs[1]["note"] == "retry later"
    assert objs[1]["output_tail"] == "boom"


def test_output_tail_keeps_the_last_20_lines_and_2000_chars(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    entry = _record(log, output="".join(f"line {i}\n" for i in range(100)))
    assert entry.output_tail.splitlines() == [f"line {i}" for i in range(80, 100)]
    entry = _record(log, output="x" * 5000 + "END")
    assert len(entry.output_tail) == 2000
    assert entry.output_tail.endswith("xEND")


def test_two_processes_appending_at_once_give_intact_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from etcdtui.runbooks.audit import AuditLog\n"
        "import time\n"
        "log = AuditLog(Path(sys.argv[1]))\n"
        "who = sys.argv[2]\n"
        "time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # start together\n"
        "for i in range(200):\n"
        "    log.record(cluster='c', runbook='r', run_id=who, step=i, step_id=f's{i}',\n"
        "               target=who, command='etcdctl defrag', exit_code=0, duration=0.1,\n"
        "               output=(who * 40 + '\\n') * 20)\n"
    )
    start = str(time.time() + 1.5)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), who, start])
        for who in ("A", "B")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    objs = [json.loads(line) for line in lines[:-1]]
    assert len(objs) == 400
    for who in ("A", "B"):
        mine = [o for o in objs if o["run_id"] == who]
        assert [o["step"] for o in mine] == list(range(200))
        assert all(o["output_tail"] == "\n".join([who * 40] * 20) for o in mine)


# -- redaction --------------------------------------------------------------------------------

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1G"
HEX_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
B64_KEY = "c2VjcmV0IGlzIHNlY3VyZSBhbmQgbG9uZyBlbm91Z2g="

# (text, secrets that must disappear, text that must stay)
SECRET_CASES = [
    (
        f"before\n-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\nafter",
        ["MIIEvQIBADAN", "VJTUt9Us8cKj", "PRIVATE KEY"],
        ["before", "after"],
    ),
    (
        f"cat key\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n{PEM_BODY}",
        ["MIIEvQIBADAN", "VJTUt9Us8cKj", "ENCRYPTED"],
        ["cat key"],
    ),
    (f"{PEM_BODY}\n-----END EC PRIVATE KEY-----\ndone", ["MIIEvQIBADAN", "VJTUt9Us8cKj"], ["done"]),
    ("etcdctl --password=hunter2 member list", ["hunter2"], ["--password=", "member list"]),
    ("etcdctl --password hunter2 member list", ["hunter2"], ["--password ", "member list"]),
    ("etcdctl --password 'two words' get /x", ["two words", "words'"], ["get /x"]),
    ("etcdctl --user=root:hunter2 get /x", ["hunter2"], ["--user=root:[REDACTED] get /x"]),
    ("etcdctl --user root:hunter2 get /x", ["hunter2"], ["--user root:[REDACTED] get /x"]),
    ("ETCDCTL_PASSWORD=hunter2 etcdctl endpoint health", ["hunter2"], ["endpoint health"]),
    ("ETCDCTL_USER=root:hunter2 etcdctl get", ["hunter2"], ["ETCDCTL_USER=root:"]),
    ("curl -H 'Authorization: Bearer eyJhbGciOiJSUzI1' https://x", ["eyJhbGciOiJSUzI1"], []),
    ("curl -H 'Authorization: Basic cm9vdDpodW50ZXIy' https://x", ["cm9vdDpodW50ZXIy"], ["curl"]),
    ("wget --header='X-Auth: Bearer eyJhbGciOiJSUzI1' https://x", ["eyJhbGciOiJSUzI1"], ["wget"]),
    ("GET https://api:6443/healthz?token=abc123def&x=1", ["abc123def"], ["https://api:6443"]),
    ("kubectl --token=abc123def get nodes", ["abc123def"], ["get nodes"]),
    ("etcdtui backup --passphrase hunter2 --to /b", ["hunter2"], ["--to /b"]),
    ("etcdtui backup --encrypt-passphrase=hunter2 --to /b", ["hunter2"], ["--to /b"]),
    (f"key={B64_KEY}", [B64_KEY, "c2VjcmV0"], ["key="]),
    (f"encryption key: {HEX_KEY}\n", [HEX_KEY, "9f86d081"], ["encryption key: "]),
    (f"- name: key1\n  secret: {B64_KEY}", [B64_KEY], ["name: key1"]),
    ("etcdctl --endpoints https://root:hunter2@10.0.0.1:2379 get", ["hunter2"], ["10.0.0.1"]),
]

# Issue 13: a corpus of secret shapes, kept as data. Each: (text, secrets that must not reach
# the audit log file in any form, text that must stay).
OPENSSH_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
SECRET_SHAPES = [
    ('{"password": "hunter2", "user": "root"}', ["hunter2"], ['"user": "root"']),
    ('{"password":"hun\\"ter2","x":1}', ["hun", "ter2"], ['"x":1']),
    ("{'password': 'hunter2'}", ["hunter2"], []),
    ('{"auth": {"secret": "s3cr3tValue"}}', ["s3cr3tValue"], ['"auth"']),
    ("client_secret=abcXYZ123 --next", ["abcXYZ123"], ["--next"]),
    ('{"apiToken": "tok-123456789"}', ["tok-123456789"], []),
    ("api_token: tok-123456789", ["tok-123456789"], ["api_token: "]),
    ("access_token=ya29.a0AfH6SMB&expires=3600", ["ya29.a0AfH6SMB"], []),
    ("token: eyJhbGciOiJSUzI1NiIsImtpZCI6", ["eyJhbGciOiJSUzI1NiIsImtpZCI6"], ["token: "]),
    ("curl -H 'X-API-Key: k-99887766' https://x", ["k-99887766"], ["https://x"]),
    ("curl -H 'X-Auth-Token: abcdef123456' https://x", ["abcdef123456"], ["https://x"]),
    ("curl -u admin:hunter2 https://x", ["hunter2"], ["-u admin:[REDACTED] https://x"]),
    ("curl -uadmin:hunter2 https://x", ["hunter2"], ["-uadmin:[REDACTED]"]),
    ("curl --user 'admin:hun ter2' https://x", ["hun ter2", "ter2"], ["--user 'admin:"]),
    ("etcdctl --user=root:hunter2 --password=hunter3 get /", ["hunter2", "hunter3"], ["get /"]),
    ("curl -H 'Authorization: token ghp_abcdef1234567890' https://x", ["ghp_abcdef1234567890"], []),
    ("Proxy-Authorization: Basic cm9vdDpodW50ZXIy", ["cm9vdDpodW50ZXIy"], []),
    ('{"headers": {"Authorization": "Bearer eyJhbGciOiJI"}}', ["eyJhbGciOiJI"], ["headers"]),
    ("git clone https://bob:p@ss@w0rd@git.example.com/r.git", ["p@ss", "w0rd"], ["git.example"]),
    ("redis://:hunter2@10.0.0.5:6379/0", ["hunter2"], ["10.0.0.5:6379"]),
    ("mysql://app:hunter2@db:3306/x", ["hunter2"], ["mysql://app:", "db:3306"]),
    ("ETCDCTL_PASSWORD='two words' etcdctl get", ["two words", "words'"], ["etcdctl get"]),
    ("export ETCDTUI_PASSPHRASE=correct-horse-battery", ["correct-horse"], ["export"]),
    ("Snapshot passphrase: correct-horse-battery", ["correct-horse"], ["Snapshot"]),
    ("PGPASSWORD=hunter2 psql -h db", ["hunter2"], ["psql -h db"]),
    (
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{OPENSSH_BODY}\n-----END OPENSSH PRIVATE KEY-----",
        [OPENSSH_BODY[:24], OPENSSH_BODY[-24:]],
        [],
    ),
    (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGXyzABCDEFGH\n"
        "-----END PGP PRIVATE KEY BLOCK-----\nok",
        ["lQOYBGXyzABCDEFGH"],
        ["ok"],
    ),
    (  # a private key inside JSON: literal \n between the lines
        '{"key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq\\n-----END PRIVATE KEY-----"}',
        ["MIIEvQIBADANBgkq"],
        ['{"key": "'],
    ),
    (  # ... and one whose BEGIN line was cut off
        '"tail": "QIBADANBgkqhkiG9\\nVJTUt9Us8cKjMzEf\\n-----END RSA PRIVATE KEY-----"',
        ["QIBADANBgkqhkiG9", "VJTUt9Us8cKjMzEf"],
        ['"tail": "'],
    ),
    (f"    client-key-data: {B64_KEY[:-1]}{B64_KEY}", [B64_KEY[:20]], ["client-key-data: "]),
    ("  client-key-data: LS0tLS1CRUdJTiBSU0E=\n  token: abc", ["LS0tLS1CRUdJTi", "abc"], []),
    (f"kubeadm init --upload-certs --certificate-key {HEX_KEY}", [HEX_KEY[:16]], ["--upload"]),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEX", ["wJalrXUtnFEMI"], ["aws_"]),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", ["wJalrXUtnFEMI"], ["AWS_SECRET"]),
    ('{"data": {"password": "aHVudGVyMg=="}}', ["aHVudGVyMg"], ['{"data": ']),
    ("kubectl create secret generic db --from-literal=password=hunter2", ["hunter2"], ["db"]),
    ("kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef", ["0123456789abcdef"], []),
    ("--client-secret=s3cr3t --api-key k-1234567", ["s3cr3t", "k-1234567"], []),
]

KEPT = [
    f"etcdctl --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/x.crt --key {KEY_PATH}",
    f"etcdctl --key={KEY_PATH} endpoint status",
    "etcdutl snapshot restore s.db --initial-cluster-token etcd-cluster-1 --name m1",
    "etcd --initial-cluster-token=etcd-cluster-1 --peer-key-file=/etc/etcd/peer.key",
    "etcdctl --user root get /x",
    "etcdctl --password-file /root/etcd.pw get /x",
    "key=/etc/etcd/encryption-at-rest-key.bin",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  snap.db",
    "Error: etcdserver: authentication failed, invalid user ID or password",
    "initial-cluster-token: etcd-cluster-1",
    "ETCD_INITIAL_CLUSTER_TOKEN=etcd-cluster-1",
    "secretName: etcd-certs",
    "kind: Secret",
    '"type": "kubernetes.io/service-account-token"',
    "endpoint http://[fd00::1]:2379 is healthy",
    "docker run -u 1000 img; sort -u names.txt",
    f"ETCDCTL_KEY={KEY_PATH} ETCDCTL_CERT=/etc/etcd/c.crt etcdctl get",
    "kubeadm join --discovery-token-ca-cert-hash sha256:" + HEX_KEY,
    "https://10.0.0.1:2379,https://10.0.0.2:2379",
]


@pytest.mark.parametrize(("text", "secrets", "kept"), SECRET_CASES)
def test_secrets_are_redacted_everywhere_before_writing(
    tmp_path: Path, text: str, secrets: list[str], kept: list[str]
) -> None:
    path = tmp_path / "audit.log"
    entry = _record(AuditLog(path), command=text, output=text, note=text)
    raw = path.read_text()
    for secret in secrets:
        assert secret not in raw
        assert secret not in json.dumps(dataclasses.asdict(entry))
    assert "[REDACTED]" in entry.command
    assert "[REDACTED]" in entry.output_tail
    assert "[REDACTED]" in entry.note
    for keep in kept:
        assert keep in entry.command and keep in entry.note and keep in entry.output_tail


def test_the_secret_corpus_has_at_least_twenty_shapes() -> None:
    assert len(SECRET_SHAPES) >= 20


@pytest.mark.parametrize(("text", "secrets", "kept"), SECRET_SHAPES)
def test_no_secret_shape_survives_into_the_audit_log_file(
    tmp_path: Path, text: str, secrets: list[str], kept: list[str]
) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    # In every redacted field, and in an output long enough to be cut to its tail.
    _record(log, command=text, note=f"note: {text}", output=text)
    _record(log, 1, output="x\n" * 500 + text + "\n")
    raw = path.read_bytes()
    for secret in secrets:
        for form in (secret, json.dumps(secret)[1:-1]):  # as written, and as JSON escapes it
            assert form.encode() not in raw, (form, raw)
    entries = log.recent()
    assert len(entries) == 2
    for entry in entries:
        assert "[REDACTED]" in entry.output_tail
    for keep in kept:
        assert keep in entries[0].command


@pytest.mark.parametrize("text", KEPT)
def test_key_file_paths_and_harmless_text_are_kept(text: str) -> None:
    assert redact(text) == text


def test_audit_keeps_the_key_file_path_but_not_the_password(tmp_path: Path) -> None:
    command = f"ETCDCTL_PASSWORD=s3cret etcdctl --key {KEY_PATH} --password=s3cret member list"
    entry = _record(AuditLog(tmp_path / "audit.log"), command=command)
    assert entry.command == (
        f"ETCDCTL_PASSWORD=[REDACTED] etcdctl --key {KEY_PATH} --password=[REDACTED] member list"
    )


# -- recent() --------------------------------------------------------------------------------


def test_recent_returns_the_newest_in_order_and_skips_corrupted_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    assert log.recent() == []
    for i in range(30):
        _record(log, i)
        if i == 25:
            with path.open("ab") as f:
                f.write(b'{"time": "torn li\n[1, 2]\n{"step": "x"}\n\n')
    newest = log.recent(10)
    assert [e.step for e in newest] == list(range(20, 30))
    assert all(isinstance(e, AuditEntry) for e in newest)
    assert [e.step for e in log.recent(1000)] == list(range(30))
    assert log.recent(0) == []


def test_recent_across_many_blocks(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    for i in range(600):
        _record(log, i, output="y" * 300)  # ~600 bytes a line: ~6 blocks of 64 KiB
    assert [e.step for e in log.recent(500)] == list(range(100, 600))


def test_recent_reads_the_tail_not_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.log"
    with path.open("wb") as f:
        f.truncate(200 * 1024 * 1024)  # a 200 MB (sparse) prefix without a single newline
    path.chmod(0o600)
    log = AuditLog(path)
    for i in range(20):
        _record(log, i)
    read = 0
    real_open = open

    class Counting:
        def __init__(self, f: Any) -> None:
            self.f = f

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def seek(self, *args: int) -> int:
            return int(self.f.seek(*args))

        def read(self, size: int = -1) -> bytes:
            nonlocal read
            data: bytes = self.f.read(size)
            read += len(data)
            return data

    monkeypatch.setattr(audit, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    assert [e.step for e in log.recent(5)] == [15, 16, 17, 18, 19]
    assert read <= 128 * 1024


# -- failures --------------------------------------------------------------------------------


def _one_line(err: pytest.ExceptionInfo[AuditLogError], path: Path, why: str) -> None:
    assert isinstance(err.value, EtcdtuiError)
    assert err.value.message.startswith(f"cannot write the audit log {path}: ")
    assert why in err.value.message
    assert "\n" not in str(err.value)


def test_unwritable_location_gives_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "audit.log"
    with pytest.raises(AuditLogError) as err:
        _record(AuditLog(path))
    _one_line(err, path, "Not a directory")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(AuditLogError) as err:
        _record(AuditLog(folder))
    _one_line(err, folder, "Is a directory")


def test_disk_full_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.log"

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(AuditLogError) as err:
        _record(AuditLog(path))
    _one_line(err, path, "No space left on device")


def test_short_write_raises_and_the_next_line_stays_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    real_write = os.write
    calls: list[int] = []

    def half(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, data[: len(data) // 2] if len(calls) == 1 else data)

    _record(log, 0)
    before = path.read_bytes()
    monkeypatch.setattr(os, "write", half)
    with pytest.raises(AuditLogError, match="short write"):
        _record(log, 1)
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == before  # the torn half line was cut away
    _record(log, 2)
    assert [e.step for e in log.recent()] == [0, 2]
    assert all(json.loads(line) for line in path.read_text().splitlines())


# -- paths and ids ---------------------------------------------------------------------------


def test_xdg_state_home_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_audit_path() == tmp_path / "xdg" / "etcdtui" / "audit.log"
    log = AuditLog()
    _record(log)
    assert (tmp_path / "xdg" / "etcdtui" / "audit.log").is_file()
    assert log.path == tmp_path / "xdg" / "etcdtui" / "audit.log"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in ("", "relative/dir"):
        monkeypatch.setenv("XDG_STATE_HOME", unset)
        expected = tmp_path / "home" / ".local" / "state" / "etcdtui" / "audit.log"
        assert default_audit_path() == expected
    assert AuditLog(tmp_path / "elsewhere.log").path == tmp_path / "elsewhere.log"


def test_run_ids_are_time_sortable() -> None:
    run_id = new_run_id()
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", run_id)
    stamp = datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert sorted(["20000101T000000Z-ffff", run_id]) == ["20000101T000000Z-ffff", run_id]


# -- hostile paths, torn writes for real (issue 13) -------------------------------------------


def test_a_symlink_at_the_log_path_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "passwd-lookalike"
    target.write_text("root:x:0:0\n")
    target.chmod(0o600)
    link = tmp_path / "audit.log"
    link.symlink_to(target)
    with pytest.raises(AuditLogError) as err:
        _record(AuditLog(link))
    _one_line(err, link, "symbolic link")
    assert target.read_text() == "root:x:0:0\n"
    dangling = tmp_path / "dangling.log"
    dangling.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(AuditLogError, match="symbolic link"):
        _record(AuditLog(dangling))
    assert not (tmp_path / "would-be-created").exists()
    with pytest.raises(AuditLogError, match="symbolic link"):
        AuditLog(link).recent()


def test_a_fifo_at_the_log_path_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "audit.log"
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()
    with pytest.raises(AuditLogError) as err:
        _record(AuditLog(fifo))
    _one_line(err, fifo, "not a regular file")
    with pytest.raises(AuditLogError, match="not a regular file"):
        AuditLog(fifo).recent()
    assert time.monotonic() - started < 10  # neither open waited for a reader or a writer


def test_a_log_with_another_hard_link_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    _record(AuditLog(path))
    os.link(path, tmp_path / "other-name")
    with pytest.raises(AuditLogError, match="2 hard links"):
        _record(AuditLog(path), 1)
    assert len(path.read_text().splitlines()) == 1


def test_a_log_locked_by_another_writer_gives_up_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    path = tmp_path / "audit.log"
    _record(AuditLog(path))
    monkeypatch.setattr(audit, "LOCK_WAIT", 0.2)
    with path.open("ab") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        with pytest.raises(AuditLogError, match="locked by another writer"):
            _record(AuditLog(path), 1)
    assert len(path.read_text().splitlines()) == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs: writes on it really run out of space part-way."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mnt)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, f"cannot mount a tmpfs as root: {done.stderr.strip()}"
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _fill(path: Path) -> None:
    """Take every free block of the file system `path` is on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, b"f" * 4096):
                pass
    finally:
        os.close(fd)


def test_disk_full_part_way_through_a_line_cuts_it_back(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_disk / "audit.log"
    log = AuditLog(path)
    _record(log, 0)
    before = path.read_bytes()
    _fill(small_disk / "filler")
    real_write = os.write
    written: list[int] = []

    def spy(fd: int, data: bytes) -> int:  # the real write; only remembers what it returned
        n = real_write(fd, data)
        written.append(n)
        return n

    with monkeypatch.context() as patch, pytest.raises(AuditLogError) as err:
        patch.setattr(os, "write", spy)
        _record(log, 1, note="n" * 20000)  # far more than the page the log has left
    assert 0 < written[0] < 20000  # the kernel really stored part of the line
    assert "short write" in err.value.message or "No space left" in err.value.message
    assert path.read_bytes() == before  # ... and it was cut back
    _record(log, 2)  # fits in the page the log already holds
    (small_disk / "filler").unlink()
    _record(log, 3, note="m" * 20000)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["step"] for line in lines[:-1]] == [0, 2, 3]
