"""Checking and stopping the processes a lab started, by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True if `pid` runs (a zombie does not count: nobody may reap orphans in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def read_pid(pid_file: Path) -> int | None:
    """The number in a pid file, or None."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def is_sshd(pid: int, config: Path) -> bool:
    """True if `pid` is a live sshd started with config file `config` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # sshd rewrites its title to "sshd: /usr/sbin/sshd -f CONFIG ... [listener]".
    return str(config).encode() in cmdline and process_alive(pid)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return [child for child in found if process_alive(child)]


def _reap(pid: int) -> None:
    # A process we forked ourselves would otherwise stay a zombie until we exit.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    """Wait up to `seconds` for `pids` to end (reaping our own children); return the rest."""
    deadline = time.monotonic() + seconds
    while pids and time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        pids = [pid for pid in pids if process_alive(pid)]
        if pids:
            time.sleep(0.05)
    return pids


def stop_processes(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """SIGTERM every pid together (SIGCONT first, for frozen ones), SIGKILL what is left
    after `timeout`; return the pids that were still alive at SIGKILL time."""
    waiting = [pid for pid in pids if process_alive(pid)]
    _send(waiting, signal.SIGCONT, signal.SIGTERM)
    killed = _wait_gone(waiting, timeout)
    _send(killed, signal.SIGKILL)
    _wait_gone(killed, 3)
    return killed


def kill_processes(pids: Iterable[int]) -> None:
    """SIGKILL every pid (a frozen process dies of it too) and wait until they are gone."""
    waiting = [pid for pid in pids if process_alive(pid)]
    _send(waiting, signal.SIGKILL)
    _wait_gone(waiting, 3)


def _send(pids: list[int], *signals: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            for sent in signals:
                os.kill(pid, sent)
