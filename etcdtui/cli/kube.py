"""`etcdtui kube-check`: the API servers' wiring to etcd, certificate expiry and security
checks, read from the nodes over SSH; exit 1 on anything critical."""

from __future__ import annotations

import argparse

from etcdtui.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    add_connection,
    connection_with_nodes,
)
from etcdtui.models.text import printable

HELP = {
    "kube-check": "API server wiring, certificate expiry, security checks (read over SSH); "
    "exit 1 on anything critical",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`kube-check [CONNECTION] [-w table|json]`."""
    kube = subparsers.add_parser("kube-check", help=HELP["kube-check"])
    add_connection(kube)
    kube.add_argument("-w", "--write-out", choices=("table", "json"), default="table")
    kube.set_defaults(handler=cmd_kube_check)


def cmd_kube_check(args: argparse.Namespace) -> int:
    """Build the report from every node and print it, worst first."""
    connection = connection_with_nodes(args, "kube-check", "etcdtui discover writes one")
    from etcdtui.clients.session import cluster_session
    from etcdtui.services.kube.render import render_json, render_text
    from etcdtui.services.kube.report import cluster_report

    with cluster_session(connection, nodes=True) as session:
        assert session.shells is not None  # nodes=True
        report = cluster_report(session.client, session.shells.shell)
    render = render_json if args.write_out == "json" else render_text
    # Paths, URLs and errors read from the nodes: no control character reaches the terminal.
    print(printable(render(report, connection.cluster), newlines=True))
    return EXIT_FAILED if report.worst == "critical" else EXIT_OK
