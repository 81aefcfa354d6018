"""`etcdtui lab up` starts a local etcd cluster to rehearse on (members and spare nodes with
sshd, on loopback); `etcdtui lab down` stops it and removes what it made."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from etcdtui.cli.common import EXIT_OK, Parser, Subparsers
from etcdtui.errors import UsageError
from etcdtui.models.text import printable

HELP = {
    "lab": "a local etcd cluster to rehearse on",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


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


def register(subparsers: Subparsers) -> None:
    """`lab up` and `lab down`."""
    lab = subparsers.add_parser("lab", help=HELP["lab"])
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="up|down", parser_class=Parser)
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
    up.add_argument(
        "--rke2-layout",
        action="store_true",
        help="nodes laid out like RKE2 servers: etcd's static pod reads RKE2's config file, "
        "RKE2's /var/lib/rancher paths and certificates (root; implies --netns --tls)",
    )
    up.set_defaults(handler=cmd_lab_up)
    down = lab_sub.add_parser("down", help="stop a lab and remove what it made")
    down.add_argument("--dir", type=Path, default=None)
    down.set_defaults(handler=cmd_lab_down)


def default_lab_dir() -> Path:
    """Where the lab lives without --dir: $XDG_STATE_HOME/etcdtui/lab."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "etcdtui" / "lab"


def cmd_lab_up(args: argparse.Namespace) -> int:
    """Start the lab and print how to open it and how to stop it."""
    from etcdtui.lab import lab_up

    directory = (args.dir or default_lab_dir()).resolve()
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
        rke2_layout=args.rke2_layout,
    )
    print(f"  etcdtui --config {info.config_path} --cluster {info.cluster}")
    print(f"  etcdtui lab down --dir {directory}")
    return EXIT_OK


def cmd_lab_down(args: argparse.Namespace) -> int:
    """Stop the lab, saying what was stopped and removed."""
    from etcdtui.lab import lab_down

    for line in lab_down((args.dir or default_lab_dir()).resolve()):
        print(printable(line))
    return EXIT_OK
