"""The command line: `etcdtui [CONNECTION]` opens the TUI; subcommands script the rest.

Each command lives in its own module, which registers its sub-parser and its handler
(`register(subparsers)`); `common` holds what they share. Heavy imports (Textual, etcd3-py,
paramiko) happen inside the command that needs them, so `etcdtui --version` and
`etcdtui lab down` start instantly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

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

__all__ = ["build_parser", "main", "run_runbook", "snapshot_key"]

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


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the TUI's options, then each command's sub-parser."""
    parser = Parser(
        prog="etcdtui",
        description="Operate the etcd clusters behind Kubernetes: dashboard and runbooks.",
    )
    parser.add_argument("--version", action="version", version=f"etcdtui {__version__}")
    add_connection(parser, suppress=False)
    tui.register(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit status: 0 done, 1 failed (the cluster or a
    file let us down), 2 bad input (one line on stderr), 130 interrupted, 141 the reader of
    our output went away."""
    try:
        try:
            return _dispatch(build_parser().parse_args(argv))
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
