"""`etcdtui upgrade`: the rolling upgrade of etcd, a verified snapshot first, then one member
at a time, followers first and the leader last."""

from __future__ import annotations

import argparse

from etcdtui.cli.common import (
    Subparsers,
    add_connection,
    add_runbook_flags,
    connection_with_nodes,
    positive_seconds,
    run_runbook,
)

HELP = {
    "upgrade": "rolling upgrade of etcd: a snapshot first, then one member at a time",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def version(text: str) -> str:
    """An argparse type for --to: 3.5 or 3.5.1."""
    from etcdtui.runbooks.upgrade.policy import parse_version

    try:
        parse_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().removeprefix("v")


def register(subparsers: Subparsers) -> None:
    """`upgrade`."""
    upgrade = subparsers.add_parser("upgrade", help=HELP["upgrade"])
    add_connection(upgrade)
    upgrade.add_argument("--to", required=True, type=version, metavar="VERSION",
                         help="the version to run: 3.5, or 3.5.1")  # fmt: skip
    upgrade.add_argument(
        "--skip-backup",
        action="store_true",
        help="no snapshot first (asks for the cluster name, as destructive steps do)",
    )
    upgrade.add_argument(
        "--member-timeout",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long a member may take to come up on the new version (default 60)",
    )
    add_runbook_flags(upgrade)
    upgrade.set_defaults(handler=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace) -> int:
    """Plan and run the rolling upgrade to --to."""
    connection = connection_with_nodes(args, "upgrade")
    from etcdtui.clients.session import cluster_session
    from etcdtui.runbooks.upgrade.runbook import UpgradeOptions, UpgradeRunbook

    options = UpgradeOptions(to=args.to, skip_backup=args.skip_backup, wait=args.member_timeout)
    with cluster_session(connection, nodes=True) as session:
        runbook = UpgradeRunbook(connection, session.client, options, session.shells)
        return run_runbook(runbook, args)
