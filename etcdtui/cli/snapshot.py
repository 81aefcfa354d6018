"""`etcdtui snapshot save` streams a snapshot from a member to a file; `etcdtui snapshot
status` shows one's HASH, REVISION, TOTAL KEYS and TOTAL SIZE, as etcdctl does."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from etcdtui.cli.common import (
    EXIT_OK,
    Parser,
    Subparsers,
    add_connection,
    add_key_flags,
    connection_from,
    input_path,
    say,
    snapshot_key,
)
from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.models.text import printable

if TYPE_CHECKING:
    from etcdtui.snapshots.save import SaveResult

HELP = {
    "snapshot": "save a snapshot, or show one's status",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`snapshot save` and `snapshot status`."""
    snapshot = subparsers.add_parser("snapshot", help=HELP["snapshot"])
    snap_sub = snapshot.add_subparsers(dest="snapshot_command", metavar="save|status",
                                       parser_class=Parser)  # fmt: skip
    snap_sub.required = True
    save = snap_sub.add_parser("save", help="stream a snapshot from a member to FILE")
    save.add_argument("file", type=Path, metavar="FILE")
    add_connection(save)
    where = save.add_mutually_exclusive_group()
    where.add_argument("--from", dest="from_member", metavar="MEMBER",
                       help="the member to read (default: a healthy follower)")  # fmt: skip
    where.add_argument(
        "--on-node", metavar="NODE", help="run etcdctl on NODE over SSH, then copy the file back"
    )
    save.add_argument(
        "--encrypt", action="store_true", help="encrypt at rest (AES-256-GCM): needs a key"
    )
    add_key_flags(save)
    save.add_argument("--audit-log", type=Path, default=None, metavar="FILE")
    save.set_defaults(handler=cmd_save)
    status_file = snap_sub.add_parser("status", help="HASH, REVISION, TOTAL KEYS, TOTAL SIZE")
    status_file.add_argument("file", type=input_path("snapshot file"), metavar="FILE")
    status_file.add_argument("-w", "--write-out", choices=("table", "json"), default="table")
    add_key_flags(status_file)
    status_file.set_defaults(handler=cmd_status)


def _progress_printer() -> Callable[[int, int | None, float], None]:
    """Bytes and rate on stderr: one updating line on a terminal, a line per quarter otherwise."""
    from etcdtui.models.units import human_bytes

    tty = sys.stderr.isatty()
    shown = {"quarter": -1, "at": 0.0}

    def show(done: int, total: int | None, seconds: float) -> None:
        rate = human_bytes(int(done / seconds)) + "/s" if seconds > 0 else ""
        of = f" of ~{human_bytes(total)}" if total else ""
        text = f"  {human_bytes(done)}{of}  {rate}"
        if tty:
            if seconds - shown["at"] >= 0.1:
                shown["at"] = seconds
                sys.stderr.write("\r" + text.ljust(50))
                sys.stderr.flush()
        elif total:
            quarter = min(4, done * 4 // total)
            if quarter > shown["quarter"]:
                shown["quarter"] = quarter
                print(text, file=sys.stderr, flush=True)

    return show


def _print_saved(result: SaveResult, held: list[str]) -> None:
    """The notes about node-side copies, then what was saved and its digest."""
    from etcdtui.models.units import human_bytes

    if sys.stderr.isatty():
        sys.stderr.write("\n")
    for line in held:
        say(f"etcdtui: {line}")
    # The member's name and URL come from the cluster: never raw control characters here.
    print(printable(f"saved {result.path}: {human_bytes(result.snapshot_size)} from "
                    f"{result.member} ({result.endpoint}) via {result.route} in "
                    f"{result.seconds:.2f} s, {human_bytes(int(result.rate))}/s"
                    f"{', encrypted' if result.encrypted else ''}"))  # fmt: skip
    print(f"sha256 {result.sha256}  (in {printable(result.path.name)}.sha256)")


def cmd_save(args: argparse.Namespace) -> int:
    """Save a snapshot to FILE, journaled in the audit log, and print what was saved."""
    from etcdtui.clients.session import ClusterSession
    from etcdtui.runbooks.audit import AuditLog
    from etcdtui.runbooks.snapshot_save import save_recorded
    from etcdtui.snapshots.leftovers import sweeper
    from etcdtui.snapshots.save import SnapshotSaver, reader_for
    from etcdtui.snapshots.sink import check_target

    if args.encrypt and not (args.key_file or args.passphrase):
        raise UsageError("--encrypt needs --key-file FILE or --passphrase")
    if (args.key_file or args.passphrase) and not args.encrypt:
        raise UsageError("--key-file/--passphrase encrypt the snapshot: add --encrypt")
    check_target(args.file.expanduser().absolute())  # before any connection is made
    connection = connection_from(args)  # a bad config is reported before the passphrase is asked
    key = snapshot_key(args, confirm=True)  # None unless --encrypt; $ETCDTUI_PASSPHRASE gone

    held: list[str] = []

    def note(line: str) -> None:  # node-side copies left behind, or removed since
        held.append(line)  # shown after the outcome: a failure's cause comes first

    shells = None
    if args.on_node or connection.via_ssh:
        from etcdtui.clients.ssh.shell import ShellPool

        if not connection.nodes:
            raise UsageError("--on-node needs a config whose cluster lists its nodes")
        # Each node reached removes the snapshot copies an earlier save had to leave there.
        shells = ShellPool(connection.nodes, on_connect=sweeper(connection.cluster, note))
    # The save's own reader (etcdctl where etcdctl will stream), not open_cluster's: hence
    # a session made here rather than by cluster_session().
    session = ClusterSession(connection, reader_for(connection, shells), shells)

    def started(member: str, route: str) -> None:  # printed once the audit log has the step
        print(f"saving a snapshot of {printable(connection.cluster)} to "
              f"{printable(str(args.file))}", flush=True)  # fmt: skip

    with contextlib.closing(session):
        try:
            saver = SnapshotSaver(connection, session.client, shells=shells)
            # "started" is journaled before the first byte is read; unrecordable means not
            # started.
            result = save_recorded(saver, AuditLog(args.audit_log), args.file,
                                   member=args.from_member, node=args.on_node, key=key,
                                   on_progress=_progress_printer(), on_start=started,
                                   on_note=note)  # fmt: skip
        except EtcdtuiError as exc:
            exc.notes.extend(held)
            raise
    _print_saved(result, held)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Check a snapshot file (and its .sha256 sidecar) and print its status."""
    import json

    from etcdtui.errors import SnapshotError
    from etcdtui.snapshots.catalogue import check_sidecar, inspect_snapshot

    key = snapshot_key(args)
    status, encrypted = inspect_snapshot(args.file, key)
    mismatch = check_sidecar(args.file.expanduser())
    if mismatch:  # the file is not what was saved: a FAIL, whatever etcd's own digest says
        raise SnapshotError(f"{args.file}: {mismatch}: the file changed since it was saved")
    if args.write_out == "json":
        print(json.dumps({"hash": status.hash, "revision": status.revision,
                          "totalKey": status.total_keys, "totalSize": status.total_size,
                          "clusterVersion": status.cluster_version or None,
                          "digest": status.digest, "encrypted": encrypted}))  # fmt: skip
        return EXIT_OK
    from etcdtui.models.units import human_bytes

    rows = [("HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"),
            (status.hash_hex, str(status.revision), str(status.total_keys),
             human_bytes(status.total_size))]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(rule)
    for i, row in enumerate(rows):
        align = "^" if i == 0 else ">"  # as etcdctl's table: titles centred, values right
        print("|" + "|".join(f" {c:{align}{w}} " for c, w in zip(row, widths, strict=True)) + "|")
        if i == 0:
            print(rule)
    print(rule)
    digest = "sha256 digest ok" if status.digest == "ok" else "no sha256 digest (a db copy)"
    version = f"; etcd {status.cluster_version}" if status.cluster_version else ""
    print(printable(f"{digest}{version}{'; encrypted' if encrypted else ''}"))
    return EXIT_OK
