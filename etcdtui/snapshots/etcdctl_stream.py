"""`etcdctl snapshot save` on the bastion, its file followed as etcdctl writes it.

etcdctl reads etcd's gRPC stream (twice the gateway's speed), writes FILE.part, fsyncs it and
renames it. etcdtui reads the bytes back from the page cache as they land, into one reused
buffer (no allocation per read), and checks etcd's sha256 trailer on them as they go, so when
etcdctl exits the check is all but done: what is left is to adopt the file (snapshots/sink).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from io import FileIO
from pathlib import Path

from etcdtui.clients.private_dirs import make_private_dir, release
from etcdtui.clients.stall import stall_message
from etcdtui.config import Connection
from etcdtui.errors import EtcdError, EtcdTimeout
from etcdtui.snapshots.sink import DigestCheck, Progress, adopt

# One read at most: small enough that the bytes are still in the CPU's cache when hashed.
READ_SIZE = 512 * 1024
IDLE = 0.002  # seconds between looks at a file that has not grown
WAIT_FOR_FILE = 0.005  # seconds between looks for the file etcdctl is about to make


class EtcdctlStream:
    """`etcdctl snapshot save` in a private folder next to the target, followed as it writes."""

    def __init__(
        self, etcdctl: str, endpoint: str, connection: Connection, member: str, stall: float
    ) -> None:
        self.endpoint = endpoint
        self.member = member
        self.stall = stall
        tls = connection.tls
        self.argv = [etcdctl, f"--endpoints={endpoint}",
                     f"--dial-timeout={max(1, int(connection.timeout))}s"]  # fmt: skip
        for flag, value in (("--cacert", tls.cacert), ("--cert", tls.cert), ("--key", tls.key)):
            if value:
                self.argv.append(f"{flag}={value}")
        # etcdctl refuses an ETCDCTL_* variable that repeats a flag: give it a clean slate.
        # Nor does it get etcdtui's own variables ($ETCDTUI_PASSPHRASE, should the caller
        # not have removed it already): a child's environment is readable in /proc.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("ETCDCTL_", "ETCDTUI_"))}  # fmt: skip
        self.env["ETCDCTL_API"] = "3"

    @property
    def command(self) -> str:
        return shlex.join([*self.argv, "snapshot", "save", "FILE"])

    def chunks(self, folder: Path) -> Iterator[bytes]:
        """The snapshot's bytes as etcdctl writes them (the file is removed afterwards)."""
        # A private folder: removed also if etcdtui is terminated, or by the next run if killed.
        work = make_private_dir(folder)
        try:
            for piece in self._follow(work):
                yield bytes(piece)  # the encryptor may hold on to it: not the reused buffer
        finally:
            release(work)

    def save_plain(
        self, path: Path, progress: Progress, started: float, expected: int | None
    ) -> tuple[int, str]:
        """etcdctl's own file becomes FILE: hashed while written, then fsynced and renamed."""
        work = make_private_dir(path.parent)
        try:
            digest = DigestCheck()
            for piece in self._follow(work):
                digest.update(piece)
                progress(digest.size, expected, time.monotonic() - started)
            return digest.size, adopt(work / "snapshot.db", path, digest, self.endpoint)
        finally:
            release(work)

    def _follow(self, work: Path) -> Iterator[memoryview]:
        """What etcdctl writes, as views of one buffer that the next piece overwrites."""
        target = work / "snapshot.db"
        log = (work / "etcdctl.log").open("w+")
        proc = subprocess.Popen([*self.argv, "snapshot", "save", str(target)], env=self.env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)  # fmt: skip
        try:
            reader = _open_when_made(work, proc)
            with reader or open(os.devnull, "rb", buffering=0) as handle:
                yield from self._read_growing(handle, proc)
            if proc.wait() != 0:
                log.seek(0)
                raise EtcdError(f"{self.endpoint}: etcdctl snapshot save failed: "
                                f"{_last_error(log.read())}", endpoint=self.endpoint)  # fmt: skip
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()

    def _read_growing(self, handle: FileIO, proc: subprocess.Popen[bytes]) -> Iterator[memoryview]:
        """The file's bytes until etcdctl has exited and none are left; a file that stops
        growing for the stall timeout while etcdctl runs ends the save."""
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        last = time.monotonic()  # of the last byte
        done = False
        while True:
            count = handle.readinto(buffer)
            if count:
                last = time.monotonic()
                yield view[:count]
            elif done:
                return
            elif proc.poll() is not None:
                done = True  # everything it wrote is in the file: read to the end once more
            elif time.monotonic() - last > self.stall:
                raise EtcdTimeout(stall_message(self.member, self.stall), endpoint=self.endpoint)
            else:
                time.sleep(IDLE)


def _open_when_made(work: Path, proc: subprocess.Popen[bytes]) -> FileIO | None:
    """etcdctl's file (FILE.part while it writes, FILE once renamed), unbuffered, as soon as
    it exists; None if etcdctl exits without making it."""
    target = work / "snapshot.db"
    while True:
        for candidate in (work / "snapshot.db.part", target):
            try:
                return candidate.open("rb", buffering=0)
            except FileNotFoundError:
                continue
        if proc.poll() is not None:
            return None
        time.sleep(WAIT_FOR_FILE)


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("Error:"):
            return line.removeprefix("Error:").strip()
    return lines[-1][:300] if lines else "no output"
