"""Bad input on the command line: one line on stderr, exit 2, within seconds.

Each case runs the real CLI (`python -m etcdtui`) in a folder holding the hostile files: a
FIFO with no writer, a Unix socket, a directory, configs nested 10,000 levels deep or larger
than the 1 MiB limit. No case starts a cluster: every input is refused before a connection is
made, and the few that need an endpoint name a closed port (9, below the ephemeral range).
A FIFO read by mistake would hang, so the subprocess timeout is the backstop and the 10-second
bound is the assertion.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import pytest

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("test_bad_input")

DATA = Path(__file__).resolve().parents[1] / "data"
CLOSED = "127.0.0.1:9"  # nothing listens on the discard port here
LIMIT = 10.0  # seconds, interpreter start-up included: far from a hang, held by a loaded CI

ROOT = os.geteuid() == 0
OK_CONFIG = '[clusters.lab]\nendpoints = ["http://127.0.0.1:9"]\n'


def config(body: str) -> str:
    return OK_CONFIG + body


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The working folder of every case, with the files the cases name."""
    root = tmp_path_factory.mktemp("bad-input")
    os.mkfifo(root / "fifo")  # never opened for writing: reading it would wait forever
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    (root / "dir").mkdir()
    (root / "fifo-link").symlink_to(root / "fifo")
    (root / "dangling").symlink_to(root / "nowhere")
    files = {
        "ok.toml": OK_CONFIG,
        "two.toml": OK_CONFIG + '[clusters.other]\nendpoints = ["h:1"]\n',
        "empty.toml": "",
        "deep-array.toml": "a = " + "[" * 10_000 + "]" * 10_000 + "\n",
        "deep-table.toml": "a = " + "{b = " * 10_000 + "1" + "}" * 10_000 + "\n",
        "big.toml": "# padding\n" * 110_000,  # 1.1 MB of comments: refused before parsing
        "huge-int.toml": "a = 1" + "0" * 5_000 + "\n",
        "fifo-ca.toml": config('cacert = "fifo"\n'),
        "zero-ca.toml": config('cacert = "/dev/zero"\n'),
        "nul-ca.toml": config('cacert = "ca\\u0000.crt"\n'),
        "string-endpoints.toml": '[clusters.lab]\nendpoints = "http://127.0.0.1:9"\n',
        "nan-timeout.toml": config("timeout = nan\n"),
        "huge-port.toml": config('[clusters.lab.nodes.n1]\nssh = { host = "h", port = 1e9 }\n'),
        "bad-template.toml": config('[profiles.systemd]\nstart = "{0.__class__}"\n'),
        "escape.toml": config('[clusters."\\u001b]0;owned\\u0007"]\nendpoints = ["h:1"]\n'),
        "cert.pem": "not really a certificate\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "binary.toml").write_bytes(b"\xff\xfe[clusters.a]\n")
    shutil.copyfile(DATA / "etcd-3.5.1-small.snapshot.db", root / "small.db")
    (root / "key").write_bytes(bytes(range(32)))
    (root / "key").chmod(0o600)
    yield root
    sock.close()


def run(
    folder: Path, *args: str | bytes, env: dict[str, str] | None = None, stdout: int = PIPE
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """Run `python -m etcdtui ARGS` in `folder`; the result and the seconds it took."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ETCDCTL_", "ETCDTUI_"))}
    clean["XDG_CONFIG_HOME"] = str(folder / "no-config")  # no default config is found
    clean["XDG_STATE_HOME"] = str(folder / "state")  # audit log and journals, if any were made
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "etcdtui", *args], cwd=folder, env=clean | (env or {}),
        stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, timeout=20, check=False,
    )  # fmt: skip
    return result, time.monotonic() - started


FIFO = "is a FIFO (named pipe), not a regular file"
SOCKET = "is a socket, not a regular file"
DEVICE = "is a character device, not a regular file"
DIRECTORY = "is a directory, not a regular file"

# (id, argv, environment, a fragment the one line must hold)
# fmt: off
CASES: list[tuple[str, tuple[str | bytes, ...], dict[str, str], str]] = [
    # Files that are not regular files, wherever a file is read.
    ("config-fifo", ("status", "--config", "fifo"), {}, FIFO),
    ("config-fifo-symlink", ("status", "--config", "fifo-link"), {}, FIFO),
    ("config-socket", ("status", "--config", "sock"), {}, SOCKET),
    ("config-dev-zero", ("status", "--config", "/dev/zero"), {}, DEVICE),
    ("config-dev-stdin", ("status", "--config", "/dev/stdin"), {}, DEVICE),
    ("config-directory", ("status", "--config", "dir"), {}, DIRECTORY),
    ("tui-config-fifo", ("--config", "fifo"), {}, FIFO),
    ("default-config-fifo", ("status",), {"XDG_CONFIG_HOME": "xdg"}, FIFO),
    ("cacert-fifo", ("status", "--endpoints", CLOSED, "--cacert", "fifo"), {}, FIFO),
    ("cert-and-key-fifo", ("status", "--endpoints", CLOSED, "--cert", "fifo", "--key", "fifo"),
     {}, FIFO),
    ("cacert-missing", ("status", "--endpoints", CLOSED, "--cacert", "/nonexistent/ca.crt"), {},
     "no such CA certificate file"),
    ("cacert-fifo-from-env", ("status", "--endpoints", CLOSED), {"ETCDCTL_CACERT": "fifo"}, FIFO),
    ("cacert-fifo-in-config", ("status", "--config", "fifo-ca.toml"), {}, FIFO),
    ("cacert-dev-zero-in-config", ("status", "--config", "zero-ca.toml"), {}, DEVICE),
    ("cacert-nul-in-config", ("status", "--config", "nul-ca.toml"), {}, "cannot hold a NUL"),
    ("snapshot-fifo", ("snapshot", "status", "fifo"), {}, FIFO),
    ("snapshot-socket", ("snapshot", "status", "sock"), {}, SOCKET),
    ("snapshot-dev-zero", ("snapshot", "status", "/dev/zero"), {}, DEVICE),
    ("snapshot-directory", ("snapshot", "status", "dir"), {}, DIRECTORY),
    ("snapshot-missing", ("snapshot", "status", "missing.db"), {}, "no such snapshot file"),
    ("key-file-fifo", ("snapshot", "status", "small.db", "--key-file", "fifo"), {}, FIFO),
    ("restore-fifo", ("restore", "fifo", "--config", "ok.toml"), {}, FIFO),
    ("identity-file-fifo", ("discover", "--ssh", "h", "--identity-file", "fifo"), {}, FIFO),
    ("known-hosts-socket", ("discover", "--ssh", "h", "--known-hosts", "sock"), {}, SOCKET),
    # Configs that are not configs.
    ("config-nested-arrays", ("status", "--config", "deep-array.toml"), {}, "nested too deeply"),
    ("config-nested-tables", ("status", "--config", "deep-table.toml"), {}, "nested too deeply"),
    ("config-over-1-mib", ("status", "--config", "big.toml"), {}, "larger than 1 MiB"),
    ("config-not-utf8", ("status", "--config", "binary.toml"), {}, "not UTF-8"),
    ("config-5000-digit-int", ("status", "--config", "huge-int.toml"), {}, "not valid TOML"),
    ("config-empty", ("status", "--config", "empty.toml"), {}, "no [clusters.NAME] table"),
    ("config-missing", ("status", "--config", "missing.toml"), {}, "no such config file"),
    ("config-dangling-link", ("status", "--config", "dangling"), {}, "no such config file"),
    ("config-path-empty", ("status", "--config", ""), {}, "path is empty"),
    ("config-path-newline", ("status", "--config", "a\nb.toml"), {}, "a\\nb.toml"),
    ("config-path-not-utf8", ("status", "--config", b"\xff.toml"), {}, "\\udcff.toml: no such"),
    ("config-two-clusters", ("status", "--config", "two.toml"), {}, "choose one with --cluster"),
    ("config-endpoints-a-string", ("status", "--config", "string-endpoints.toml"), {},
     "expected a list of strings"),
    ("config-timeout-nan", ("status", "--config", "nan-timeout.toml"), {}, "expected a number"),
    ("config-port-1e9", ("status", "--config", "huge-port.toml"), {}, "whole number"),
    ("config-template-attribute", ("status", "--config", "bad-template.toml"), {},
     "not a plain {name} placeholder"),
    ("config-escape-in-cluster-name", ("status", "--config", "escape.toml", "--cluster", "x"), {},
     "no cluster named 'x'"),
    ("unknown-cluster", ("status", "--config", "ok.toml", "--cluster", "nope"), {},
     "no cluster named 'nope'"),
    ("recover-nospace-unknown-cluster", ("recover-nospace", "--config", "ok.toml", "--cluster",
                                         "nope"), {}, "no cluster named 'nope'"),
    ("cluster-empty", ("status", "--config", "ok.toml", "--cluster", ""), {}, "--cluster: empty"),
    ("config-and-endpoints", ("status", "--config", "ok.toml", "--endpoints", CLOSED), {},
     "not both"),
    # Endpoints.
    ("endpoints-empty", ("status", "--endpoints", ""), {}, "--endpoints: empty"),
    ("endpoints-only-commas", ("status", "--endpoints", ","), {}, "no endpoints given"),
    ("endpoints-newline", ("status", "--endpoints", "h\n:1"), {}, "control character"),
    ("endpoints-escape", ("status", "--endpoints", "http://h\x1b]0;x\x07:1"), {},
     "control character"),
    ("endpoints-space", ("status", "--endpoints", "http://exa mple:1"), {}, "white space"),
    ("endpoints-not-utf8", ("status", "--endpoints", b"\xff:1"), {}, "control character"),
    ("endpoints-port-99999", ("status", "--endpoints", "http://h:99999"), {}, "port"),
    ("endpoints-no-port", ("status", "--endpoints", "http://h"), {}, "no port"),
    ("endpoints-ftp", ("status", "--endpoints", "ftp://h:1"), {}, "http or https"),
    ("endpoints-password", ("status", "--endpoints", "http://u:pw@h:1"), {}, "no user"),
    ("endpoints-bad-ipv6", ("status", "--endpoints", "http://[::1"), {}, "Invalid IPv6 URL"),
    ("endpoints-path", ("status", "--endpoints", "http://h:1/v3"), {}, "nothing more"),
    ("cert-without-key", ("status", "--endpoints", CLOSED, "--cert", "cert.pem"), {},
     "--cert and --key go together"),
    ("via-ssh-without-config", ("status", "--endpoints", CLOSED, "--via-ssh"), {},
     "--via-ssh needs a config"),
    # The defrag rule: refused before any connection.
    ("rule-empty", ("defrag", "--endpoints", CLOSED, "--rule", ""), {}, "the rule is empty"),
    ("rule-blank", ("defrag", "--endpoints", CLOSED, "--rule", " \t "), {}, "the rule is empty"),
    ("rule-cut-short", ("defrag", "--endpoints", CLOSED, "--rule", "dbSize >"), {},
     "bad rule at column 9: the rule ends after '>'"),
    ("rule-shell", ("defrag", "--endpoints", CLOSED, "--rule", "dbSize > 1; rm -rf /"), {},
     "bad rule at column 11: unexpected character ';'"),
    ("rule-too-long", ("defrag", "--endpoints", CLOSED, "--rule", "dbSize > 1" * 200), {},
     "longer than 1000 characters"),
    ("rule-too-deep", ("defrag", "--endpoints", CLOSED, "--rule", "(" * 300 + "1>0" + ")" * 300),
     {}, "nests more than"),
    # Numbers.
    ("refresh-0", ("--refresh", "0"), {}, "expected 0.1 to 3600 seconds"),
    ("refresh-nan", ("--refresh", "nan"), {}, "expected 0.1 to 3600 seconds"),
    ("refresh-inf", ("--refresh", "inf"), {}, "expected 0.1 to 3600 seconds"),
    ("refresh-word", ("--refresh", "soon"), {}, "expected seconds"),
    ("timeout-0", ("status", "--endpoints", CLOSED, "--timeout", "0"), {}, "0.1 to 3600"),
    ("wait-nan", ("defrag", "--endpoints", CLOSED, "--wait", "nan"), {}, "--wait takes 0 to 3600"),
    ("wait-negative", ("defrag", "--endpoints", CLOSED, "--wait", "-1"), {}, "--wait takes"),
    ("defrag-timeout-0", ("defrag", "--endpoints", CLOSED, "--defrag-timeout", "0"), {},
     "0.1 to 3600"),
    ("lab-members-4", ("lab", "up", "--members", "4", "--dir", "lab"), {}, "invalid choice"),
    ("lab-spares-negative", ("lab", "up", "--spares", "-1", "--dir", "lab"), {},
     "--spares takes 0 to 5"),
    ("lab-quota-negative", ("lab", "up", "--quota-bytes", "-1", "--dir", "lab"), {},
     "positive number of bytes"),
    ("lab-quota-past-int64", ("lab", "up", "--quota-bytes", "9" * 30, "--dir", "lab"), {},
     "below 2**63"),
    ("lab-base-port-99999", ("lab", "up", "--base-port", "99999", "--dir", "lab"), {},
     "--base-port must leave room"),
    ("lab-netns-and-base-port", ("lab", "up", "--netns", "--base-port", "30000", "--dir", "lab"),
     {}, "--base-port does not go with --netns"),
    ("lab-down-nothing-there", ("lab", "down", "--dir", "dir"), {}, "no lab"),
    # Commands and their arguments.
    ("unknown-command", ("frobnicate",), {}, "invalid choice"),
    ("escape-as-command", ("\x1b]0;owned\x07",), {}, "invalid choice: '\\x1b]0;owned\\x07'"),
    ("write-out-yaml", ("status", "-w", "yaml"), {}, "invalid choice"),
    ("snapshot-save-without-file", ("snapshot", "save"), {}, "required: FILE"),
    ("snapshot-key-without-encrypt", ("snapshot", "save", "out.db", "--key-file", "key"), {},
     "add --encrypt"),
    ("discover-no-host", ("discover", "--ssh", " , "), {}, "at least one host"),
    ("discover-bad-name", ("discover", "--ssh", "h", "--write", "a b"), {}, "a cluster name"),
]
# fmt: on
if not ROOT:  # root reads any file
    CASES.append(("config-unreadable", ("status", "--config", "locked.toml"), {}, "not readable"))


@pytest.mark.parametrize(("argv", "env", "fragment"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_quick(
    folder: Path, argv: tuple[str | bytes, ...], env: dict[str, str], fragment: str
) -> None:
    if env.get("XDG_CONFIG_HOME") == "xdg":  # the default config is a FIFO
        (folder / "xdg" / "etcdtui").mkdir(parents=True, exist_ok=True)
        fifo = folder / "xdg" / "etcdtui" / "config.toml"
        if not fifo.exists():
            os.mkfifo(fifo)
        env = {"XDG_CONFIG_HOME": str(folder / "xdg")}
    if argv[-1] == "locked.toml":
        (folder / "locked.toml").write_text(OK_CONFIG)
        (folder / "locked.toml").chmod(0)
    result, seconds = run(folder, *argv, env=env)
    stderr = result.stderr.decode("utf-8", "replace")
    lines = stderr.splitlines()
    assert result.returncode == 2, stderr
    assert len(lines) == 1 and lines[0].strip(), stderr
    assert fragment in lines[0]
    assert "Traceback" not in stderr and "\x1b" not in stderr and "\x07" not in stderr
    assert result.stdout == b""
    assert seconds < LIMIT, f"{seconds:.2f} s"


def test_the_table_is_long_enough() -> None:
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


def test_nothing_was_made_by_the_refused_commands(folder: Path) -> None:
    # Runs after the table (file order): no lab folder, no snapshot, no audit log.
    for name in ("lab", "out.db", "state"):
        assert not (folder / name).exists(), name


# --- a closed pipe -----------------------------------------------------------------------


def closed_pipe_run(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run with stdout a pipe whose reader is gone before the first byte is written, as
    `etcdtui ... | head -1` is once head has exited: every write fails with EPIPE."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result, seconds = run(folder, *args, stdout=writer)
    finally:
        os.close(writer)
    assert seconds < LIMIT
    return result


@pytest.mark.parametrize(
    "argv",
    [
        ("snapshot", "status", "small.db", "-w", "json"),
        ("snapshot", "status", "small.db"),
        ("status", "--endpoints", CLOSED, "--timeout", "0.3", "-w", "json"),
        ("status", "--endpoints", CLOSED, "--timeout", "0.3"),
    ],
    ids=["snapshot-status-json", "snapshot-status-table", "status-json", "status-table"],
)
def test_output_into_a_closed_pipe_is_a_quiet_exit(folder: Path, argv: tuple[str, ...]) -> None:
    result = closed_pipe_run(folder, *argv)
    assert result.returncode == 141  # 128 + SIGPIPE, as for a tool the signal ended
    assert result.stderr == b""


def test_help_into_a_closed_pipe_is_quiet(folder: Path) -> None:
    result = closed_pipe_run(folder, "--help")
    assert result.returncode in (0, 141)
    assert result.stderr == b""


def test_a_pipe_closed_after_the_first_line_is_quiet(folder: Path) -> None:
    """The way head -1 does it: read one line, then close the pipe while we still write."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "etcdtui", "snapshot", "status", "small.db"], cwd=folder,
        env=clean, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    code = proc.wait(timeout=20)
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert first.startswith(b"+---")
    assert code in (0, 141)  # 0 when everything was written before the close
    assert stderr == b""
