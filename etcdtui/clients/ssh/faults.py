"""How paramiko shows a connection that went away, and keeping its threads quiet about it.

A dropped connection surfaces as EOFError, as an OSError without errno ("Socket is closed"),
or as an SSHException, depending on where paramiko noticed; `is_dropped` tells those apart
from a real SFTP status ("no such file": an OSError with an errno).
"""

from __future__ import annotations

import errno
import logging
import os
import threading

import paramiko

_PACKAGE = os.path.dirname(paramiko.__file__) + os.sep


_DROPPED_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN}

# What a write into a channel (data or its end-of-file) raises when the channel or its
# connection is gone: an OSError, or paramiko's EOFError from a write to a dead socket.
WRITE_FAILED = (OSError, EOFError)


def is_dropped(exc: BaseException) -> bool:
    """Whether paramiko failed because the connection went away (not, say, an SFTP status
    such as "no such file", which comes as an OSError with an errno)."""
    if isinstance(exc, OSError):
        return exc.errno is None or exc.errno in _DROPPED_ERRNOS
    return isinstance(exc, EOFError | paramiko.SSHException)


def from_paramiko(exc: BaseException) -> bool:
    """Whether `exc` was raised inside paramiko (an SFTP status from a node that just went
    away is the drop, not the file)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE)


def reason(exc: BaseException) -> str:
    """What paramiko said, unless it only repeats that the connection is gone."""
    text = str(exc).strip().rstrip(":").strip()
    generic = ("", "Server connection dropped", "Socket is closed", "EOF during negotiation")
    return "" if isinstance(exc, EOFError) or text in generic else text[:200]


def quiet_paramiko_threads() -> None:
    """Keep tracebacks of paramiko's helper threads off the terminal.

    SFTP's prefetch thread raises when the connection drops under it, and Python prints that
    on stderr, over the TUI or after the CLI's one-line error. The transfer that used the
    thread reports the drop itself; the traceback goes to the paramiko logger (silent unless
    the application configures logging, see connect.py). Other threads are left alone.
    """
    previous = threading.excepthook
    if getattr(previous, "etcdtui_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        tb = args.exc_traceback
        while tb is not None and tb.tb_frame.f_code.co_filename == threading.__file__:
            tb = tb.tb_next  # Thread.run and friends: the target is the first frame after
        if tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
            logging.getLogger("paramiko").debug(
                "thread %s ended", getattr(args.thread, "name", "?"),
                exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
            )  # fmt: skip
            return
        previous(args)

    hook.etcdtui_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook
