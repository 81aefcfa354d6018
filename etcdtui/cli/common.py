"""What the commands share: exit codes, the one-line usage error, argument types, the
connection options and the `Connection` they resolve to, the runbook flags and
`run_runbook`, the snapshot key options."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from etcdtui.errors import UsageError
from etcdtui.models.text import printable

if TYPE_CHECKING:  # only for annotations: the commands import what they need when they run
    from etcdtui.config import Connection
    from etcdtui.models.runbook import Plan
    from etcdtui.runbooks.engine import Runbook
    from etcdtui.snapshots.crypto import SnapshotKey

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE

Handler: TypeAlias = Callable[[argparse.Namespace], int]
"""A command: its parsed arguments in, its exit status out."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        say(f"{self.prog}: error: {message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"
"""Where each command module registers its sub-parser."""


def say(line: str) -> None:
    """One line on stderr, whatever it quotes: control characters (a newline in a path, an
    ESC in an argument) are shown escaped, so the line stays one line and the terminal is
    left alone."""

    try:
        sys.stderr.write(printable(line) + "\n")
        sys.stderr.flush()
    except OSError:  # stderr closed or a broken pipe: nowhere left to say it
        pass


def input_file(what: str) -> Callable[[str], str]:
    """An argparse type for a file etcdtui will read: it must be a readable regular file,
    checked with stat before any command runs (a FIFO would hang the read, a device never
    end it). `~` is expanded for the check only; the text is returned as given."""

    def check(text: str) -> str:
        from etcdtui.toml_io import regular_file

        if not text.strip():
            raise argparse.ArgumentTypeError(f"the {what} path is empty")
        try:
            regular_file(os.path.expanduser(text), what)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return text

    return check


def input_path(what: str) -> Callable[[str], Path]:
    """`input_file`, as a Path."""
    check = input_file(what)
    return lambda text: Path(check(text))


def optional_file(what: str) -> Callable[[str], str]:
    """An argparse type for a file read if it exists (known_hosts): when it does, it must be
    a regular file."""

    def check(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"the {what} path is empty")
        if os.path.lexists(os.path.expanduser(text)):
            return input_file(what)(text)
        return text

    return check


def endpoints(text: str) -> str:
    """--endpoints: not empty, and no white space or control character inside a URL (urllib
    would drop a newline silently and connect somewhere else than what was typed)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: give URL[,URL...]")
    for item in text.split(","):
        item = item.strip()
        if any(ch.isspace() or not ch.isprintable() for ch in item):
            raise argparse.ArgumentTypeError(f"{item!r} holds white space or a control character")
    return text


def non_empty(text: str) -> str:
    """An argparse type for a name that must not be blank (--cluster)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty")
    return text


def positive_seconds(text: str) -> float:
    """An argparse type for a timeout or an interval: 0.1 to 3600 seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0.1 to 3600 seconds, got {text}")
    return value


def add_connection(parser: argparse.ArgumentParser, suppress: bool = True) -> None:
    """The CONNECTION options, on the top parser and on every command that reaches a cluster."""
    # Subcommands get the same options; SUPPRESS keeps a subparser from resetting a value
    # given before the subcommand.
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("connection (defaults from ETCDCTL_* variables)")
    group.add_argument("--config", metavar="FILE", default=default, help="TOML config file",
                       type=input_file("config file"))  # fmt: skip
    group.add_argument("--cluster", metavar="NAME", default=default, type=non_empty,
                       help="cluster in the config")  # fmt: skip
    group.add_argument("--endpoints", metavar="URL[,URL]", default=default, type=endpoints,
                       help="client URLs (ETCDCTL_ENDPOINTS)")  # fmt: skip
    group.add_argument(
        "--cacert",
        metavar="FILE",
        default=default,
        type=input_file("CA certificate file (--cacert)"),
        help="CA bundle to verify servers (ETCDCTL_CACERT)",
    )
    group.add_argument(
        "--cert",
        metavar="FILE",
        default=default,
        type=input_file("client certificate file (--cert)"),
        help="client certificate (ETCDCTL_CERT)",
    )
    group.add_argument("--key", metavar="FILE", default=default, help="client key (ETCDCTL_KEY)",
                       type=input_file("client key file (--key)"))  # fmt: skip
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=positive_seconds,
        default=default,
        help="per-request timeout (default 2)",
    )
    group.add_argument(
        "--via-ssh",
        action="store_true",
        default=default if suppress else False,
        help="reach the members through SSH, as the config's nodes describe",
    )


def connection_from(args: argparse.Namespace) -> Connection:
    """The cluster the CONNECTION options name; else the ETCDCTL_* variables, else the
    default config file."""
    from etcdtui.config import resolve

    connection = resolve(
        getattr(args, "config", None),
        getattr(args, "cluster", None),
        getattr(args, "endpoints", None),
        getattr(args, "cacert", None),
        getattr(args, "cert", None),
        getattr(args, "key", None),
        via_ssh=bool(getattr(args, "via_ssh", False)),
    )
    timeout = getattr(args, "timeout", None)
    if timeout:
        from dataclasses import replace

        connection = replace(connection, timeout=timeout)
    return connection


def connection_with_nodes(
    args: argparse.Namespace, command: str, hint: str = "--config"
) -> Connection:
    """`connection_from(args)`, refused (exit 2) unless its cluster lists its nodes. Commands
    that work on the nodes call it before they import what SSH needs (paramiko,
    cryptography): a refusal loads none of it."""
    connection = connection_from(args)
    if not connection.nodes:
        raise UsageError(f"{command} needs a config whose cluster lists its nodes ({hint})")
    return connection


def add_runbook_flags(parser: argparse.ArgumentParser) -> None:
    """--dry-run, --yes, --audit-log and --break-lock: what `run_runbook` reads."""
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--yes", action="store_true", help="execute without asking (destructive steps included)"
    )
    parser.add_argument(
        "--audit-log",
        type=Path,
        default=None,
        metavar="FILE",
        help="where executed steps are journaled (default $XDG_STATE_HOME/etcdtui/audit.log)",
    )
    parser.add_argument(
        "--break-lock",
        action="store_true",
        help="remove the cluster lock of a run that cannot release it (asks for the cluster name)",
    )


def _confirm(plan: Plan, cluster: str) -> bool:
    """Ask on the terminal: the cluster's name for a destructive plan, y/N otherwise."""
    if plan.destructive:
        answer = input(
            f"This plan has DESTRUCTIVE steps. Type the cluster name ({printable(cluster)}) to go "
            "on: "
        )
        return answer.strip() == cluster
    return input("Run these steps? [y/N] ").strip().lower() in ("y", "yes")


def _break_lock(runbook: Runbook) -> None:
    """--break-lock: only with the cluster's name typed on a terminal."""

    lock = runbook.cluster_lock()
    holder = lock.holder() if lock is not None else ""
    if lock is None or not holder:
        print("the cluster lock is not held: nothing to break", flush=True)
        return
    if not sys.stdin.isatty():
        raise UsageError("--break-lock needs the cluster name typed on a terminal")
    answer = input(
        f"The lock is held by {printable(holder)}. Type the cluster name "
        f"({printable(runbook.cluster)}) to break it: "
    )
    if answer.strip() != runbook.cluster:
        raise UsageError("not confirmed: the lock was left in place")
    print(printable(lock.break_lock()), flush=True)


def run_runbook(runbook: Runbook, args: argparse.Namespace) -> int:
    """Plan, print, confirm, execute with live output, verify: the same for every runbook."""
    from etcdtui.runbooks.audit import AuditLog
    from etcdtui.runbooks.engine import Event, execute
    from etcdtui.runbooks.render import block, render_plan, render_report

    if args.break_lock:
        _break_lock(runbook)
    plan = runbook.plan()
    print(render_plan(plan), flush=True)
    if plan.blocked:
        return EXIT_FAILED
    if args.dry_run or not plan.steps:
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "refusing to change the cluster without --yes (or run it on a terminal)"
            )
        if not _confirm(plan, plan.cluster):
            print("not confirmed: nothing was changed")
            return EXIT_FAILED
    audit = AuditLog(args.audit_log)

    def show(event: Event) -> None:
        # Targets, commands and output come from the config and the nodes: made printable,
        # so a command's output cannot retitle or clear the terminal.
        if event.kind == "step" and event.step is not None:
            target, command = printable(event.step.target), printable(event.text)
            print(f"\n[{event.index}/{len(plan.steps)}] {target}: {command}", flush=True)
        elif event.kind == "output":
            print(f"    {block(event.text, '    ')}", flush=True)
        elif event.kind == "result" and event.result is not None:
            word = "ok" if event.result.ok else "FAILED"
            print(f"    {word} in {event.result.duration:.1f} s", flush=True)

    report = execute(runbook, plan, audit, on_event=show)
    print(render_report(report))
    print(f"audit log: {printable(str(audit.path))}")
    return EXIT_OK if report.ok else EXIT_FAILED


def add_key_flags(parser: argparse.ArgumentParser) -> None:
    """--key-file and --passphrase, for the commands that read or write encrypted snapshots."""
    parser.add_argument("--key-file", type=input_path("key file"), metavar="FILE",
                        help="32-byte key file (0600) for encrypted snapshots")  # fmt: skip
    parser.add_argument("--passphrase", action="store_true",
                        help="ask for a passphrase (or read $ETCDTUI_PASSPHRASE)")  # fmt: skip


def snapshot_key(args: argparse.Namespace, confirm: bool = False) -> SnapshotKey | None:
    """The key --key-file or --passphrase give, or None. `confirm` asks for a typed
    passphrase twice (a save: a typo would lock the snapshot away). cryptography is imported
    only when there is a key."""
    # Taken out of the environment at once, used or not: no child (etcdctl, sh, ssh) inherits it.
    text = os.environ.pop("ETCDTUI_PASSPHRASE", None)
    if args.key_file and args.passphrase:
        raise UsageError("give --key-file or --passphrase, not both")
    if not args.key_file and not args.passphrase:
        return None
    from etcdtui.snapshots.crypto import SnapshotKey

    if args.key_file:
        return SnapshotKey.from_file(args.key_file)
    if text is None:
        if not sys.stdin.isatty():
            raise UsageError("--passphrase needs a terminal, or $ETCDTUI_PASSPHRASE")
        import getpass

        text = getpass.getpass("Snapshot passphrase: ")
        if confirm and getpass.getpass("Again: ") != text:
            raise UsageError("the two passphrases differ: nothing was saved")
    return SnapshotKey.from_passphrase(text)
