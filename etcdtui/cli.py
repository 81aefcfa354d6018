"""The command line: `etcdtui [CONNECTION]` opens the TUI; subcommands script the rest.

Heavy imports (Textual, etcd3-py, paramiko) happen inside the command that needs them, so
`etcdtui --version` and `etcdtui lab down` start instantly.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from etcdtui import __version__
from etcdtui.errors import EtcdtuiError, UsageError
from etcdtui.models.text import printable

if TYPE_CHECKING:  # only for annotations: the commands import what they need when they run
    from etcdtui.config import Connection
    from etcdtui.models.runbook import Plan
    from etcdtui.runbooks.engine import Runbook
    from etcdtui.snapshots.crypto import SnapshotKey

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        _say(f"{self.prog}: error: {message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


def _say(line: str) -> None:
    """One line on stderr, whatever it quotes: control characters (a newline in a path, an
    ESC in an argument) are shown escaped, so the line stays one line and the terminal is
    left alone."""

    try:
        sys.stderr.write(printable(line) + "\n")
        sys.stderr.flush()
    except OSError:  # stderr closed or a broken pipe: nowhere left to say it
        pass


def _input_file(what: str) -> Callable[[str], str]:
    """An argparse type for a file etcdtui will read: it must be a readable regular file,
    checked with stat before any command runs (a FIFO would hang the read, a device never
    end it). `~` is expanded for the check only; the text is returned as given."""

    def check(text: str) -> str:
        from etcdtui.toml_io import regular_file

        if not text.strip():
            raise argparse.ArgumentTypeError(f"the {what} path is empty")
        try:
            regular_file(os.path.expanduser(text), what)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return text

    return check


def _input_path(what: str) -> Callable[[str], Path]:
    """`_input_file`, as a Path."""
    check = _input_file(what)
    return lambda text: Path(check(text))


def _optional_file(what: str) -> Callable[[str], str]:
    """An argparse type for a file read if it exists (known_hosts): when it does, it must be
    a regular file."""

    def check(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"the {what} path is empty")
        if os.path.lexists(os.path.expanduser(text)):
            return _input_file(what)(text)
        return text

    return check


def _endpoints(text: str) -> str:
    """--endpoints: not empty, and no white space or control character inside a URL (urllib
    would drop a newline silently and connect somewhere else than what was typed)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: give URL[,URL...]")
    for item in text.split(","):
        item = item.strip()
        if any(ch.isspace() or not ch.isprintable() for ch in item):
            raise argparse.ArgumentTypeError(f"{item!r} holds white space or a control character")
    return text


def _non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty")
    return text


def _quota_bytes(text: str) -> int:
    """etcd's --quota-backend-bytes is an int64: refused here rather than by a started etcd."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of bytes, got {text!r}"
        ) from None
    if not 0 < value < 2**63:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of bytes below 2**63, got {text}"
        )
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0.1 to 3600 seconds, got {text}")
    return value


def _add_connection(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # Subcommands get the same options; SUPPRESS keeps a subparser from resetting a value
    # given before the subcommand.
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("connection (defaults from ETCDCTL_* variables)")
    group.add_argument("--config", metavar="FILE", default=default, help="TOML config file",
                       type=_input_file("config file"))  # fmt: skip
    group.add_argument("--cluster", metavar="NAME", default=default, type=_non_empty,
                       help="cluster in the config")  # fmt: skip
    group.add_argument("--endpoints", metavar="URL[,URL]", default=default, type=_endpoints,
                       help="client URLs (ETCDCTL_ENDPOINTS)")  # fmt: skip
    group.add_argument(
        "--cacert",
        metavar="FILE",
        default=default,
        type=_input_file("CA certificate file (--cacert)"),
        help="CA bundle to verify servers (ETCDCTL_CACERT)",
    )
    group.add_argument(
        "--cert",
        metavar="FILE",
        default=default,
        type=_input_file("client certificate file (--cert)"),
        help="client certificate (ETCDCTL_CERT)",
    )
    group.add_argument("--key", metavar="FILE", default=default, help="client key (ETCDCTL_KEY)",
                       type=_input_file("client key file (--key)"))  # fmt: skip
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=default,
        help="per-request timeout (default 2)",
    )
    group.add_argument(
        "--via-ssh",
        action="store_true",
        default=default if suppress else False,
        help="reach the members through SSH, as the config's nodes describe",
    )


def _add_runbook_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--yes", action="store_true", help="execute without asking (destructive steps included)"
    )
    parser.add_argument(
        "--audit-log",
        type=Path,
        default=None,
        metavar="FILE",
        help="where executed steps are journaled (default $XDG_STATE_HOME/etcdtui/audit.log)",
    )
    parser.add_argument(
        "--break-lock",
        action="store_true",
        help="remove the cluster lock of a run that cannot release it (asks for the cluster name)",
    )


def _add_key_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-file", type=_input_path("key file"), metavar="FILE",
                        help="32-byte key file (0600) for encrypted snapshots")  # fmt: skip
    parser.add_argument("--passphrase", action="store_true",
                        help="ask for a passphrase (or read $ETCDTUI_PASSPHRASE)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="etcdtui",
        description="Operate the etcd clusters behind Kubernetes: dashboard and runbooks.",
    )
    parser.add_argument("--version", action="version", version=f"etcdtui {__version__}")
    _add_connection(parser, suppress=False)
    parser.add_argument(
        "--refresh",
        metavar="SECONDS",
        type=_positive_seconds,
        default=2.0,
        help="dashboard refresh interval (default 2)",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="hide every action that changes anything"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    status = sub.add_parser("status", help="one-shot status; exit 1 if unhealthy")
    _add_connection(status, suppress=True)
    status.add_argument("-w", "--write-out", choices=("table", "json"), default="table")

    kube = sub.add_parser(
        "kube-check",
        help="API server wiring, certificate expiry, security checks (read over SSH); "
        "exit 1 on anything critical",
    )
    _add_connection(kube, suppress=True)
    kube.add_argument("-w", "--write-out", choices=("table", "json"), default="table")

    defrag = sub.add_parser("defrag", help="defragment members, followers first, leader last")
    _add_connection(defrag, suppress=True)
    defrag.add_argument(
        "--rule",
        metavar="EXPR",
        help="which members, e.g. 'dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024'",
    )
    defrag.add_argument(
        "--compact",
        action="store_true",
        help="compact to the current revision first (destructive: asks)",
    )
    defrag.add_argument(
        "--move-leader",
        action="store_true",
        help="hand leadership to a defragmented follower before the leader's turn",
    )
    defrag.add_argument(
        "--wait",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="pause between members after the health re-check (default 5)",
    )
    defrag.add_argument(
        "--defrag-timeout",
        type=_positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="per-member defrag timeout (default 60)",
    )
    defrag.add_argument(
        "--on-node", action="store_true", help="run etcdctl defrag on each member's node over SSH"
    )
    _add_runbook_flags(defrag)

    nospace = sub.add_parser(
        "recover-nospace", help="NOSPACE alarm: compact, defragment all, disarm, check a write"
    )
    _add_connection(nospace, suppress=True)
    nospace.add_argument(
        "--defrag-timeout", type=_positive_seconds, default=60.0, metavar="SECONDS"
    )
    _add_runbook_flags(nospace)

    snapshot = sub.add_parser("snapshot", help="save a snapshot, or show one's status")
    snap_sub = snapshot.add_subparsers(dest="snapshot_command", metavar="save|status",
                                       parser_class=_Parser)  # fmt: skip
    snap_sub.required = True
    save = snap_sub.add_parser("save", help="stream a snapshot from a member to FILE")
    save.add_argument("file", type=Path, metavar="FILE")
    _add_connection(save, suppress=True)
    where = save.add_mutually_exclusive_group()
    where.add_argument("--from", dest="from_member", metavar="MEMBER",
                       help="the member to read (default: a healthy follower)")  # fmt: skip
    where.add_argument(
        "--on-node", metavar="NODE", help="run etcdctl on NODE over SSH, then copy the file back"
    )
    save.add_argument(
        "--encrypt", action="store_true", help="encrypt at rest (AES-256-GCM): needs a key"
    )
    _add_key_flags(save)
    save.add_argument("--audit-log", type=Path, default=None, metavar="FILE")
    status_file = snap_sub.add_parser("status", help="HASH, REVISION, TOTAL KEYS, TOTAL SIZE")
    status_file.add_argument("file", type=_input_path("snapshot file"), metavar="FILE")
    status_file.add_argument("-w", "--write-out", choices=("table", "json"), default="table")
    _add_key_flags(status_file)

    restore = sub.add_parser("restore", help="restore every member from a snapshot (guided)")
    restore.add_argument(
        "file", type=_input_path("snapshot file"), metavar="FILE", nargs="?",
        help="the snapshot (optional with --resume; none with --rollback or --forget)",
    )  # fmt: skip
    _add_connection(restore, suppress=True)
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
    _add_key_flags(restore)
    _add_runbook_flags(restore)

    replace = sub.add_parser(
        "replace-member", help="replace a failed member with a new node (learner first)"
    )
    replace.add_argument("member", metavar="MEMBER", help="the failed member's name")
    replace.add_argument("--new-node", required=True, metavar="NODE",
                         help="the config's node that will run the new member")  # fmt: skip
    replace.add_argument("--new-name", default="", metavar="NAME",
                         help="the new member's name (default: the node's)")  # fmt: skip
    _add_connection(replace, suppress=True)
    _add_runbook_flags(replace)

    add_member = sub.add_parser("add-member", help="add one member (scale-out, learner first)")
    add_member.add_argument("node", metavar="NODE", help="the config's node to run it on")
    add_member.add_argument("--name", default="", metavar="NAME", help="the member's name")
    _add_connection(add_member, suppress=True)
    _add_runbook_flags(add_member)

    discover = sub.add_parser(
        "discover", help="build a config cluster from kubeadm or systemd nodes, over SSH"
    )
    discover.add_argument("--ssh", required=True, metavar="HOST[,HOST...]",
                          help="control-plane nodes: [user@]host[:port] or ~/.ssh/config "
                          "aliases")  # fmt: skip
    discover.add_argument("--write", metavar="CLUSTER", default=None,
                          help="add the cluster to the config file under this name")  # fmt: skip
    discover.add_argument("--config", type=Path, default=None, metavar="FILE",
                          help="the config file to write (default: etcdtui's)")  # fmt: skip
    discover.add_argument("--copy-certs", type=Path, default=None, metavar="DIR",
                          help="copy the client certificate, key and CA here (0600) instead "
                          "of reading them from the node each time")  # fmt: skip
    discover.add_argument("--user", default=None, help="SSH user (default: ~/.ssh/config's)")
    discover.add_argument("--identity-file", default=None, metavar="FILE",
                          type=_input_file("SSH identity file"))  # fmt: skip
    discover.add_argument("--known-hosts", default=None, metavar="FILE",
                          type=_optional_file("known_hosts file"))  # fmt: skip
    discover.add_argument("--accept-new-host-keys", action="store_true",
                          help="trust hosts not yet in known_hosts (changed keys are still "
                          "refused)")  # fmt: skip
    discover.add_argument("--yes", action="store_true",
                          help="replace a cluster of that name without asking")  # fmt: skip

    lab = sub.add_parser("lab", help="a local etcd cluster to rehearse on")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="up|down", parser_class=_Parser)
    lab_sub.required = True
    up = lab_sub.add_parser("up", help="start a lab cluster and write its config")
    up.add_argument("--dir", type=Path, default=None, help="where the lab lives")
    up.add_argument("--members", type=int, choices=(3, 5), default=3)
    up.add_argument(
        "--spares", type=int, default=0, metavar="N", help="nodes with sshd but no member yet"
    )
    up.add_argument("--tls", action="store_true", help="TLS for clients and peers")
    up.add_argument("--etcd-version", choices=("3.4", "3.5"), default="3.5")
    up.add_argument(
        "--quota-bytes",
        type=_quota_bytes,
        default=None,
        metavar="BYTES",
        help="etcd's --quota-backend-bytes (rehearse NOSPACE)",
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=None,
        metavar="PORT",
        help="consecutive ports from PORT (SSH, client, peer per node) instead of free ones",
    )
    up.add_argument(
        "--netns", action="store_true", help="each node in its own network namespace (root)"
    )
    up.add_argument(
        "--kubeadm-layout",
        action="store_true",
        help="nodes laid out like kubeadm control planes: static pods run by a lab kubelet, "
        "kubeadm's /etc/kubernetes and pki (root; implies --netns --tls)",
    )
    down = lab_sub.add_parser("down", help="stop a lab and remove what it made")
    down.add_argument("--dir", type=Path, default=None)
    return parser


def default_lab_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "etcdtui" / "lab"


def _connection(args: argparse.Namespace) -> Connection:
    from etcdtui.config import resolve

    connection = resolve(
        getattr(args, "config", None),
        getattr(args, "cluster", None),
        getattr(args, "endpoints", None),
        getattr(args, "cacert", None),
        getattr(args, "cert", None),
        getattr(args, "key", None),
        via_ssh=bool(getattr(args, "via_ssh", False)),
    )
    timeout = getattr(args, "timeout", None)
    if timeout:
        from dataclasses import replace

        connection = replace(connection, timeout=timeout)
    return connection


def cmd_status(args: argparse.Namespace) -> int:
    from etcdtui.clients.via_ssh import open_cluster
    from etcdtui.services.status import render_json, render_table

    client = open_cluster(_connection(args))
    try:
        view = client.read()
    finally:
        client.close()
    print(render_json(view) if args.write_out == "json" else render_table(view))
    return EXIT_OK if view.healthy else EXIT_FAILED


def cmd_kube_check(args: argparse.Namespace) -> int:
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.clients.via_ssh import open_cluster
    from etcdtui.services.kube.render import render_json, render_text
    from etcdtui.services.kube.report import cluster_report

    connection = _connection(args)
    if not connection.nodes:
        raise UsageError(
            "kube-check reads the nodes over SSH: it needs a config whose cluster lists them "
            "(etcdtui discover writes one)"
        )
    shells = ShellPool(connection.nodes)
    client = open_cluster(connection, shells)
    try:
        report = cluster_report(client, shells.shell)
    finally:
        client.close()
        shells.close_all()
    render = render_json if args.write_out == "json" else render_text
    # Paths, URLs and errors read from the nodes: no control character reaches the terminal.
    print(printable(render(report, connection.cluster), newlines=True))
    return EXIT_FAILED if report.worst == "critical" else EXIT_OK


def _confirm(plan: Plan, cluster: str) -> bool:
    """Ask on the terminal: the cluster's name for a destructive plan, y/N otherwise."""
    if plan.destructive:
        answer = input(
            f"This plan has DESTRUCTIVE steps. Type the cluster name ({printable(cluster)}) to go "
            "on: "
        )
        return answer.strip() == cluster
    return input("Run these steps? [y/N] ").strip().lower() in ("y", "yes")


def _break_lock(runbook: Runbook) -> None:
    """--break-lock: only with the cluster's name typed on a terminal."""

    lock = runbook.cluster_lock()
    holder = lock.holder() if lock is not None else ""
    if lock is None or not holder:
        print("the cluster lock is not held: nothing to break", flush=True)
        return
    if not sys.stdin.isatty():
        raise UsageError("--break-lock needs the cluster name typed on a terminal")
    answer = input(
        f"The lock is held by {printable(holder)}. Type the cluster name "
        f"({printable(runbook.cluster)}) to break it: "
    )
    if answer.strip() != runbook.cluster:
        raise UsageError("not confirmed: the lock was left in place")
    print(printable(lock.break_lock()), flush=True)


def run_runbook(runbook: Runbook, args: argparse.Namespace) -> int:
    """Plan, print, confirm, execute with live output, verify: the same for every runbook."""
    from etcdtui.runbooks.audit import AuditLog
    from etcdtui.runbooks.engine import Event, execute
    from etcdtui.runbooks.render import block, render_plan, render_report

    if args.break_lock:
        _break_lock(runbook)
    plan = runbook.plan()
    print(render_plan(plan), flush=True)
    if plan.blocked:
        return EXIT_FAILED
    if args.dry_run or not plan.steps:
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "refusing to change the cluster without --yes (or run it on a terminal)"
            )
        if not _confirm(plan, plan.cluster):
            print("not confirmed: nothing was changed")
            return EXIT_FAILED
    audit = AuditLog(args.audit_log)

    def show(event: Event) -> None:
        # Targets, commands and output come from the config and the nodes: made printable,
        # so a command's output cannot retitle or clear the terminal.
        if event.kind == "step" and event.step is not None:
            target, command = printable(event.step.target), printable(event.text)
            print(f"\n[{event.index}/{len(plan.steps)}] {target}: {command}", flush=True)
        elif event.kind == "output":
            print(f"    {block(event.text, '    ')}", flush=True)
        elif event.kind == "result" and event.result is not None:
            word = "ok" if event.result.ok else "FAILED"
            print(f"    {word} in {event.result.duration:.1f} s", flush=True)

    report = execute(runbook, plan, audit, on_event=show)
    print(render_report(report))
    print(f"audit log: {printable(str(audit.path))}")
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_defrag(args: argparse.Namespace) -> int:
    from etcdtui.runbooks.defrag.rule import parse_rule

    # Checked before the heavy imports and any I/O. An empty --rule is refused rather than
    # read as "every member": leaving --rule out says that.
    rule = parse_rule(args.rule) if args.rule is not None else None
    if not math.isfinite(args.wait) or not 0 <= args.wait <= 3600:
        raise UsageError(f"--wait takes 0 to 3600 seconds, got {args.wait:g}")
    connection = _connection(args)
    from etcdtui.clients.via_ssh import open_cluster
    from etcdtui.runbooks.defrag.runbook import DefragOptions, DefragRunbook

    shells = None
    if args.on_node or connection.via_ssh:
        if not connection.nodes:
            raise UsageError("--on-node needs a config whose cluster lists its nodes")
        from etcdtui.clients.ssh.shell import ShellPool

        shells = ShellPool(connection.nodes)  # one SSH connection per node for both uses
    options = DefragOptions(rule=rule, compact=args.compact, move_leader=args.move_leader,
                            wait=args.wait, defrag_timeout=args.defrag_timeout,
                            on_node=args.on_node)  # fmt: skip
    client = open_cluster(connection, shells)
    try:
        return run_runbook(DefragRunbook(connection, client, options, shells), args)
    finally:
        client.close()
        if shells is not None:
            shells.close_all()


def cmd_recover_nospace(args: argparse.Namespace) -> int:
    connection = _connection(args)  # a bad config is refused before the heavy imports
    from etcdtui.clients.via_ssh import open_cluster
    from etcdtui.runbooks.defrag.runbook import DefragOptions, NospaceRecovery

    client = open_cluster(connection)
    try:
        options = DefragOptions(defrag_timeout=args.defrag_timeout)
        return run_runbook(NospaceRecovery(connection, client, options), args)
    finally:
        client.close()


def _snapshot_key(args: argparse.Namespace, confirm: bool = False) -> SnapshotKey | None:
    from etcdtui.snapshots.crypto import SnapshotKey

    # Taken out of the environment at once, used or not: no child (etcdctl, sh, ssh) inherits it.
    text = os.environ.pop("ETCDTUI_PASSPHRASE", None)
    if args.key_file and args.passphrase:
        raise UsageError("give --key-file or --passphrase, not both")
    if args.key_file:
        return SnapshotKey.from_file(args.key_file)
    if not args.passphrase:
        return None
    if text is None:
        if not sys.stdin.isatty():
            raise UsageError("--passphrase needs a terminal, or $ETCDTUI_PASSPHRASE")
        import getpass

        text = getpass.getpass("Snapshot passphrase: ")
        if confirm and getpass.getpass("Again: ") != text:
            raise UsageError("the two passphrases differ: nothing was saved")
    return SnapshotKey.from_passphrase(text)


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


def cmd_snapshot(args: argparse.Namespace) -> int:
    if args.snapshot_command == "status":
        return _snapshot_status(args)
    from etcdtui.models.units import human_bytes
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
    connection = _connection(args)  # a bad config is reported before the passphrase is asked
    key = _snapshot_key(args, confirm=True)  # None unless --encrypt; $ETCDTUI_PASSPHRASE gone

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
    cluster = reader_for(connection, shells)

    def started(member: str, route: str) -> None:  # printed once the audit log has the step
        print(f"saving a snapshot of {printable(connection.cluster)} to "
              f"{printable(str(args.file))}", flush=True)  # fmt: skip

    try:
        saver = SnapshotSaver(connection, cluster, shells=shells)
        # "started" is journaled before the first byte is read; unrecordable means not started.
        result = save_recorded(saver, AuditLog(args.audit_log), args.file,
                               member=args.from_member, node=args.on_node, key=key,
                               on_progress=_progress_printer(), on_start=started,
                               on_note=note)  # fmt: skip
    except EtcdtuiError as exc:
        exc.notes.extend(held)
        raise
    finally:
        cluster.close()
        if shells is not None:
            shells.close_all()
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    for line in held:
        _say(f"etcdtui: {line}")
    # The member's name and URL come from the cluster: never raw control characters here.
    print(printable(f"saved {result.path}: {human_bytes(result.snapshot_size)} from "
                    f"{result.member} ({result.endpoint}) via {result.route} in "
                    f"{result.seconds:.2f} s, {human_bytes(int(result.rate))}/s"
                    f"{', encrypted' if result.encrypted else ''}"))  # fmt: skip
    print(f"sha256 {result.sha256}  (in {printable(result.path.name)}.sha256)")
    return EXIT_OK


def _snapshot_status(args: argparse.Namespace) -> int:
    import json

    from etcdtui.errors import SnapshotError
    from etcdtui.snapshots.catalogue import check_sidecar, inspect_snapshot

    key = _snapshot_key(args)
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


def cmd_restore(args: argparse.Namespace) -> int:
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.clients.via_ssh import open_cluster
    from etcdtui.runbooks.restore.journal import RestoreOptions
    from etcdtui.runbooks.restore.runbook import RestoreRunbook, abandon, pending_restore

    connection = _connection(args)
    if not connection.nodes:
        raise UsageError("restore needs a config whose cluster lists its nodes (--config)")
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
    key = _snapshot_key(args)
    shells = ShellPool(connection.nodes)
    client = open_cluster(connection, shells)
    try:
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
    finally:
        client.close()
        shells.close_all()


def cmd_member_change(args: argparse.Namespace) -> int:
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.clients.via_ssh import open_cluster
    from etcdtui.runbooks.membership.runbook import MemberChangeRunbook

    connection = _connection(args)
    if not connection.nodes:
        raise UsageError(f"{args.command} needs a config whose cluster lists its nodes (--config)")
    replacing = args.command == "replace-member"
    node = args.new_node if replacing else args.node
    name = args.new_name if replacing else args.name
    shells = ShellPool(connection.nodes)
    client = open_cluster(connection, shells)
    try:
        runbook = MemberChangeRunbook(connection, client, shells, node, name,
                                      old_member=args.member if replacing else "",
                                      audit_path=args.audit_log)  # fmt: skip
        return run_runbook(runbook, args)
    finally:
        client.close()
        shells.close_all()


def cmd_discover(args: argparse.Namespace) -> int:
    from etcdtui.clients.ssh.shell import SshShell
    from etcdtui.config import NodeConfig, SshTarget, cluster_names, default_config_path
    from etcdtui.services.kube.discover import copy_certs, discover, parse_host, save_cluster
    from etcdtui.toml_io import dump_toml

    hosts = [h.strip() for h in args.ssh.split(",") if h.strip()]
    name = args.write or "discovered"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise UsageError(f"--write: a cluster name is letters, digits, - and _, not {name!r}")
    if args.copy_certs and not args.write:
        raise UsageError("--copy-certs goes with --write (the copies are for the config)")
    path = args.config or default_config_path()
    exists = bool(args.write) and path.exists() and name in cluster_names(path)
    if exists and not args.yes and not sys.stdin.isatty():
        raise UsageError(
            f"{path} already has a cluster {name!r}: add --yes to replace it, or choose "
            "another --write name"
        )

    def target_of(host: str) -> SshTarget:
        user, address, port = parse_host(host)
        return SshTarget(
            host=address,
            port=port,
            user=user or args.user,
            identity_file=args.identity_file,
            known_hosts=args.known_hosts,
            host_key_policy="accept-new" if args.accept_new_host_keys else "strict",
        )

    def open_shell(host: str, target: SshTarget) -> SshShell:
        return SshShell(NodeConfig(name=host, ssh=target))

    found = discover(
        hosts,
        target_of,
        open_shell,
        copy_certs_to=args.copy_certs if args.write else None,
        cluster_name=name,
        on_progress=lambda line: print(printable(line), file=sys.stderr, flush=True),
    )
    for warning in found.warnings:
        print(f"warning: {printable(warning)}", file=sys.stderr)
    print(dump_toml({"clusters": {name: found.cluster}}), end="", flush=True)
    if not args.write:
        print(f"# not written: add --write NAME to add it to {path}", file=sys.stderr)
        return EXIT_OK
    if exists and not args.yes:
        # The question goes to stderr: stdout may be redirected to keep the cluster shown.
        print(f"{path} already has cluster {name!r}. Type its name to replace it: ",
              end="", file=sys.stderr, flush=True)  # fmt: skip
        if input().strip() != name:
            print("not confirmed: nothing was written", file=sys.stderr)
            return EXIT_FAILED
    for copy in copy_certs(found, target_of, open_shell):
        print(f"copied {copy} (0600)", file=sys.stderr)
    backup = save_cluster(path, name, found.cluster)
    kept = f" (the old file is {backup})" if backup else ""
    print(f"wrote cluster {name!r} to {path}{kept}", file=sys.stderr)
    print(f"  etcdtui --config {path} --cluster {name}", file=sys.stderr)
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from etcdtui.lab import lab_down, lab_up

    directory = (args.dir or default_lab_dir()).resolve()
    if args.lab_command == "down":
        for line in lab_down(directory):
            print(printable(line))
        return EXIT_OK
    if args.spares < 0 or args.spares > 5:
        raise UsageError(f"--spares takes 0 to 5, got {args.spares}")
    info = lab_up(
        directory,
        members=args.members,
        spares=args.spares,
        tls=args.tls,
        etcd_version=args.etcd_version,
        quota_bytes=args.quota_bytes,
        on_progress=lambda line: print(line, flush=True),
        base_port=args.base_port,
        netns=args.netns,
        kubeadm_layout=args.kubeadm_layout,
    )
    print(f"  etcdtui --config {info.config_path} --cluster {info.cluster}")
    print(f"  etcdtui lab down --dir {directory}")
    return EXIT_OK


def cmd_tui(args: argparse.Namespace) -> int:
    from etcdtui.config import cluster_names, default_config_path

    config = Path(args.config) if args.config else None
    if config is None and not args.endpoints and not os.environ.get("ETCDCTL_ENDPOINTS"):
        config = default_config_path() if default_config_path().exists() else None
    names = cluster_names(config) if config is not None else []
    connection = None
    if args.cluster or len(names) <= 1 or args.endpoints:
        connection = _connection(args)  # a usage error here exits 2 before the screen opens
    from etcdtui.ui.app import EtcdtuiApp

    app = EtcdtuiApp(
        connection,
        refresh=args.refresh,
        read_only=args.read_only,
        config_path=config,
        clusters=names,
    )
    app.run()
    return app.return_code or EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit status: 0 done, 1 failed (the cluster or a
    file let us down), 2 bad input (one line on stderr), 130 interrupted, 141 the reader of
    our output went away."""
    try:
        try:
            return _dispatch(build_parser().parse_args(argv))
        finally:
            # Output still buffered meets a closed pipe here, not in the interpreter's last
            # flush (which would print "Exception ignored ... BrokenPipeError").
            sys.stdout.flush()
    except BrokenPipeError:
        # `etcdtui status -w json | head -1`: the reader has what it wanted. Exit quietly as
        # a tool killed by SIGPIPE does (128 + 13); stdout goes to /dev/null so that nothing
        # later tries the closed pipe again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return EXIT_BROKEN_PIPE


def _dispatch(args: argparse.Namespace) -> int:
    handlers = {
        "status": cmd_status,
        "lab": cmd_lab,
        "defrag": cmd_defrag,
        "recover-nospace": cmd_recover_nospace,
        "snapshot": cmd_snapshot,
        "restore": cmd_restore,
        "replace-member": cmd_member_change,
        "add-member": cmd_member_change,
        "discover": cmd_discover,
        "kube-check": cmd_kube_check,
        None: cmd_tui,
    }
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        _say(f"etcdtui: error: {exc}")
        return EXIT_USAGE
    except EtcdtuiError as exc:
        _say(f"etcdtui: {exc}")
        for line in exc.notes:
            _say(f"etcdtui: {line}")
        return EXIT_FAILED
    except (KeyboardInterrupt, EOFError):
        print("\netcdtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # main's: the reader of our output went away
    except OSError as exc:
        # The bastion itself let us down (its disk full, a folder gone): still one line.
        where = f"{exc.filename}: " if exc.filename else ""
        _say(f"etcdtui: {where}{exc.strerror or exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
