"""The command line: `etcdtui [CONNECTION]` opens the TUI; subcommands script the rest.

Each command lives in its own module, which registers its sub-parser and its handler
(`register(subparsers)`) and lists the commands it registers with their help lines (`HELP`);
`common` holds what they share. A command module imports nothing heavy at its top: Textual,
etcd3-py, paramiko and the services are imported inside the handler that needs them. `main`
builds only the sub-parser of the command the line names (`build_parser(argv)`), so a command
does not pay for the others' registration either (tests/unit/test_import_paths.py).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from etcdtui import __version__
from etcdtui.cli import (
    check,
    defrag,
    discover,
    keyspace,
    kube,
    lab,
    members,
    repair,
    restore,
    snapshot,
    status,
    tui,
    upgrade,
)
from etcdtui.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Handler,
    Parser,
    add_connection,
    run_runbook,
    say,
    snapshot_key,
)
from etcdtui.errors import EtcdtuiError, UsageError

__all__ = ["build_parser", "main", "run", "run_runbook", "snapshot_key"]

# In the order `etcdtui --help` lists them.
COMMANDS = (
    status,
    check,
    kube,
    keyspace,
    defrag,
    snapshot,
    restore,
    members,
    repair,
    upgrade,
    discover,
    lab,
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line: the TUI's options, then each command's sub-parser.

    Given the command line about to be parsed, only the sub-parser of the command it names is
    built (none when it names none: the TUI), and only that command's module registers; for
    the top-level --help, each command is listed from its module's HELP, none registers. The
    parse is the same as with every command's. Without `argv`, or when the line cannot be
    read that surely (an unknown command, an option out of place), every command registers.
    """
    named = _command_named(argv) if argv is not None else None
    parser = _top_parser(Parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        lines: dict[str, str] | None = getattr(command, "HELP", None)
        if lines is None or named is None or named in lines:
            command.register(subparsers)
        elif named == _TOP_HELP:
            for name, line in lines.items():
                subparsers.add_parser(name, help=line)  # listed, never run: --help exits
    return parser


def _top_parser(parser_class: type[Parser], *, peek: bool = False) -> Parser:
    """The top-level parser with its own options. To `peek`, --version is a plain flag (it
    prints and exits as soon as it is parsed, whatever the commands) and --help is left out
    (it lists every command)."""
    parser = parser_class(
        prog="etcdtui",
        description="Operate the etcd clusters behind Kubernetes: dashboard and runbooks.",
        add_help=not peek,
    )
    if peek:
        parser.add_argument("--version", action="store_true")
    else:
        parser.add_argument("--version", action="version", version=f"etcdtui {__version__}")
    add_connection(parser, suppress=False)
    tui.register(parser)
    return parser


_TOP_HELP = "--help"
"""What `_command_named` returns for `etcdtui --help`: only the list of commands is needed."""


class _Unsure(Exception):
    """The top-level options could not be read: every command's sub-parser is built, and the
    whole parse says what is wrong."""


class _PeekParser(Parser):
    """The top-level options, read only to find the command the line names."""

    def error(self, message: str) -> NoReturn:
        raise _Unsure(message)


def _command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` names after the top-level options ("" for none: the TUI; _TOP_HELP
    for a -h or --help before any command), or None when that is not certain: another option
    unknown at the top level (a command's option before its command), a value the options
    refuse, an unknown command, a "--" (which the sub-parsers' action reads its own way)."""
    if "--" in argv:
        return None
    peek = _top_parser(_PeekParser, peek=True)
    peek.add_argument("command", nargs="?", default="")
    peek.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        args, unknown = peek.parse_known_args(list(argv))
    except _Unsure:
        return None
    if unknown:
        # --help acts when it is parsed, before any command: only the list is shown.
        return _TOP_HELP if set(unknown) <= {"-h", "--help"} else None
    known = {name for m in COMMANDS for name in getattr(m, "HELP", {})}
    return str(args.command) if not args.command or args.command in known else None


BRIEF = frozenset({"status", "check"})
"""Commands that read the cluster once and end within their timeouts: they keep the garbage
collector off to the end (etcdtui/__main__.py says why it starts off). Every other command gets
it back when its handler starts: a TUI or a runbook can run for hours."""


def run() -> NoReturn:
    """The `etcdtui` program (its console script and `python -m etcdtui`): `main`, then exit.

    The program's entry (etcdtui/__main__.py) turned the garbage collector off before these
    modules were imported; `_dispatch` turns it back on unless the command is `BRIEF`.
    Before the interpreter ends, every object the imports made is frozen out of the garbage
    collector's reach: its last collection at exit walked them all, about 60 ms of every
    command's time on a 2-core machine, for a process whose memory is about to go anyway.
    Files are closed by the code that opens them (`with`), not by that collection. In-process
    callers (the tests) call `main`, whose collector is already on.
    """
    code = main()
    gc.freeze()
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit status: 0 done, 1 failed (the cluster or a
    file let us down), 2 bad input (one line on stderr), 130 interrupted, 141 the reader of
    our output went away."""
    try:
        try:
            if argv is None:
                argv = sys.argv[1:]
            return _dispatch(build_parser(argv).parse_args(argv))
        finally:
            # Output still buffered meets a closed pipe here, not in the interpreter's last
            # flush (which would print "Exception ignored ... BrokenPipeError").
            sys.stdout.flush()
    except BrokenPipeError:
        # `etcdtui status -w json | head -1`: the reader has what it wanted. Exit quietly as
        # a tool killed by SIGPIPE does (128 + 13); stdout goes to /dev/null so that nothing
        # later tries the closed pipe again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return EXIT_BROKEN_PIPE


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command's handler; an error becomes one line and an exit status."""
    handler: Handler = args.handler
    if args.command not in BRIEF:
        gc.enable()
    try:
        return handler(args)
    except UsageError as exc:
        say(f"etcdtui: error: {exc}")
        return EXIT_USAGE
    except EtcdtuiError as exc:
        say(f"etcdtui: {exc}")
        for line in exc.notes:
            say(f"etcdtui: {line}")
        return EXIT_FAILED
    except (KeyboardInterrupt, EOFError):
        print("\netcdtui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # main's: the reader of our output went away
    except OSError as exc:
        # The bastion itself let us down (its disk full, a folder gone): still one line.
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"etcdtui: {where}{exc.strerror or exc}")
        return EXIT_FAILED
