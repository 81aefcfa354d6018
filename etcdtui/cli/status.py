"""`etcdtui status`: the cluster's status once, as a table or JSON; exit 1 if unhealthy."""

from __future__ import annotations

import argparse

from etcdtui.cli.common import EXIT_FAILED, EXIT_OK, Subparsers, add_connection, connection_from

HELP = {
    "status": "one-shot status; exit 1 if unhealthy",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`status [CONNECTION] [-w table|json]`."""
    status = subparsers.add_parser("status", help=HELP["status"])
    add_connection(status)
    status.add_argument("-w", "--write-out", choices=("table", "json"), default="table")
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    """Read every member once and print the view."""
    from etcdtui.clients.session import cluster_session
    from etcdtui.services.status import render_json, render_table

    with cluster_session(connection_from(args)) as session:
        view = session.client.read()
    print(render_json(view) if args.write_out == "json" else render_table(view))
    return EXIT_OK if view.healthy else EXIT_FAILED
