"""`etcdtui keyspace`: what is filling etcd, by Kubernetes resource and namespace, from a
live cluster (keys-only pages from a follower, rate-bounded) or offline from a snapshot."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from etcdtui.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Subparsers,
    add_connection,
    add_key_flags,
    connection_from,
    input_path,
    snapshot_key,
)
from etcdtui.errors import UsageError

if TYPE_CHECKING:
    from etcdtui.services.keyspace import KeyspaceReport

HELP = {
    "keyspace": "what is filling etcd: keys and bytes by resource and namespace",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def _positive(what: str, low: float = 1) -> Callable[[str], int]:
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what}: expected a whole number, got {text!r}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{what}: expected at least {low:g}, got {value}")
        return value

    return check


def register(subparsers: Subparsers) -> None:
    """`keyspace [CONNECTION | --snapshot FILE] [--prefix P] [--depth N] [--top K] [-w]`."""
    from etcdtui.services.keyspace_live import DEFAULT_RATE, DEFAULT_SAMPLE

    keyspace = subparsers.add_parser("keyspace", help=HELP["keyspace"])
    add_connection(keyspace)
    keyspace.add_argument("--snapshot", type=input_path("snapshot file"), metavar="FILE",
                          help="read a snapshot file offline instead of the cluster")  # fmt: skip
    add_key_flags(keyspace)
    keyspace.add_argument("--prefix", default="", metavar="P", help="only keys under P")
    keyspace.add_argument("--depth", type=_positive("--depth"), metavar="N",
                          help="group by the first N path segments (default: by Kubernetes "
                               "resource, and namespace for namespaced ones)")  # fmt: skip
    keyspace.add_argument("--top", type=_positive("--top"), metavar="K",
                          help="show the K biggest groups (default: all)")  # fmt: skip
    keyspace.add_argument("-w", "--write-out", choices=("table", "json"), default="table")
    keyspace.add_argument("--exact", action="store_true",
                          help="live: read every value for exact sizes (default: a sample of "
                               f"{DEFAULT_SAMPLE} keys per group)")  # fmt: skip
    keyspace.add_argument("--rate", type=_positive("--rate"), default=DEFAULT_RATE,
                          metavar="KEYS_PER_S",
                          help=f"live: read at most this many keys a second (default "
                               f"{DEFAULT_RATE})")  # fmt: skip
    keyspace.set_defaults(handler=cmd_keyspace)


def _progress() -> Callable[[int, float], None]:
    """Keys counted and the rate on stderr, one updating line, on a terminal only."""
    tty = sys.stderr.isatty()

    def show(keys: int, rate: float) -> None:
        if tty:
            sys.stderr.write(f"\r  {keys:,} keys  {rate:,.0f} keys/s (ctrl+c stops) ".ljust(50))
            sys.stderr.flush()

    return show


def _live(
    args: argparse.Namespace, prefix: bytes, group_of: Callable[[bytes], bytes]
) -> KeyspaceReport:
    from etcdtui.clients.session import cluster_session
    from etcdtui.services.keyspace_live import ScanOptions, run_scan, scan_client

    options = ScanOptions(prefix=prefix, exact=args.exact, rate=args.rate)
    # Any route the cluster is reached by: its client URLs, SSH tunnels, etcdctl on a node.
    with cluster_session(connection_from(args)) as session:
        scanner = scan_client(session.client)
        try:
            report = run_scan(scanner, group_of, options, progress=_progress())
        finally:
            if sys.stderr.isatty():
                sys.stderr.write("\n")
    return report


def cmd_keyspace(args: argparse.Namespace) -> int:
    """Group the keyspace and print it, with the checks that fired and their fixes."""
    from etcdtui.services.keyspace import grouper, snapshot_report
    from etcdtui.services.keyspace_render import render_json, render_table
    from etcdtui.snapshots.keyspace import snapshot_keyspace

    prefix = args.prefix.encode()
    group_of = grouper(args.depth)
    if args.snapshot is not None:
        if args.exact:
            raise UsageError("--exact is for a live scan: a snapshot is always read exactly")
        key = snapshot_key(args)
        found = snapshot_keyspace(args.snapshot, key, group_of, prefix)
        report = snapshot_report(found, args.prefix)
    else:
        if args.key_file or args.passphrase:
            raise UsageError("--key-file/--passphrase open an encrypted --snapshot FILE")
        report = _live(args, prefix, group_of)
    render = render_json if args.write_out == "json" else render_table
    print(render(report, args.top))
    if report.live is not None and not report.live.complete:
        return EXIT_INTERRUPTED  # the counts above are partial
    return EXIT_OK
