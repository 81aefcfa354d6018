"""Client certificates that live on the nodes, fetched over SSH into a private directory.

kubeadm keeps etcd's CA and client certificates on the control-plane nodes, readable by root
only. etcdtui reads them there (``sudo -n`` where the node says so) and keeps the copies in one
private directory (0700, files 0600; in RAM under /dev/shm where it exists) that is removed when
etcdtui exits, on SIGTERM or SIGHUP too (clients/private_dirs.py).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from etcdtui.clients.private_dirs import PREFIX, make_private_dir, release
from etcdtui.config import TlsFiles
from etcdtui.errors import EtcdtuiError

if TYPE_CHECKING:
    from etcdtui.clients.ssh.shell import NodeShell


def discard(tls: TlsFiles) -> None:
    """Remove the private directory holding fetched `tls` files now (a cluster closed)."""
    for path in (tls.cacert, tls.cert, tls.key):
        if path and Path(path).parent.name.startswith(PREFIX):
            release(Path(path).parent)
            return


def fetch_certs(
    shell: NodeShell, tls: TlsFiles, *, sudo: bool | None = None, timeout: float = 10.0
) -> TlsFiles:
    """Copy `tls` (paths on the shell's node) into a private directory; the local TlsFiles.

    Raises EtcdtuiError naming the node and the file when one cannot be read.
    """
    folder = make_private_dir()
    try:
        copies = {}
        for kind, remote in (
            ("ca.crt", tls.cacert),
            ("client.crt", tls.cert),
            ("client.key", tls.key),
        ):
            if not remote:
                continue
            result = shell.run(f"cat -- {shlex.quote(remote)}", timeout=timeout, sudo=sudo)
            if result.exit_code != 0 or not result.stdout.strip():
                reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
                raise EtcdtuiError(
                    f"{shell.node}: cannot read {remote}" + (f": {reason}" if reason else ""),
                    hint="is sudo set for the node, and the path right?",
                )
            local = folder / kind
            fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(result.stdout)
            copies[kind] = str(local)
    except BaseException:
        discard(TlsFiles(cacert=str(folder / "ca.crt")))
        raise
    return TlsFiles(
        cacert=copies.get("ca.crt"), cert=copies.get("client.crt"), key=copies.get("client.key")
    )
