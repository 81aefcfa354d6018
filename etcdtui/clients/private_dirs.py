"""Private temporary directories that never outlive etcdtui: certificates, plaintext snapshots.

Each is 0700, named after the process that made it, and removed when etcdtui exits, on SIGTERM
and SIGHUP too (`install_cleanup`, called from the main thread), or when its user releases it.
A directory left by a process killed outright (SIGKILL, a power cut) is removed by the next
etcdtui that makes one in the same place.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

PREFIX = "etcdtui-private-"
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


def release(path: Path) -> None:
    """Remove a private directory now (its user is done with it)."""
    with _lock:
        if path in _made:
            _made.remove(path)
    shutil.rmtree(path, ignore_errors=True)
