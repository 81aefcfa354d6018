"""Client certificates that live on the nodes, fetched over SSH into a private directory.

kubeadm keeps etcd's CA and client certificates on the control-plane nodes, readable by root
only. etcdtui reads them there (``sudo -n`` where the node says so) and keeps the copies in one
private directory (0700, files 0600; in RAM under /dev/shm where it exists) that is removed when
etcdtui exits, on SIGTERM or SIGHUP too. A directory left by a process that was killed outright
is removed by the next etcdtui that fetches certificates.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

from etcdtui.clients.ssh import NodeShell
from etcdtui.config import TlsFiles
from etcdtui.errors import EtcdtuiError

PREFIX = "etcdtui-certs-"
_lock = threading.Lock()
_made: list[Path] = []
_hooked = False


def private_base() -> Path:
    """Where the private directories go: RAM (/dev/shm) if usable, else the temp folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def remove_all() -> None:
    """Remove every private directory this process made (atexit, signals, close)."""
    with _lock:
        made, _made[:] = list(_made), []
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def discard(tls: TlsFiles) -> None:
    """Remove the private directory holding fetched `tls` files now (a cluster closed)."""
    for path in (tls.cacert, tls.cert, tls.key):
        if path and Path(path).parent.name.startswith(PREFIX):
            folder = Path(path).parent
            with _lock:
                if folder in _made:
                    _made.remove(folder)
            shutil.rmtree(folder, ignore_errors=True)
            return


def _on_signal(signum: int, frame: FrameType | None) -> None:
    remove_all()
    # Then die of the same signal, as if we had not caught it.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_cleanup() -> None:
    """Remove the copies at exit and on SIGTERM/SIGHUP. Call it from the main thread (signal
    handlers can only be set there) before certificates are fetched, perhaps in a worker."""
    global _hooked
    with _lock:
        if _hooked:
            return
        _hooked = True
    atexit.register(remove_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, _on_signal)


def sweep_stale(base: Path | None = None) -> list[Path]:
    """Remove private directories of etcdtui processes that no longer run (killed outright)."""
    removed = []
    folder = base or private_base()
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if not entry.name.startswith(PREFIX) or entry.is_symlink() or not entry.is_dir():
                continue
            pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
            if not pid_text.isdigit() or entry.stat().st_uid != os.getuid():
                continue
            if not Path(f"/proc/{pid_text}").exists():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def make_private_dir(base: Path | None = None) -> Path:
    """A new 0700 directory, removed when this process exits."""
    folder = base or private_base()
    sweep_stale(folder)
    install_cleanup()
    with _lock:
        path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder))
        _made.append(path)
    path.chmod(0o700)
    return path


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


__all__ = [
    "discard",
    "fetch_certs",
    "install_cleanup",
    "make_private_dir",
    "remove_all",
    "sweep_stale",
]
