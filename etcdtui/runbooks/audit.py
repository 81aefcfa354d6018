"""The runbooks' audit log: one JSON object per executed step, appended, never a secret.

Default file: `$XDG_STATE_HOME/etcdtui/audit.log` (`~/.local/state/...` when unset or relative).
Each line holds every `AuditEntry` field (`note` always present, "" when none); `time` is UTC
ISO-8601 with milliseconds and a `Z`. Appends open the file with O_APPEND, write the whole line
in one `os.write` and fsync, so concurrent writers never interleave within a line.

Permissions: a file we create is 0600 (folders we create 0700). An existing file is never
chmod-ed: one that is group/world *writable* or not owned by us is refused (`AuditLogError`);
one that is merely readable by others is written to, and `AuditLog.warning` says so.
A failed write raises `AuditLogError`: a runbook must stop rather than run an unrecorded step.
Redaction (`redact`) is applied to `command`, `output_tail` and `note` before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import re
import secrets
import socket
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from etcdtui.errors import EtcdtuiError

R = "[REDACTED]"
TAIL_LINES = 20
TAIL_CHARS = 2000
_BLOCK = 64 * 1024

# A flag or assignment value: quoted on one line, or an unquoted word (backslash escapes kept).
_VALUE = r"""(?:'[^'\n]*'|"[^"\n]*"|(?:\\.|[^\s'"\\])+)"""
_PEM_LINE = r"(?:[A-Za-z0-9+/=]*|(?:Proc-Type|DEK-Info):[^\n]*)\r?\n"  # body or header lines
# Each rule keeps its first group and replaces the rest of the match with [REDACTED].
_RULES = [
    re.compile(p)
    for p in (
        # Private key blocks, also cut short (no END: to the end) or at the front (no BEGIN).
        r"(?s)()-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \2PRIVATE KEY-----|\Z)",
        rf"(?m)^()(?:{_PEM_LINE})*[ \t]*-----END [A-Z0-9 ]*PRIVATE KEY-----",
        # --password X, --encrypt-passphrase=X, --token X, --client-secret X; not *-file flags,
        # nor etcd's --initial-cluster-token (an identifier, not a secret).
        r"(?i)(?<![\w-])(--(?!initial-cluster-token)(?:[\w-]*-)?"
        rf"(?:password|passwd|passphrase|secret|token)(?:=|[ \t]+)){_VALUE}",
        # ETCDCTL_PASSWORD=x, FOO_TOKEN=x; password=x, token: x, access_token=x ...
        rf"\b([A-Z][A-Z0-9_]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN)=){_VALUE}",
        r"(?i)(?<![\w-])((?:(?:access|refresh|id|auth|api|bearer)[_-]?)?"
        rf"(?:password|passwd|passphrase|token)[ \t]*[=:][ \t]*){_VALUE}",
        r"(?i)\b(Authorization:[ \t]*(?:Bearer|Basic)[ \t]+)\S+",
        r"(?i)\b(Bearer[ \t]+)[A-Za-z0-9._~+/=-]{8,}",
        # Key material (>= 32 base64/hex chars) after key=/key:/secret: -- never a /path, a.path.
        r"(?i)(?<![\w-])((?:[\w-]*key|secret)[ \t]*[=:][ \t]*['\"]?)"
        r"(?![/.~])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w./=-])",
        r"(://[^/\s:@]+:)[^@\s/]+(?=@)",  # URL user:password@
    )
]
_USER = re.compile(rf"(?<![\w-])(--user(?:=|[ \t]+)|ETCDCTL_USER=)({_VALUE})")


def _user_value(m: re.Match[str]) -> str:
    value = m.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    inner = value[1:-1] if quote else value
    if ":" not in inner:
        return m.group(0)
    return f"{m.group(1)}{quote}{inner.split(':', 1)[0]}:{R}{quote}"


def redact(text: str) -> str:
    """Replace passwords, tokens, private keys and key material with `[REDACTED]`.

    File paths (`--key /etc/kubernetes/pki/etcd/healthcheck-client.key`) are kept.
    """
    for pattern in _RULES:
        text = pattern.sub(lambda m: m.group(1) + R, text)
    return _USER.sub(_user_value, text)


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
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
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

    def _check(self, fd: int) -> None:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise self._fail("not a regular file")
        if st.st_uid != os.geteuid():
            raise self._fail(f"owned by uid {st.st_uid}, not by us", f"chown it to {_login()}")
        if st.st_mode & 0o022:
            mode = f"{stat.S_IMODE(st.st_mode):o}"
            raise self._fail(f"writable by others (mode {mode})", f"chmod 600 {self.path}")
        self.warning = (
            f"the audit log {self.path} is readable by others (mode {stat.S_IMODE(st.st_mode):o})"
            if st.st_mode & 0o044
            else ""
        )

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
            raise self._fail(e) from e
        try:
            self._check(fd)
            written = os.write(fd, data)
            if written != len(data):
                os.write(fd, b"\n")  # end the torn line so the next record stays intact
                raise self._fail(f"short write ({written} of {len(data)} bytes)")
            os.fsync(fd)
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
            f = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return []
        except OSError as e:
            raise AuditLogError(f"cannot read the audit log {self.path}: {e.strerror}") from e
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
