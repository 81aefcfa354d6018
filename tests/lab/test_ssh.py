"""The SSH layer against real OpenSSH sshd processes on loopback (no mocks)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from etcdtui.clients.ssh.channel import send_stdin
from etcdtui.clients.ssh.hostkeys import read_known_keys
from etcdtui.clients.ssh.shell import ShellPool, SshShell, quote_sudo
from etcdtui.config import dump_toml, load_connection
from etcdtui.errors import HostKeyError, SshError, SshTimeout, UsageError
from etcdtui.lab.sshd import Sshd, generate_keypair
from tests.helpers.sshd import (
    Keys,
    free_port,
    known_hosts_file,
    make_keys,
    node_for,
    processes_with,
    running_sshd,
    ssh_agent,
)

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("test_ssh")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd"), keys) as server:
        yield server


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the real ~/.ssh and any running ssh-agent out of every test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
def known_hosts(tmp_path: Path, sshd: Sshd) -> Path:
    return known_hosts_file(tmp_path / "known_hosts", sshd)


@pytest.fixture
def shell(sshd: Sshd, keys: Keys, known_hosts: Path) -> Iterator[SshShell]:
    with SshShell(node_for(sshd, keys, known_hosts)) as node_shell:
        yield node_shell


# --- running commands -------------------------------------------------------------------------


def test_command_output_and_exit_code_zero_come_back(shell: SshShell) -> None:
    result = shell.run("echo hello; echo world")
    assert (result.node, result.exit_code, result.stdout, result.stderr) == (
        "node1",
        0,
        "hello\nworld\n",
        "",
    )
    assert result.ok and result.command == "echo hello; echo world" and result.duration > 0


def test_failing_command_returns_its_exit_code_and_stderr(shell: SshShell) -> None:
    result = shell.run("echo partial; ls /no/such/dir; exit 3")
    assert result.exit_code == 3 and not result.ok
    assert result.stdout == "partial\n"
    assert "/no/such/dir" in result.stderr


def test_lines_reach_on_line_in_order_while_the_command_runs(shell: SshShell) -> None:
    seen: list[tuple[float, str, str]] = []
    result = shell.run(
        "echo one; echo oops >&2; sleep 0.8; echo two; printf three",
        on_line=lambda stream, line: seen.append((time.monotonic(), stream, line)),
    )
    finished = time.monotonic()
    assert [(s, line) for _, s, line in seen if s == "stdout"] == [
        ("stdout", "one"),
        ("stdout", "two"),
        ("stdout", "three"),
    ]
    assert [line for _, s, line in seen if s == "stderr"] == ["oops"]
    assert finished - seen[0][0] > 0.5, "the first line arrived only when the command ended"
    assert result.stdout == "one\ntwo\nthree"


@pytest.mark.parametrize("sudo", [False, True])
def test_command_past_its_timeout_is_killed_and_raises(shell: SshShell, sudo: bool) -> None:
    marker = f"{secrets.randbelow(1000) + 100}.{secrets.randbelow(1000)}"
    started = time.monotonic()
    with pytest.raises(SshTimeout) as caught:
        shell.run(f"sleep {marker}; echo never", timeout=0.5, sudo=sudo)
    assert time.monotonic() - started < 30  # the sleep alone lasts over 100 s
    assert "node1" in str(caught.value) and f"sleep {marker}" in str(caught.value)
    # The kill goes over a second channel (TERM, then KILL): allow it some seconds on a busy
    # machine (it failed once at 3 s under load); the sleep itself would outlast 100 s.
    deadline = time.monotonic() + 10
    while processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(f"sleep {marker}") == [], "the remote command is still running"
    assert shell.run("echo still usable").stdout == "still usable\n"


def test_stdin_is_passed_then_closed(shell: SshShell) -> None:
    assert shell.run("cat", stdin=b"line 1\nline 2\n").stdout == "line 1\nline 2\n"
    big = b"x" * 3_000_000  # larger than the SSH window: must be written as it drains
    assert shell.run("wc -c", stdin=big).stdout.strip() == str(len(big))
    # Without stdin the command still sees end-of-file instead of waiting forever.
    assert shell.run("cat", timeout=5).stdout == ""


def test_stdin_sent_into_a_dead_connection_is_dropped_not_raised(shell: SshShell) -> None:
    # paramiko raises EOFError when it cannot write to the connection's socket; sending a
    # command's stdin (or its end-of-file) must treat that as a dead channel, as it does an
    # OSError, or the EOFError reaches the command line as a user's Ctrl+D ("interrupted").
    channel = shell._exec("sleep 30")
    try:
        transport = channel.get_transport()
        assert transport is not None
        transport.sock.shutdown(socket.SHUT_WR)  # writes fail; the transport still looks alive
        assert send_stdin(channel, memoryview(b"")) == (memoryview(b""), True)
    finally:
        shell.close()
    assert shell.run("echo still usable").stdout == "still usable\n"  # a new connection


def test_a_command_ending_as_it_starts_does_not_cost_the_connection(
    shell: SshShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paramiko marks a channel's end-of-file as sent under the channel's lock and sends it
    # after. Hold that message back for longer than a quick command takes: the command ends,
    # its CLOSE is answered, and OpenSSH, getting an end-of-file for a channel it has freed,
    # drops the whole connection.
    send = paramiko.Transport._send_user_message

    def hold_eof(transport: paramiko.Transport, message: paramiko.Message) -> None:
        if message.asbytes()[:1] == paramiko.common.cMSG_CHANNEL_EOF:
            time.sleep(0.5)
        send(transport, message)

    monkeypatch.setattr(paramiko.Transport, "_send_user_message", hold_eof)
    transport = shell.transport
    assert shell.run("true").exit_code == 0
    # Answered only if sshd read every message sent before it without dropping the connection.
    transport.global_request("keepalive@openssh.com", wait=True)
    assert transport.is_active() and shell.transport is transport


def test_undecodable_output_is_replaced_not_fatal(shell: SshShell) -> None:
    assert shell.run(r"printf 'caf\303\251 \377\n'").stdout == "café \ufffd\n"


def test_sudo_runs_the_command_through_sudo_n(sshd: Sshd, keys: Keys, known_hosts: Path) -> None:
    with SshShell(node_for(sshd, keys, known_hosts, sudo=True)) as node_shell:
        result = node_shell.run("id -u; echo user=$SUDO_USER")
        assert result.stdout == "0\nuser=root\n"
        assert result.command == "sudo -n -- sh -c 'id -u; echo user=$SUDO_USER'"
        plain = node_shell.run("echo user=$SUDO_USER", sudo=False)
        assert plain.stdout == "user=\n" and plain.command == "echo user=$SUDO_USER"


def test_quote_sudo_keeps_the_command_one_argument() -> None:
    assert quote_sudo("echo 'a b'; id") == "sudo -n -- sh -c 'echo '\"'\"'a b'\"'\"'; id'"


# --- connections ------------------------------------------------------------------------------


def test_runs_share_one_transport_and_reconnect_when_it_dies(shell: SshShell) -> None:
    shell.run("true")
    first = shell.transport
    shell.run("true")
    assert shell.transport is first
    first.close()  # as if the network dropped the connection
    assert shell.run("echo back").stdout == "back\n"
    assert shell.transport is not first and shell.transport.is_active()


def test_two_threads_run_commands_on_one_connection_at_once(shell: SshShell) -> None:
    shell.connect()
    transport = shell.transport
    results: dict[int, str] = {}

    def work(n: int) -> None:
        results[n] = shell.run(f"date +%s%N; sleep 1; date +%s%N; echo {n}").stdout

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    spans = {n: [int(x) for x in out.split()[:2]] for n, out in results.items()}
    assert {n: out.split()[2] for n, out in results.items()} == {1: "1", 2: "2"}
    # The node's own clock, not the bastion's: the two ran at the same time (each started
    # before the other ended), however loaded the machine.
    assert spans[1][0] < spans[2][1] and spans[2][0] < spans[1][1], spans
    assert shell.transport is transport


def test_unknown_host_key_is_refused_and_not_recorded(
    sshd: Sshd, keys: Keys, tmp_path: Path
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as caught:
        SshShell(node_for(sshd, keys, empty)).connect()
    message = str(caught.value)
    assert (
        f"node1: unknown SSH host key for [127.0.0.1]:{sshd.port} (ssh-ed25519 SHA256:" in message
    )
    assert 'host_key_policy = "accept-new"' in message
    assert empty.read_text() == ""


def test_accept_new_records_the_key_then_strict_connects(
    sshd: Sshd, keys: Keys, tmp_path: Path
) -> None:
    recorded = tmp_path / "new_known_hosts"
    node = node_for(sshd, keys, recorded, host_key_policy="accept-new")
    with SshShell(node) as node_shell:
        assert node_shell.run("echo ok").stdout == "ok\n"
    assert recorded.read_text() == sshd.known_hosts_line + "\n"
    with SshShell(replace(node, ssh=replace(node.ssh, host_key_policy="strict"))) as again:
        assert again.run("echo ok").stdout == "ok\n"
    assert recorded.read_text() == sshd.known_hosts_line + "\n"


def test_changed_host_key_is_refused_even_with_accept_new(
    sshd: Sshd, keys: Keys, tmp_path: Path
) -> None:
    other = generate_keypair(tmp_path / "impostor").split()[:2]
    stale = tmp_path / "stale_known_hosts"
    stale.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other)}\n")
    before = stale.read_text()
    with pytest.raises(HostKeyError, match=r"has CHANGED.*possible man-in-the-middle"):
        SshShell(node_for(sshd, keys, stale, host_key_policy="accept-new")).connect()
    assert stale.read_text() == before


def test_hashed_known_hosts_entry_is_recognised(sshd: Sshd, keys: Keys, tmp_path: Path) -> None:
    name, key = sshd.known_hosts_line.split(" ", 1)
    hashed = tmp_path / "hashed_known_hosts"
    hashed.write_text(f"{paramiko.HostKeys.hash_host(name)} {key}\n")
    with SshShell(node_for(sshd, keys, hashed)) as node_shell:
        assert node_shell.run("echo ok").ok


def test_closed_port_reports_connection_refused(keys: Keys, tmp_path: Path, sshd: Sshd) -> None:
    port = free_port()
    node = node_for(replace(sshd, port=port), keys, tmp_path / "kh")
    with pytest.raises(
        SshError, match=f"node1: cannot connect to 127.0.0.1:{port}: connection refused"
    ):
        SshShell(node).run("true")


def test_silent_server_times_out_after_connect_timeout(
    keys: Keys, tmp_path: Path, sshd: Sshd
) -> None:
    with socket.socket() as silent:  # accepts TCP (backlog) but never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        dead = replace(sshd, port=silent.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(SshTimeout, match=r"timed out after 0\.5 s"):
            SshShell(node_for(dead, keys, tmp_path / "kh", connect_timeout=0.5)).connect()
        assert time.monotonic() - started < 10  # a silent server would hold it forever


def test_unknown_host_name_reports_dns_failure(keys: Keys, tmp_path: Path, sshd: Sshd) -> None:
    node = node_for(replace(sshd, host="no-such-node.invalid"), keys, tmp_path / "kh")
    with pytest.raises(SshError, match="cannot resolve host name"):
        SshShell(node).connect()


def test_wrong_identity_fails_authentication_naming_what_was_tried(
    sshd: Sshd, keys: Keys, known_hosts: Path
) -> None:
    node = node_for(sshd, keys, known_hosts, identity_file=str(keys.wrong))
    with pytest.raises(SshError) as caught:
        SshShell(node).connect()
    assert not isinstance(caught.value, HostKeyError)
    message = str(caught.value)
    assert "authentication failed for user root (tried: " in message
    assert f"key file {keys.wrong}" in message and "agent" in message


def test_agent_key_logs_in_and_agent_false_ignores_it(
    sshd: Sshd, keys: Keys, known_hosts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = node_for(sshd, keys, known_hosts, identity_file=None)
    with ssh_agent(tmp_path, keys.good) as sock:
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        with SshShell(node) as node_shell:
            assert node_shell.run("echo via agent").stdout == "via agent\n"
        with pytest.raises(SshError, match="authentication failed"):
            SshShell(node, agent=False).connect()


def test_ssh_config_alias_supplies_hostname_port_user_and_key(
    sshd: Sshd, keys: Keys, known_hosts: Path, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host db-node\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {keys.good}\n"
        f"Host stale-port\n  HostName 127.0.0.1\n  Port {free_port()}\n  User nobody\n"
        f"  IdentityFile {keys.wrong}\n"
    )
    alias = node_for(
        sshd, keys, known_hosts, host="db-node", port=None, user=None, identity_file=None
    )
    with SshShell(alias, ssh_config=config) as node_shell:
        assert node_shell.run("whoami").stdout == "root\n"
    # The node's own port, user and key win over what the config says for the alias.
    explicit = node_for(sshd, keys, known_hosts, host="stale-port")
    with SshShell(explicit, ssh_config=config) as node_shell:
        assert node_shell.run("whoami").stdout == "root\n"


def test_proxy_jump_reaches_a_node_through_a_jump_sshd(
    sshd: Sshd, keys: Keys, tmp_path: Path
) -> None:
    with running_sshd(tmp_path / "target", keys, host="127.0.0.2") as target:
        config = tmp_path / "ssh_config"
        config.write_text(
            f"Host jump\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
            f"  IdentityFile {keys.good}\n"
            f"Host target\n  HostName 127.0.0.2\n  Port {target.port}\n  ProxyJump jump\n"
        )
        both = known_hosts_file(tmp_path / "kh_both", sshd, target)
        node = node_for(target, keys, both, host="target", port=None)
        with SshShell(node, ssh_config=config) as node_shell:
            result = node_shell.run("echo $SSH_CONNECTION")
            assert result.stdout.split()[2:] == ["127.0.0.2", str(target.port)]
            # The node's transport runs over a channel of the jump host's connection.
            assert node_shell.transport.getpeername() == ("127.0.0.1", sshd.port)
        # The jump host's key is checked too: without it, nothing connects.
        only_target = known_hosts_file(tmp_path / "kh_target", target)
        with pytest.raises(
            HostKeyError, match=rf"unknown SSH host key for \[127.0.0.1\]:{sshd.port}"
        ):
            SshShell(
                replace(node, ssh=replace(node.ssh, known_hosts=str(only_target))),
                ssh_config=config,
            ).connect()
        # And the node's own proxy_jump field names the jump host directly.
        direct = node_for(target, keys, both, proxy_jump=f"root@127.0.0.1:{sshd.port}")
        with SshShell(direct) as node_shell:
            assert node_shell.run("echo ok").stdout == "ok\n"


def test_jump_host_has_its_own_host_key_policy_strict_by_default(
    sshd: Sshd, keys: Keys, tmp_path: Path
) -> None:
    with running_sshd(tmp_path / "target", keys, host="127.0.0.2") as target:
        known = tmp_path / "kh"
        # The node itself is accept-new; its jump host (unknown) is not, unless named.
        node = node_for(target, keys, known, host_key_policy="accept-new",
                        proxy_jump=f"root@127.0.0.1:{sshd.port}")  # fmt: skip
        with pytest.raises(HostKeyError, match=r"unknown SSH host key for \[127.0.0.1\]") as err:
            SshShell(node).connect()
        assert 'jump_host_key_policies = { "127.0.0.1" = "accept-new" }' in err.value.message
        assert not known.exists() or str(sshd.port) not in known.read_text()
        policies = {"127.0.0.1": "accept-new"}
        named = replace(node, ssh=replace(node.ssh, jump_host_key_policies=policies))
        with SshShell(named) as node_shell:
            assert node_shell.run("echo ok").stdout == "ok\n"
        recorded = known.read_text()
        assert f"[127.0.0.1]:{sshd.port}" in recorded and f"[127.0.0.2]:{target.port}" in recorded


def test_jump_host_key_policy_is_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(dump_toml({"clusters": {"c": {
        "endpoints": ["http://127.0.0.1:2379"],
        "nodes": {"n1": {"ssh": {"host": "n1", "proxy_jump": "bastion",
                                 "jump_host_key_policies": {"bastion": "accept-new"}}},
                  "n2": {"ssh": {"host": "n2", "proxy_jump": "bastion"}}},
    }}}))  # fmt: skip
    connection = load_connection(path, "c")
    assert connection.node("n1").ssh.jump_policy("bastion") == "accept-new"
    assert connection.node("n2").ssh.jump_policy("bastion") == "strict"
    path.write_text(path.read_text().replace('"accept-new"', '"yes"'))
    with pytest.raises(UsageError, match=r"jump_host_key_policies\.bastion: expected 'strict'"):
        load_connection(path, "c")


def test_jump_host_failure_names_the_jump_host(sshd: Sshd, keys: Keys, tmp_path: Path) -> None:
    closed = free_port()
    node = node_for(sshd, keys, tmp_path / "kh", proxy_jump=f"root@127.0.0.1:{closed}")
    with pytest.raises(SshError, match=f"jump host 127.0.0.1:{closed}: connection refused"):
        SshShell(node).connect()


def test_sftp_and_tunnel_use_the_node_connection(
    shell: SshShell, tmp_path: Path, sshd: Sshd
) -> None:
    remote = tmp_path / "remote.txt"
    sftp = shell.open_sftp()
    try:
        with sftp.open(str(remote), "w") as handle:
            handle.write(b"copied")
    finally:
        sftp.close()
    assert remote.read_bytes() == b"copied"
    channel = shell.open_channel("127.0.0.1", sshd.port, timeout=3)
    try:
        channel.settimeout(3)
        assert channel.recv(100).startswith(b"SSH-2.0-OpenSSH")
    finally:
        channel.close()
    with pytest.raises(SshError, match="cannot open a tunnel"):
        shell.open_channel("127.0.0.1", free_port(), timeout=3)


def test_pool_reuses_one_shell_per_node_and_rejects_unknown_nodes(
    sshd: Sshd, keys: Keys, known_hosts: Path
) -> None:
    pool = ShellPool([node_for(sshd, keys, known_hosts, name=n) for n in ("a", "b")])
    try:
        assert pool.shell("a") is pool.shell("a") and pool.shell("a") is not pool.shell("b")
        b = pool.shell("b")
        assert b.run("echo b").stdout == "b\n" and b.connected
        with pytest.raises(UsageError, match="nodes: a, b"):
            pool.shell("c")
    finally:
        pool.close_all()
    assert not b.connected


def test_accept_new_without_known_hosts_setting_uses_the_users_file(
    sshd: Sshd, keys: Keys, isolated_home: Path
) -> None:
    user_file = isolated_home / ".ssh" / "known_hosts"
    node = node_for(sshd, keys, None, host_key_policy="accept-new")
    with SshShell(node) as node_shell:
        assert node_shell.run("true").ok
    assert user_file.read_text() == sshd.known_hosts_line + "\n"


def test_accepted_key_goes_on_its_own_line_after_a_hand_edited_file(
    sshd: Sshd, keys: Keys, tmp_path: Path
) -> None:
    edited = tmp_path / "edited_known_hosts"
    edited.write_text("# no final newline")
    with SshShell(node_for(sshd, keys, edited, host_key_policy="accept-new")) as node_shell:
        node_shell.connect()
    assert edited.read_text() == f"# no final newline\n{sshd.known_hosts_line}\n"


def test_known_hosts_patterns_match_like_openssh(tmp_path: Path) -> None:
    key = generate_keypair(tmp_path / "k").split()[:2]
    entry = " ".join(key)
    listing = tmp_path / "patterns"
    listing.write_text(
        f"[127.0.0.*]:2201,!*.9]:2201 {entry}\n"  # brackets are literal, not a character class
        f"@cert-authority *.example.com {entry}\n"
        "garbage line\n"
        f"db?.example.com {entry}\n"
    )
    assert [k.lineno for k in read_known_keys([listing], "[127.0.0.5]:2201")] == [1]
    assert read_known_keys([listing], "[127.0.0.9]:2201") == []
    assert read_known_keys([listing], "[127.0.0.5]:22") == []
    assert [k.lineno for k in read_known_keys([listing], "DB1.example.com")] == [4]
    assert read_known_keys([listing], "host.example.com") == []


def test_ssh_config_proxy_command_is_refused_with_a_reason(
    sshd: Sshd, keys: Keys, known_hosts: Path, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host proxied\n  ProxyCommand nc %h %p\n")
    node = node_for(sshd, keys, known_hosts, host="proxied")
    with pytest.raises(SshError, match=r"node1: .*ProxyCommand.*not support"):
        SshShell(node, ssh_config=config).connect()


def test_missing_identity_file_is_named_in_the_failure(
    sshd: Sshd, keys: Keys, known_hosts: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no_such_key"
    with pytest.raises(SshError, match=f"key file {missing} \\(does not exist\\)"):
        SshShell(node_for(sshd, keys, known_hosts, identity_file=str(missing))).connect()


_CONNECT_SCRIPT = """
import sys
from etcdtui.clients.ssh.shell import SshShell
from etcdtui.config import NodeConfig, SshTarget
from etcdtui.errors import SshError

target = SshTarget(host="127.0.0.1", port=int(sys.argv[1]), user="root", connect_timeout=3)
try:
    SshShell(NodeConfig(name="node1", ssh=target)).connect()
except SshError as exc:
    print(exc)
"""


def test_non_ssh_server_is_reported_without_printing_tracebacks(tmp_path: Path) -> None:
    # In a fresh interpreter: under pytest, log records never reach Python's stderr fallback.
    with socket.socket() as http:
        http.bind(("127.0.0.1", 0))
        http.listen()

        def answer() -> None:
            conn, _ = http.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        client = subprocess.run(
            [sys.executable, "-c", _CONNECT_SCRIPT, str(http.getsockname()[1])],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "HOME": str(tmp_path)},
        )
        server.join(5)
    assert "does not speak SSH" in client.stdout
    assert client.stderr == ""
