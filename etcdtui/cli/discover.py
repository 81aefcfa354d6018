"""`etcdtui discover`: log into control-plane nodes over SSH and build the config's cluster
from what runs there; shown, or written with --write. `--inspect FILE...` reads local copies
of a node's files with the same parsers instead, and shows what they say."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from etcdtui.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Subparsers,
    input_file,
    optional_file,
    say,
)
from etcdtui.errors import UsageError
from etcdtui.models.text import printable

HELP = {
    "discover": "build a config cluster from kubeadm or systemd nodes, over SSH",
}
"""The commands `register` adds, each with the line `etcdtui --help` shows for it."""


def register(subparsers: Subparsers) -> None:
    """`discover --ssh HOST[,HOST...]` or `discover --inspect FILE...`."""
    from etcdtui.services.kube.filekinds import FileKind

    discover = subparsers.add_parser("discover", help=HELP["discover"])
    source = discover.add_mutually_exclusive_group(required=True)
    source.add_argument("--ssh", metavar="HOST[,HOST...]",
                        help="control-plane nodes: [user@]host[:port] or ~/.ssh/config "
                        "aliases")  # fmt: skip
    source.add_argument("--inspect", nargs="+", metavar="FILE",
                        help="read these local files (manifests, units and their drop-ins, "
                        "environment and etcd config files) as discovery would")  # fmt: skip
    discover.add_argument("-w", "--write-out", choices=("table", "json"), default="table",
                          help="with --inspect: how to show what was found")  # fmt: skip
    discover.add_argument("--kind", choices=[str(k) for k in FileKind], default=None,
                          help="with --inspect: read every file as this kind")  # fmt: skip
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


def cmd_inspect(args: argparse.Namespace) -> int:
    """Parse local files as discovery would and print what they say; each failure is one
    line naming its file (exit 2 for a single file, 1 if any of several failed)."""
    from etcdtui.services.kube.filekinds import FileKind
    from etcdtui.services.kube.localfiles import inspect_files, inspected_json, inspected_lines

    if args.write or args.copy_certs:
        raise UsageError("--inspect shows what files say: --write and --copy-certs need --ssh")
    found = inspect_files(args.inspect, FileKind(args.kind) if args.kind else None)
    good = [item for item in found if not item.error]
    for item in found:
        if item.error:
            say(item.error)
    if args.write_out == "json":
        shapes = [inspected_json(item) for item in good]
        if shapes:
            text = json.dumps(shapes[0] if len(found) == 1 else shapes, indent=2)
            print("\n".join(printable(line) for line in text.splitlines()))
    else:
        for i, item in enumerate(good):
            print("\n" * bool(i) + "\n".join(printable(line) for line in inspected_lines(item)))
    if len(good) == len(found):
        return EXIT_OK
    return EXIT_USAGE if len(found) == 1 else EXIT_FAILED


def cmd_discover(args: argparse.Namespace) -> int:
    """Discover the cluster, print it as TOML, and with --write add it to the config."""
    if args.inspect:
        return cmd_inspect(args)
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
