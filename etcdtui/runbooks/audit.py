"""The runbooks' audit log: one JSON object per executed step, appended, never a secret.

Default file: `$XDG_STATE_HOME/etcdtui/audit.log` (`~/.local/state/...` when unset or relative).
Each line holds every `AuditEntry` field (`note` always present, "" when none); `time` is UTC
ISO-8601 with milliseconds and a `Z`. Appends open the file with O_APPEND and O_NOFOLLOW (a
symlink at the path is refused), take an exclusive `flock`, write the whole line in one
`os.write` and fsync, so concurrent writers never interleave within a line. A write that fails
part-way (disk full after a partial write, a short write, a failed fsync) is truncated back to
the length the file had before it, so the next line never glues onto a torn one.

Permissions: a file we create is 0600 (folders we create 0700). An existing file is never
chmod-ed: one that is group/world *writable*, not owned by us, not a regular file, or with more
than one hard link is refused (`AuditLogError`); one that is merely readable by others is
written to, and `AuditLog.warning` says so.
A failed write raises `AuditLogError`: a runbook must stop rather than run an unrecorded step
(the engine records a step "started" before running it, then its result).
Redaction (`redact`, redaction.py) is applied to `command`, `output_tail` and `note` before
anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import getpass
import json
import os
import secrets
import socket
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from etcdtui.errors import EtcdtuiError
from etcdtui.runbooks.redaction import R as R
from etcdtui.runbooks.redaction import redact as redact

TAIL_LINES = 20
TAIL_CHARS = 2000
_BLOCK = 64 * 1024
LOCK_WAIT = 10.0  # seconds a record waits for another writer's lock before giving up


class AuditLogError(EtcdtuiError):
    """The audit log cannot be written (or read): the runbook must stop."""


@dataclass(frozen=True)
class AuditEntry:
    time: str
    user: str
    host: str
    cluster: str
    runbook: str
    run_id: str
    step: int
    step_id: str
    target: str
    command: str
    exit_code: int
    ok: bool
    duration: float
    output_tail: str
    note: str = ""


def default_audit_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "etcdtui" / "audit.log"


def new_run_id() -> str:
    """A time-sortable id for one runbook execution, e.g. `20261125T143000Z-3f2a`."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def _tail(output: str) -> str:
    text = redact(output[-_BLOCK:]).rstrip("\n")
    return "\n".join(text.split("\n")[-TAIL_LINES:])[-TAIL_CHARS:]


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


_KINDS: dict[str, type] = {"step": int, "exit_code": int, "ok": bool, "duration": float}


def _parse(raw: bytes) -> AuditEntry | None:
    """One line back into an entry; None for anything malformed (torn, edited, foreign)."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    obj.setdefault("note", "")
    values: dict[str, object] = {}
    for name in (f.name for f in dataclasses.fields(AuditEntry)):
        value = obj.get(name)
        if name == "duration" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        bool_as_int = isinstance(value, bool) and name != "ok"
        if bool_as_int or not isinstance(value, _KINDS.get(name, str)):
            return None
        values[name] = value
    return AuditEntry(**values)  # type: ignore[arg-type]


class AuditLog:
    def __init__(self, path: Path | None = None) -> None:
        self.path: Path = Path(path).expanduser() if path is not None else default_audit_path()
        self.warning = ""  # set by record() when an existing file is readable by others

    def _fail(self, err: OSError | str, hint: str = "") -> AuditLogError:
        why = err if isinstance(err, str) else (err.strerror or str(err))
        return AuditLogError(f"cannot write the audit log {self.path}: {why}", hint)

    def _make_parents(self) -> None:
        missing = [p for p in (self.path.parent, *self.path.parent.parents) if not p.exists()]
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                continue
            os.chmod(folder, 0o700)

    def _open(self) -> int:
        # O_NOFOLLOW: a symlink planted at the log path never redirects our (root) writes.
        # O_NONBLOCK: a FIFO there fails (ENXIO) or is refused by _check instead of blocking.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        for _ in range(3):
            try:
                fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                try:
                    return os.open(self.path, flags)
                except FileNotFoundError:
                    continue  # removed in between: create it
            os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask
            with contextlib.suppress(OSError):  # make the new name durable too
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            return fd
        raise FileNotFoundError(2, "No such file or directory")

    def _open_error(self, err: OSError) -> AuditLogError:
        if err.errno == errno.ELOOP:
            return self._fail("it is a symbolic link, refused", f"make {self.path} a plain file")
        if err.errno == errno.ENXIO:
            return self._fail("not a regular file")  # a FIFO with no reader
        return self._fail(err)

    def _check(self, fd: int) -> None:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise self._fail("not a regular file")
        if st.st_uid != os.geteuid():
            raise self._fail(f"owned by uid {st.st_uid}, not by us", f"chown it to {_login()}")
        if st.st_mode & 0o022:
            mode = f"{stat.S_IMODE(st.st_mode):o}"
            raise self._fail(f"writable by others (mode {mode})", f"chmod 600 {self.path}")
        if st.st_nlink != 1:  # another name for the same bytes: someone else's file, maybe
            raise self._fail(f"it has {st.st_nlink} hard links, refused")
        self.warning = (
            f"the audit log {self.path} is readable by others (mode {stat.S_IMODE(st.st_mode):o})"
            if st.st_mode & 0o044
            else ""
        )

    def _lock(self, fd: int) -> None:
        """Exclusive lock for one append: concurrent etcdtui writers take turns, so the length
        noted before a write is still the file's end when a failed write is cut back to it."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise self._fail(f"locked by another writer for {LOCK_WAIT:g} s") from None
                time.sleep(0.01)

    def _append(self, fd: int, data: bytes) -> None:
        """Write `data` as one line; on any failure cut the file back to where it was."""
        self._lock(fd)
        before = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise self._fail(f"short write ({written} of {len(data)} bytes)")
            os.fsync(fd)  # a line not on disk is not a record: cut back as for a failed write
        except (OSError, AuditLogError) as exc:
            self._cut_back(fd, before, exc)
            raise

    def _cut_back(self, fd: int, length: int, cause: OSError | AuditLogError) -> None:
        """Truncate a torn line away, so the next record never glues onto it."""
        try:
            if os.fstat(fd).st_size != length:
                os.ftruncate(fd, length)
                os.fsync(fd)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.write(fd, b"\n")  # at least end the torn line
            why = cause.message if isinstance(cause, AuditLogError) else cause.strerror
            raise self._fail(f"{why}; the torn line could not be cut back: {err.strerror}") from err

    def record(
        self,
        *,
        cluster: str,
        runbook: str,
        run_id: str,
        step: int,
        step_id: str,
        target: str,
        command: str,
        exit_code: int,
        duration: float,
        output: str = "",
        note: str = "",
    ) -> AuditEntry:
        """Redact, append one line and fsync it; return what was written."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry = AuditEntry(
            time=now,
            user=_login(),
            host=socket.gethostname(),
            cluster=cluster,
            runbook=runbook,
            run_id=run_id,
            step=int(step),
            step_id=step_id,
            target=target,
            command=redact(command),
            exit_code=int(exit_code),
            ok=int(exit_code) == 0,
            duration=round(max(0.0, float(duration)), 3),
            output_tail=_tail(output),
            note=redact(note),
        )
        line = json.dumps(dataclasses.asdict(entry), ensure_ascii=False) + "\n"
        data = line.encode("utf-8", errors="replace")
        try:
            self._make_parents()
            fd = self._open()
        except OSError as e:
            raise self._open_error(e) from e
        try:
            self._check(fd)
            self._append(fd, data)
        except OSError as e:
            raise self._fail(e) from e
        finally:
            os.close(fd)
        return entry

    def recent(self, limit: int = 200) -> list[AuditEntry]:
        """The newest `limit` well-formed entries, newest last; reads backwards from the end."""
        if limit <= 0:
            return []
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return []
        except OSError as e:
            why = "it is a symbolic link, refused" if e.errno == errno.ELOOP else e.strerror
            raise AuditLogError(f"cannot read the audit log {self.path}: {why}") from e
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would block the reader forever
            os.close(fd)
            raise AuditLogError(f"cannot read the audit log {self.path}: not a regular file")
        f = open(fd, "rb")  # noqa: SIM115
        found: list[AuditEntry] = []
        with f:
            pos = f.seek(0, os.SEEK_END)
            rest = b""
            while pos > 0 and len(found) < limit:
                size = min(_BLOCK, pos)
                pos -= size
                f.seek(pos)
                lines = (f.read(size) + rest).split(b"\n")
                rest = lines.pop(0) if pos > 0 else b""  # maybe the end of an earlier line
                for raw in reversed(lines):
                    entry = _parse(raw) if raw.strip() else None
                    if entry is not None:
                        found.append(entry)
                        if len(found) == limit:
                            break
        return found[::-1]
