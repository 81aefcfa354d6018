"""Each command imports only what it uses: its import path, run in a fresh interpreter.

A child process runs `etcdtui.cli.main(argv)` (the handler too, against a port where nothing
listens, so it fails fast after importing everything its work needs) and reports the modules
it ended with. Heavy libraries a command does not use must not be among them: Textual and Rich
outside the TUI, paramiko without SSH, cryptography without snapshots, prometheus_client
nowhere (etcdtui reads /metrics itself), etcd3-py and requests only where etcd is talked to.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etcdtui import cli
from etcdtui.cli.common import Parser
from etcdtui.lab.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import contextlib, io, json, sys
from etcdtui.cli import main
argv = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

UI = {"textual", "rich"}
NEVER = UI | {"prometheus_client", "aiohttp"}
NETWORK = {"etcd3", "requests", "urllib3"}
SERVICES = {"etcdtui.clients", "etcdtui.services", "etcdtui.runbooks", "etcdtui.snapshots"}


def imported(argv: list[str], home: Path) -> tuple[int, set[str]]:
    """The exit status of `etcdtui ARGV` run in a fresh interpreter, and its modules."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCDCTL_", "ETCDTUI_"))}
    env |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"), "PYTHONPATH": str(ROOT)}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(argv)], cwd=home, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


def child_prints(code: str) -> str:
    """What `code`, run in a fresh interpreter that must succeed, prints."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def present(modules: set[str], names: set[str]) -> set[str]:
    """Which of `names` (packages: any of their sub-modules counts) were imported."""
    return {n for n in names if any(m == n or m.startswith(n + ".") for m in modules)}


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["status", "--help"], ["check", "--help"]],
    ids=["version", "help", "status-help", "check-help"],
)
def test_help_and_version_import_no_service_nor_library(argv: list[str], tmp_path: Path) -> None:
    code, modules = imported(argv, tmp_path)
    assert code == 0
    assert not present(modules, NEVER | NETWORK | SERVICES | {"paramiko", "cryptography", "yaml"})


@pytest.mark.parametrize(
    "command",
    ["defrag", "snapshot", "restore", "replace-member", "repair", "upgrade", "lab", "kube-check"],
)
def test_a_commands_help_imports_no_network_library(command: str, tmp_path: Path) -> None:
    code, modules = imported([command, "--help"], tmp_path)
    assert code == 0
    assert not present(modules, NEVER | NETWORK | {"paramiko"})


@pytest.mark.parametrize("write_out", ["table", "json"])
def test_status_imports_the_gateway_client_and_nothing_for_ssh_snapshots_or_the_ui(
    write_out: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens: every member is unreachable
    argv = ["--endpoints", url, "--timeout", "1", "status", "-w", write_out]
    code, modules = imported(argv, tmp_path)
    assert code == 1  # unhealthy: the handler ran to its verdict
    assert "etcd3.client" in modules and "etcdtui.clients.metrics" in modules
    assert not present(modules, NEVER | {"paramiko", "cryptography", "yaml"})
    # etcd3-py's package __init__ (its asyncio client, aiohttp) is skipped, not stood in for.
    assert "etcd3.aio_client" not in modules
    # requests' packages whose __init__ status does not need (clients/etcd3_client.py).
    assert not present(modules, {"importlib.metadata", "charset_normalizer.api"})


def test_semantic_version_without_its_init_still_exports_what_it_did() -> None:
    """etcd3-py's semantic_version is imported without its __init__ (which looks its version
    up among the installed packages): every name it exported is there, and its version is
    looked up when read."""
    code = (
        "import importlib.metadata as m, sys\n"
        "from etcdtui.clients.gateway import _quiet_client_class\n"
        "_quiet_client_class()  # as the first gateway client of a process does\n"
        "import semantic_version as sv\n"
        "assert '__version__' not in vars(sv), 'its __init__ ran'\n"
        "assert sv.Version('3.5.1') < sv.Version('3.10.0')\n"
        "assert sv.SimpleSpec('>=3.4').match(sv.Version('3.5.1'))\n"
        "assert sv.__version__ == m.version('semantic_version')\n"
        "import etcd3\n"
        "print(etcd3.Client.__module__)\n"
    )
    assert child_prints(code) == "etcd3.client"


def test_the_packages_imported_without_their_init_work_once_used() -> None:
    """charset_normalizer and urllib3.http2 are registered with their __init__ deferred: the
    first name read that only the __init__ defines runs it, and everything works as before."""
    code = (
        "import sys\n"
        "from etcdtui.clients.etcd3_client import client_class\n"
        "client_class()\n"
        "import requests, charset_normalizer, urllib3.http2\n"
        "assert 'charset_normalizer.api' not in sys.modules, 'its __init__ ran'\n"
        "assert requests.get.__module__ == 'requests.api'\n"
        "assert requests.compat.chardet.detect(b'plain')['encoding'] == 'ascii'\n"
        "assert charset_normalizer.from_bytes(b'x').best() is not None\n"
        "assert callable(urllib3.http2.inject_into_urllib3)\n"
        "print(charset_normalizer.__version__ == charset_normalizer.version.__version__)\n"
    )
    assert child_prints(code) == "True"


@pytest.mark.parametrize(("command", "collector"), [("status", "off"), ("snapshot-status", "on")])
def test_the_program_keeps_the_garbage_collector_off_only_for_brief_commands(
    command: str, collector: str, tmp_path: Path
) -> None:
    """`etcdtui` starts with the collector off; a command that may run for long (here one
    that reads a snapshot file) gets it back, a one-shot read such as `status` does not."""
    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    argv = {
        "status": ["--endpoints", url, "--timeout", "1", "status"],
        "snapshot-status": ["snapshot", "status", str(tmp_path / "not-a-snapshot.db")],
    }[command]
    (tmp_path / "not-a-snapshot.db").write_bytes(b"not a bolt file" * 512)
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('on' if gc.isenabled() else 'off'))\n"
        "sys.argv = ['etcdtui', *sys.argv[1:]]\n"
        "from etcdtui.__main__ import run\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1, done.stderr  # it ran: nothing answered, or not a snapshot
    assert done.stdout.splitlines()[-1] == collector


def test_check_without_ssh_imports_no_paramiko_nor_cryptography(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    code, modules = imported(["--endpoints", url, "--timeout", "1", "check"], tmp_path)
    assert code == 1
    assert "etcdtui.services.consistency" in modules
    assert not present(modules, NEVER | {"paramiko", "cryptography", "yaml"})


def test_snapshot_status_reads_a_file_without_the_network(tmp_path: Path) -> None:
    not_a_snapshot = tmp_path / "x.db"
    not_a_snapshot.write_bytes(b"\0" * 4096)
    code, modules = imported(["snapshot", "status", str(not_a_snapshot)], tmp_path)
    assert code == 1  # not a snapshot: refused after its handler imported what it reads with
    assert "etcdtui.snapshots.catalogue" in modules
    assert not present(modules, NEVER | NETWORK | {"paramiko"})


def test_a_plain_snapshot_save_imports_no_cryptography(tmp_path: Path) -> None:
    """cryptography is for encrypted snapshots only; a plain save never loads it."""
    url = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens: the save stops at its read
    argv = ["--endpoints", url, "--timeout", "1", "snapshot", "save", "--audit-log",
            str(tmp_path / "audit.log"), str(tmp_path / "s.db")]  # fmt: skip
    code, modules = imported(argv, tmp_path)
    assert code == 1
    assert "etcdtui.runbooks.snapshot_save" in modules
    assert not present(modules, NEVER | {"cryptography", "etcdtui.snapshots.crypto", "paramiko"})


@pytest.mark.parametrize(
    "argv", [["defrag", "--dry-run"], ["keyspace"]], ids=["defrag-direct", "keyspace-live"]
)
def test_a_runbook_or_scan_without_ssh_nor_file_imports_no_paramiko_nor_cryptography(
    argv: list[str], tmp_path: Path
) -> None:
    """A defrag without --on-node runs nothing on a node; a live keyspace scan reads no
    snapshot file: neither loads paramiko (SSH) nor cryptography (encrypted snapshots)."""
    url = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens: it stops at its first read
    code, modules = imported(["--endpoints", url, "--timeout", "1", *argv], tmp_path)
    assert code == 1
    assert "etcd3.client" in modules  # it got as far as asking the cluster
    assert not present(modules, NEVER | {"paramiko", "cryptography", "etcdtui.clients.ssh"})


def test_lab_down_imports_no_network_library(tmp_path: Path) -> None:
    code, modules = imported(["lab", "down", "--dir", str(tmp_path / "none")], tmp_path)
    assert code in (0, 1, 2)
    assert "etcdtui.lab" in modules
    assert not present(modules, NEVER | NETWORK | {"paramiko"})


@pytest.mark.parametrize("module", cli.COMMANDS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_command_module_lists_the_commands_it_registers(module: object) -> None:
    """HELP is what `etcdtui --help` lists without registering: it must match register's."""
    parser = Parser(prog="etcdtui")
    subparsers = parser.add_subparsers(dest="command", parser_class=Parser)
    module.register(subparsers)  # type: ignore[attr-defined]
    registered = {a.dest: a.help for a in subparsers._choices_actions}
    assert registered == module.HELP  # type: ignore[attr-defined]


def test_the_parser_built_for_a_command_line_has_that_commands_module_only() -> None:
    def commands(parser: argparse.ArgumentParser) -> set[str]:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return set(action.choices)

    assert commands(cli.build_parser(["--timeout", "3", "status", "-w", "json"])) == {"status"}
    # A module registers all of its commands.
    assert commands(cli.build_parser(["recover-nospace", "--dry-run"])) == {
        "defrag",
        "recover-nospace",
    }
    assert commands(cli.build_parser(["--read-only"])) == set()  # the TUI
    everything = commands(cli.build_parser())
    assert commands(cli.build_parser(["--help"])) == everything  # listed, not registered
    assert commands(cli.build_parser(["bogus"])) == everything  # the error lists them all
    assert commands(cli.build_parser(["--via-ssh", "--", "status"])) == everything
    # A value the top-level options refuse: the whole parser says so, as it always did.
    assert commands(cli.build_parser(["--timeout", "0", "status"])) == everything


@pytest.mark.parametrize(
    "argv",
    [["add-member", "node4", "--dry-run"], ["replace-member", "node1", "--new-node", "spare1",
     "--dry-run"], ["repair", "node1", "--dry-run"], ["kube-check"]],
    ids=["add-member", "replace-member", "repair", "kube-check"],
)  # fmt: skip
def test_a_node_command_refused_for_a_config_without_nodes_imports_no_ssh(
    argv: list[str], tmp_path: Path
) -> None:
    """Endpoints alone list no node: the command says so before it loads what SSH needs."""
    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    code, modules = imported(["--endpoints", url, *argv], tmp_path)
    assert code == 2
    ssh = {"paramiko", "cryptography", "etcdtui.clients.ssh"}
    assert not present(modules, NEVER | NETWORK | ssh)
