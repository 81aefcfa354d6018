"""`etcdtui defrag` (followers first, leader last) and `etcdtui recover-nospace` (compact,
defragment all, disarm the alarm, check a write): the two defragmentation runbooks."""

from __future__ import annotations

import argparse
import math

from etcdtui.cli.common import (
    Subparsers,
    add_connection,
    add_runbook_flags,
    connection_from,
    positive_seconds,
    run_runbook,
)
from etcdtui.errors import UsageError

HELP = {
    "defrag": "defragment members, followers first, leader last",
    "recover-nospace": "NOSPACE alarm: compact, defragment all, disarm, check a write",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`defrag` and `recover-nospace`."""
    defrag = subparsers.add_parser("defrag", help=HELP["defrag"])
    add_connection(defrag)
    add_shared_options(defrag)
    defrag.add_argument(
        "--wait",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="pause between members after the health re-check (default 5)",
    )
    defrag.add_argument(
        "--defrag-timeout",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="per-member defrag timeout (default 60)",
    )
    defrag.add_argument(
        "--on-node", action="store_true", help="run etcdctl defrag on each member's node over SSH"
    )
    add_runbook_flags(defrag)
    defrag.set_defaults(handler=cmd_defrag)

    nospace = subparsers.add_parser("recover-nospace", help=HELP["recover-nospace"])
    add_connection(nospace)
    nospace.add_argument("--defrag-timeout", type=positive_seconds, default=60.0, metavar="SECONDS")
    add_runbook_flags(nospace)
    nospace.set_defaults(handler=cmd_recover_nospace)


def add_shared_options(parser: argparse.ArgumentParser) -> None:
    """The options the defrag screen offers too (--rule, --compact, --move-leader), as flags
    made from their one declaration."""
    from etcdtui.runbooks.defrag.options import SHARED_OPTIONS, OptionKind

    for option in SHARED_OPTIONS:
        if option.kind is OptionKind.FLAG:
            parser.add_argument(option.flag, action="store_true", default=option.default,
                                help=option.help)  # fmt: skip
        else:
            parser.add_argument(option.flag, metavar=option.metavar, default=option.default,
                                help=option.help)  # fmt: skip


def cmd_defrag(args: argparse.Namespace) -> int:
    """Plan and run the defragmentation of the members --rule chooses (all by default)."""
    from etcdtui.runbooks.defrag.rule import parse_rule

    # Checked before the heavy imports and any I/O. An empty --rule is refused rather than
    # read as "every member": leaving --rule out says that.
    rule = parse_rule(args.rule) if args.rule is not None else None
    if not math.isfinite(args.wait) or not 0 <= args.wait <= 3600:
        raise UsageError(f"--wait takes 0 to 3600 seconds, got {args.wait:g}")
    connection = connection_from(args)
    from etcdtui.clients.session import cluster_session
    from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook

    if (args.on_node or connection.via_ssh) and not connection.nodes:
        raise UsageError("--on-node needs a config whose cluster lists its nodes")
    options = DefragOptions(rule=rule, compact=args.compact, move_leader=args.move_leader,
                            wait=args.wait, defrag_timeout=args.defrag_timeout,
                            on_node=args.on_node)  # fmt: skip
    # One SSH connection per node serves both the reads and --on-node's steps.
    with cluster_session(connection, nodes=args.on_node) as session:
        runbook = DefragRunbook(connection, session.client, options, session.shells)
        return run_runbook(runbook, args)


def cmd_recover_nospace(args: argparse.Namespace) -> int:
    """Plan and run the NOSPACE recovery."""
    connection = connection_from(args)  # a bad config is refused before the heavy imports
    from etcdtui.clients.session import cluster_session
    from etcdtui.runbooks.defrag.nospace import NospaceRecovery
    from etcdtui.runbooks.defrag.runbook import DefragOptions

    with cluster_session(connection) as session:
        options = DefragOptions(defrag_timeout=args.defrag_timeout)
        return run_runbook(NospaceRecovery(connection, session.client, options), args)
