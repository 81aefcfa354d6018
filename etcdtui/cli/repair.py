"""`etcdtui repair MEMBER`: rebuild a member whose data diverged from the majority's."""

from __future__ import annotations

import argparse

from etcdtui.cli.common import (
    Subparsers,
    add_connection,
    add_runbook_flags,
    connection_with_nodes,
    run_runbook,
)

HELP = {
    "repair": "rebuild a member whose data diverged, from the majority (learner first)",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`repair MEMBER [--dry-run] [--yes]`."""
    repair = subparsers.add_parser("repair", help=HELP["repair"])
    repair.add_argument("member", metavar="MEMBER", help="the diverged member's name")
    add_connection(repair)
    add_runbook_flags(repair)
    repair.set_defaults(handler=cmd_repair)


def cmd_repair(args: argparse.Namespace) -> int:
    """Plan and run the repair."""
    connection = connection_with_nodes(args, "repair")
    from etcdtui.clients.session import cluster_session
    from etcdtui.runbooks.repair.runbook import RepairRunbook
    from etcdtui.services.consistency import ConsistencyCheck

    with cluster_session(connection, nodes=True) as session:
        assert session.shells is not None  # nodes=True
        check = ConsistencyCheck(session.client)
        runbook = RepairRunbook(connection, session.client, session.shells, args.member,
                                read_consistency=check.read,
                                audit_path=args.audit_log)  # fmt: skip
        return run_runbook(runbook, args)
