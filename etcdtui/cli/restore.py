"""`etcdtui restore`: every member from one snapshot (guided), and the way back from a
restore that stopped halfway (--resume, --rollback, --forget)."""

from __future__ import annotations

import argparse

from etcdtui.cli.common import (
    EXIT_OK,
    Subparsers,
    add_connection,
    add_key_flags,
    add_runbook_flags,
    connection_with_nodes,
    input_path,
    run_runbook,
    snapshot_key,
)
from etcdtui.errors import UsageError
from etcdtui.models.text import printable

HELP = {
    "restore": "restore every member from a snapshot (guided)",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`restore [FILE]`."""
    restore = subparsers.add_parser("restore", help=HELP["restore"])
    restore.add_argument(
        "file", type=input_path("snapshot file"), metavar="FILE", nargs="?",
        help="the snapshot (optional with --resume; none with --rollback or --forget)",
    )  # fmt: skip
    add_connection(restore)
    again = restore.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the restore that stopped halfway")  # fmt: skip
    again.add_argument(
        "--rollback", action="store_true", help="undo a restore that stopped halfway"
    )
    again.add_argument(
        "--forget", action="store_true", help="abandon its journal (changes nothing on nodes)"
    )
    restore.add_argument("--force-foreign-snapshot", action="store_true",
                         help="restore a snapshot of another cluster's members")  # fmt: skip
    add_key_flags(restore)
    add_runbook_flags(restore)
    restore.set_defaults(handler=cmd_restore)


def cmd_restore(args: argparse.Namespace) -> int:
    """Start a restore, or resume, roll back or forget the one that stopped halfway."""
    connection = connection_with_nodes(args, "restore")
    from etcdtui.clients.session import cluster_session
    from etcdtui.runbooks.restore.journal import RestoreOptions
    from etcdtui.runbooks.restore.runbook import RestoreRunbook, abandon, pending_restore

    pending = pending_restore(connection)
    if args.forget or args.resume or args.rollback:
        if pending is None:
            raise UsageError(f"no unfinished restore of cluster {connection.cluster}")
        print(printable("\n".join(pending.describe()), newlines=True), flush=True)
    if args.forget:
        abandon(pending, "forgotten with etcdtui restore --forget")  # type: ignore[arg-type]
        print("marked as abandoned: nothing on the nodes was changed")
        return EXIT_OK
    if pending is not None and not (args.resume or args.rollback):
        print(printable("\n".join(pending.describe()), newlines=True))
        raise UsageError(
            f"a restore of {connection.cluster} stopped halfway: run again with --resume to "
            "continue it, --rollback to put the old data back, or --forget"
        )
    # --resume takes the journal's snapshot when FILE is left out; its sha256 is checked
    # against the journal's before any copy is made from it.
    if not (args.rollback or args.resume) and args.file is None:
        raise UsageError("give the snapshot FILE to restore from")
    key = snapshot_key(args)
    with cluster_session(connection, nodes=True) as session:
        client, shells = session.client, session.shells
        assert shells is not None  # nodes=True
        if args.resume:
            assert pending is not None
            runbook = RestoreRunbook.resume(pending, connection, shells, key=key, client=client,
                                            snapshot_path=args.file)  # fmt: skip
        elif args.rollback:
            assert pending is not None
            runbook = RestoreRunbook.rollback(pending, connection, shells, client=client)
        else:
            options = RestoreOptions(force_foreign=args.force_foreign_snapshot)
            runbook = RestoreRunbook(connection, args.file, key, shells, options, client=client)
        try:
            return run_runbook(runbook, args)
        finally:
            runbook.close()
