"""`etcdtui [CONNECTION]` with no command: the dashboard, or the cluster picker when the
config holds several clusters and none is named."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from etcdtui.cli.common import EXIT_OK, connection_from, positive_seconds


def register(parser: argparse.ArgumentParser) -> None:
    """The TUI's options, on the top parser, and the TUI as what runs without a command."""
    parser.add_argument(
        "--refresh",
        metavar="SECONDS",
        type=positive_seconds,
        default=2.0,
        help="dashboard refresh interval (default 2)",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="hide every action that changes anything"
    )
    parser.set_defaults(handler=cmd_tui)


def cmd_tui(args: argparse.Namespace) -> int:
    """Open the TUI on the cluster the options name, or on the picker."""
    from etcdtui.config import cluster_names, default_config_path

    config = Path(args.config) if args.config else None
    if config is None and not args.endpoints and not os.environ.get("ETCDCTL_ENDPOINTS"):
        config = default_config_path() if default_config_path().exists() else None
    names = cluster_names(config) if config is not None else []
    connection = None
    if args.cluster or len(names) <= 1 or args.endpoints:
        connection = connection_from(args)  # a usage error here exits 2 before the screen opens
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
