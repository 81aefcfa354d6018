"""`etcdtui discover`: log into kubeadm or systemd control-plane nodes over SSH and build the
config's cluster from what runs there; shown, or written with --write."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from etcdtui.cli.common import EXIT_FAILED, EXIT_OK, Subparsers, input_file, optional_file
from etcdtui.errors import UsageError
from etcdtui.models.text import printable


def register(subparsers: Subparsers) -> None:
    """`discover --ssh HOST[,HOST...]`."""
    discover = subparsers.add_parser(
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
                          type=input_file("SSH identity file"))  # fmt: skip
    discover.add_argument("--known-hosts", default=None, metavar="FILE",
                          type=optional_file("known_hosts file"))  # fmt: skip
    discover.add_argument("--accept-new-host-keys", action="store_true",
                          help="trust hosts not yet in known_hosts (changed keys are still "
                          "refused)")  # fmt: skip
    discover.add_argument("--yes", action="store_true",
                          help="replace a cluster of that name without asking")  # fmt: skip
    discover.set_defaults(handler=cmd_discover)


def _check(args: argparse.Namespace, name: str) -> None:
    """Refuse, before anything is read, a --write that could not be done as asked."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise UsageError(f"--write: a cluster name is letters, digits, - and _, not {name!r}")
    if args.copy_certs and not args.write:
        raise UsageError("--copy-certs goes with --write (the copies are for the config)")


def _replace_confirmed(path: Path, name: str) -> bool:
    """Ask for the cluster's name before the config's cluster of that name is replaced."""
    # The question goes to stderr: stdout may be redirected to keep the cluster shown.
    print(f"{path} already has cluster {name!r}. Type its name to replace it: ",
          end="", file=sys.stderr, flush=True)  # fmt: skip
    if input().strip() != name:
        print("not confirmed: nothing was written", file=sys.stderr)
        return False
    return True


def cmd_discover(args: argparse.Namespace) -> int:
    """Discover the cluster, print it as TOML, and with --write add it to the config."""
    from etcdtui.clients.ssh.shell import SshShell
    from etcdtui.config import NodeConfig, SshTarget, cluster_names, default_config_path
    from etcdtui.services.kube.discover import copy_certs, discover, parse_host, save_cluster
    from etcdtui.toml_io import dump_toml

    hosts = [h.strip() for h in args.ssh.split(",") if h.strip()]
    name = args.write or "discovered"
    _check(args, name)
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
    if exists and not args.yes and not _replace_confirmed(path, name):
        return EXIT_FAILED
    for copy in copy_certs(found, target_of, open_shell):
        print(f"copied {copy} (0600)", file=sys.stderr)
    backup = save_cluster(path, name, found.cluster)
    kept = f" (the old file is {backup})" if backup else ""
    print(f"wrote cluster {name!r} to {path}{kept}", file=sys.stderr)
    print(f"  etcdtui --config {path} --cluster {name}", file=sys.stderr)
    return EXIT_OK
