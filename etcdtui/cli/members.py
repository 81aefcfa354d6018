"""`etcdtui replace-member` and `etcdtui add-member`: one membership change at a time, the
new member joining as a learner first."""

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
    "replace-member": "replace a failed member with a new node (learner first)",
    "add-member": "add one member (scale-out, learner first)",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`replace-member MEMBER --new-node NODE` and `add-member NODE`."""
    replace = subparsers.add_parser("replace-member", help=HELP["replace-member"])
    replace.add_argument("member", metavar="MEMBER", help="the failed member's name")
    replace.add_argument("--new-node", required=True, metavar="NODE",
                         help="the config's node that will run the new member")  # fmt: skip
    replace.add_argument("--new-name", default="", metavar="NAME",
                         help="the new member's name (default: the node's)")  # fmt: skip
    add_connection(replace)
    add_runbook_flags(replace)
    replace.set_defaults(handler=cmd_member_change)

    add_member = subparsers.add_parser("add-member", help=HELP["add-member"])
    add_member.add_argument("node", metavar="NODE", help="the config's node to run it on")
    add_member.add_argument("--name", default="", metavar="NAME", help="the member's name")
    add_connection(add_member)
    add_runbook_flags(add_member)
    add_member.set_defaults(handler=cmd_member_change)


def cmd_member_change(args: argparse.Namespace) -> int:
    """Plan and run the replacement or the addition."""
    connection = connection_with_nodes(args, args.command)
    from etcdtui.clients.session import cluster_session
    from etcdtui.runbooks.membership.runbook import MemberChangeRunbook

    replacing = args.command == "replace-member"
    node = args.new_node if replacing else args.node
    name = args.new_name if replacing else args.name
    with cluster_session(connection, nodes=True) as session:
        assert session.shells is not None  # nodes=True
        runbook = MemberChangeRunbook(connection, session.client, session.shells, node, name,
                                      old_member=args.member if replacing else "",
                                      audit_path=args.audit_log)  # fmt: skip
        return run_runbook(runbook, args)
