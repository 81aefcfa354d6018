"""The command line: `etcdtui [CONNECTION]` opens the TUI; subcommands script the rest.

Heavy imports (Textual, etcd3-py, paramiko) happen inside the command that needs them, so
`etcdtui --version` and `etcdtui lab down` start instantly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from etcdtui import __version__
from etcdtui.errors import EtcdtuiError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


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
    group.add_argument("--config", metavar="FILE", default=default, help="TOML config file")
    group.add_argument("--cluster", metavar="NAME", default=default, help="cluster in the config")
    group.add_argument(
        "--endpoints", metavar="URL[,URL]", default=default, help="client URLs (ETCDCTL_ENDPOINTS)"
    )
    group.add_argument(
        "--cacert",
        metavar="FILE",
        default=default,
        help="CA bundle to verify servers (ETCDCTL_CACERT)",
    )
    group.add_argument(
        "--cert", metavar="FILE", default=default, help="client certificate (ETCDCTL_CERT)"
    )
    group.add_argument("--key", metavar="FILE", default=default, help="client key (ETCDCTL_KEY)")
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=default,
        help="per-request timeout (default 2)",
    )


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
        type=int,
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
    down = lab_sub.add_parser("down", help="stop a lab and remove what it made")
    down.add_argument("--dir", type=Path, default=None)
    return parser


def default_lab_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "etcdtui" / "lab"


def _connection(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from etcdtui.config import resolve

    connection = resolve(
        getattr(args, "config", None),
        getattr(args, "cluster", None),
        getattr(args, "endpoints", None),
        getattr(args, "cacert", None),
        getattr(args, "cert", None),
        getattr(args, "key", None),
    )
    timeout = getattr(args, "timeout", None)
    if timeout:
        from dataclasses import replace

        connection = replace(connection, timeout=timeout)
    return connection


def cmd_status(args: argparse.Namespace) -> int:
    from etcdtui.clients.cluster import ClusterClient
    from etcdtui.services.status import render_json, render_table

    client = ClusterClient(_connection(args))
    try:
        view = client.read()
    finally:
        client.close()
    print(render_json(view) if args.write_out == "json" else render_table(view))
    return EXIT_OK if view.healthy else EXIT_FAILED


def cmd_lab(args: argparse.Namespace) -> int:
    from etcdtui.lab import lab_down, lab_up

    directory = (args.dir or default_lab_dir()).resolve()
    if args.lab_command == "down":
        for line in lab_down(directory):
            print(line)
        return EXIT_OK
    if args.netns:
        raise UsageError("lab up --netns is not available yet in this version")
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
    )
    print(f"lab is up: {len(info.members())} members of etcd {info.etcd_version}")
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
    args = build_parser().parse_args(argv)
    handlers = {"status": cmd_status, "lab": cmd_lab, None: cmd_tui}
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"etcdtui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EtcdtuiError as exc:
        print(f"etcdtui: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("etcdtui: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
