"""Driving one SSH exec channel: stdin in, stdout/stderr out as lines, signals on timeout."""

from __future__ import annotations

import codecs
import contextlib
import re
import select
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

from etcdtui.clients.shell import LineCallback
from etcdtui.clients.ssh.faults import WRITE_FAILED
from etcdtui.clients.stall import StallWatch

CHUNK = 32768
_POLL = 0.5  # upper bound on how long we sleep without re-checking the deadline
# Run on the node when a command times out: TERM its process group, KILL it if still there
# about 0.3 s later. (No "--" before the negative pid: dash's kill rejects it.)
KILL_SCRIPT = (
    "kill -TERM -{pid} 2>/dev/null; for i in 1 2 3; do "
    "kill -0 -{pid} 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL -{pid} 2>/dev/null"
)


class ChannelBroken(Exception):
    """Reading from the channel failed (the connection went away mid-command)."""


class OutputStream:
    """One output stream: decoded incrementally (a UTF-8 character may span two reads), split
    into lines for the caller as they arrive, minus the process-id line SshShell.run prepends."""

    def __init__(self, name: str, on_line: LineCallback | None, pid_marker: str = "") -> None:
        self.name = name
        self.on_line = on_line
        self.pid: int | None = None
        self._pid_pattern = re.compile(re.escape(pid_marker) + r"(\d+)") if pid_marker else None
        self._pid_line = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._partial = ""

    def feed(self, data: bytes, final: bool = False) -> None:
        """Take the next bytes of the stream (``final`` flushes a last unterminated line)."""
        text = self._decoder.decode(data, final)
        self._parts.append(text)
        *lines, self._partial = (self._partial + text).split("\n")
        if final and self._partial:
            lines.append(self._partial)
            self._partial = ""
        for line in lines:
            if self._pid_pattern and self.pid is None:
                found = self._pid_pattern.fullmatch(line)
                if found:
                    self.pid, self._pid_line = int(found.group(1)), line + "\n"
                    continue
            if self.on_line is not None:
                self.on_line(self.name, line.removesuffix("\r"))

    @property
    def text(self) -> str:
        """Everything the stream carried, decoded."""
        text = "".join(self._parts)
        return text.replace(self._pid_line, "", 1) if self._pid_line else text


def pump(
    channel: paramiko.Channel,
    deadline: float,
    stdin: bytes | None,
    stdout: OutputStream,
    stderr: OutputStream,
    watch: StallWatch | None = None,
) -> bool:
    """Feed stdin and read both outputs until the command ends; False at the deadline.

    Reading both streams as data arrives (and writing stdin only as the window allows) means
    neither side can block on a full buffer waiting for the other. With a `watch`, a command
    that moves no byte either way for its stall timeout raises TransferStalled.

    `stdin` None sends nothing, not even end-of-file: the command must not read its stdin
    (it is given /dev/null). paramiko sends a channel's end-of-file outside the channel's
    lock, so a command that ends at that moment can have its CLOSE answered before our
    end-of-file leaves; OpenSSH then drops the whole connection, and every command on it
    ("ieof packet referred to nonexistent channel"). A command that reads its stdin to the
    end cannot end before the end-of-file reaches it.
    """
    pending = memoryview(stdin or b"")
    eof_sent = stdin is None
    while True:
        if not eof_sent:
            before = len(pending)
            pending, eof_sent = send_stdin(channel, pending)
            if watch is not None and len(pending) < before:
                watch.touch()
        received = False
        try:
            while channel.recv_ready():
                stdout.feed(channel.recv(CHUNK))
                received = True
            while channel.recv_stderr_ready():
                stderr.feed(channel.recv_stderr(CHUNK))
                received = True
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise ChannelBroken(str(exc) or type(exc).__name__) from None
        if received and watch is not None:
            watch.touch()
        ended = channel.eof_received or channel.closed
        if ended and channel.status_event.is_set():
            if not (channel.recv_ready() or channel.recv_stderr_ready()):
                return True
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if watch is not None:
            if watch.expired:
                raise watch.error()
            remaining = min(remaining, max(0.01, watch.remaining()))
        wait = min(remaining, _POLL if eof_sent else 0.01)
        if ended:
            # After EOF the channel's pipe stays readable, so select would spin; wait for the
            # exit status instead.
            channel.status_event.wait(wait)
        else:
            select.select([channel], [], [], wait)


def await_pid(channel: paramiko.Channel, stdout: OutputStream, seconds: float) -> int | None:
    """The command's pid, reading its stdout for up to `seconds` more if the pid line has not
    arrived yet (a timeout shorter than the node took to start the command). Lines read here
    are kept in the stream's text but not passed on: the run has already ended."""
    stdout.on_line = None
    deadline = time.monotonic() + seconds
    while stdout.pid is None and time.monotonic() < deadline:
        try:
            if channel.recv_ready():
                stdout.feed(channel.recv(CHUNK))
                continue
        except (OSError, paramiko.SSHException, EOFError):
            break
        if channel.closed or channel.eof_received:
            break
        select.select([channel], [], [], 0.05)
    return stdout.pid


def send_stdin(channel: paramiko.Channel, pending: memoryview) -> tuple[memoryview, bool]:
    """Send what the window allows without blocking; end-of-file once all is sent."""
    try:
        if pending and channel.send_ready():
            pending = pending[channel.send(bytes(pending[:CHUNK])) :]
        if not pending:
            channel.shutdown_write()
            return pending, True
    except WRITE_FAILED:
        # The command closed its stdin or exited, or the connection died: drop the rest; the
        # pump finds out which.
        return memoryview(b""), True
    return pending, False


def send_signal(channel: paramiko.Channel, name: str) -> None:
    """Send an SSH "signal" request (RFC 4254 6.9) such as "TERM"; best effort.

    OpenSSH delivers it to the session's process group for non-root logins only.
    """
    transport = channel.get_transport()
    if transport is None or channel.closed:
        return
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)
    message.add_string(name)
    # paramiko has no public API for this request; this is how Channel sends its own requests.
    with contextlib.suppress(OSError, paramiko.SSHException, EOFError):
        transport._send_user_message(message)  # type: ignore[attr-defined]
