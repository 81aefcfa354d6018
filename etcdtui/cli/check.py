"""`etcdtui check`: one consistency reading (HashKV on every member at one revision); exit 0
if consistent, 1 if not."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from etcdtui.cli.common import EXIT_FAILED, EXIT_OK, Subparsers, add_connection, connection_from
from etcdtui.models.text import printable

if TYPE_CHECKING:
    from etcdtui.services.consistency import Reading

HELP = {
    "check": "compare every member's data (HashKV); exit 1 if they differ",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`check [CONNECTION] [-w table|json]`."""
    check = subparsers.add_parser("check", help=HELP["check"])
    add_connection(check)
    check.add_argument("-w", "--write-out", choices=("table", "json"), default="table")
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """Take one reading and print it."""
    from etcdtui.clients.session import cluster_session
    from etcdtui.services.consistency import ConsistencyCheck

    with cluster_session(connection_from(args)) as session:
        reading = ConsistencyCheck(session.client).read()
    if args.write_out == "json":
        print(json.dumps(reading.as_json(), indent=2))
    else:
        print(render_table(reading))
    return EXIT_OK if reading.consistent else EXIT_FAILED


def render_table(reading: Reading) -> str:
    """The reading as a table, one member a row, then the verdict and what else differs."""
    header = f"{'MEMBER':<16} {'HASH':>10} {'REVISION':>10} {'COMPACTED':>10} {'TIME':>8}  RESULT"
    lines = [f"cluster {printable(reading.cluster)}: HashKV at revision {reading.revision}", header]
    for m in reading.members:
        result = {True: "agrees", False: "DIFFERS", None: "not compared"}[m.consistent]
        if m.hash is None:
            result = "no answer"
        hash_text = f"{m.hash:>10}" if m.hash is not None else f"{'-':>10}"
        lines.append(
            f"{printable(m.name):<16} {hash_text} {m.revision:>10} {m.compact_revision:>10} "
            f"{m.seconds:>7.2f}s  {result}" + (f": {printable(m.error)}" if m.error else "")
        )
    lines.append("")
    lines.append(("OK " if reading.consistent else "FAILED ") + printable(reading.verdict))
    lines += [f"  {printable(line)}" for line in reading.disagreements]
    if reading.attempts > 1:
        lines.append(f"  (read {reading.attempts} times: a compaction ran in between)")
    if reading.minority and not reading.no_majority:
        names = " ".join(reading.minority)
        lines.append(f"  rebuild from the majority: etcdtui repair {printable(names)}")
    return "\n".join(lines)
