"""The dashboard's last view of each cluster, kept on disk so the next start can paint it at once.

After every poll in which a member answered, the dashboard saves what its panes draw (the
`ClusterView` without its latency histograms: no history) as one small JSON file per cluster
identity (`config.identity`, as journals and locks are keyed):
`$XDG_STATE_HOME/etcdtui/views/<key>.json` (`~/.local/state/...` when unset or relative).
The folder is 0700, the file 0600, written to a temporary file and renamed over the old one, so
a reader sees the old view or the new one, never half of one. There is no fsync: this is a
cache, and a torn file after a crash is ignored like any other bad one.

Reading never fails: a missing, unreadable, corrupt, oversized, too old or foreign file (another
identity, other endpoints, not ours) is no cache at all. What it holds came from the cluster
and stays data: the screen draws it through the same safe paths as a live view.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import stat
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from etcdtui.config import Connection
from etcdtui.config.identity import connection_key
from etcdtui.models import Alarm, ClusterView, Member, MemberHealth, MemberStatus, MemberView
from etcdtui.models.cluster import MemberMetrics

FORMAT = 1
MAX_BYTES = 256 * 1024  # a 100-member view is ~60 KB; anything larger is not ours
MAX_AGE = 7 * 24 * 3600.0  # older than a week: too old to be worth showing, even marked stale

# The fields kept of each type; MemberMetrics' histograms feed only the latency history.
_FIELDS: dict[type, tuple[str, ...]] = {
    ClusterView: ("cluster", "members", "alarms", "taken_at", "duration", "error", "via", "notes"),
    MemberView: ("endpoint", "member", "status", "health", "metrics", "error"),
    Member: ("id", "name", "peer_urls", "client_urls", "is_learner"),
    MemberStatus: tuple(f.name for f in dataclasses.fields(MemberStatus)),
    MemberHealth: tuple(f.name for f in dataclasses.fields(MemberHealth)),
    MemberMetrics: ("endpoint", "quota_bytes", "db_total_size", "has_leader", "leader_changes"),
    Alarm: ("member_id", "kind"),
}
_HINTS: dict[type, dict[str, Any]] = {}  # each type's resolved field types, once
T = TypeVar("T")


class BadCache(ValueError):
    """The file is not a view this cache wrote for this cluster."""


@dataclass(frozen=True)
class CachedView:
    """A view read back from the cache, and when it was saved (epoch seconds)."""

    view: ClusterView
    saved_at: float

    def age(self, now: float | None = None) -> float:
        """Seconds since it was saved (never negative, whatever the clock did)."""
        return max(0.0, (time.time() if now is None else now) - self.saved_at)


def default_cache_dir() -> Path:
    """`$XDG_STATE_HOME/etcdtui/views`, beside the audit log and the journals."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "etcdtui" / "views"


class ViewCache:
    """One file per cluster identity in `folder`; `save` and `load` never raise."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_cache_dir()

    def path(self, connection: Connection) -> Path:
        return self.folder / f"{connection_key(connection)}.json"

    def save(self, connection: Connection, view: ClusterView) -> bool:
        """Keep `view` as the last one of `connection`'s cluster; False if it was not kept
        (no member answered, so it is no view worth painting, or the write failed)."""
        if not any(m.reachable for m in view.members):
            return False
        record = {
            "format": FORMAT,
            "identity": connection_key(connection),
            "endpoints": list(connection.endpoints),
            "saved_at": time.time(),
            "view": encode(view),
        }
        data = json.dumps(record, separators=(",", ":")).encode()
        if len(data) > MAX_BYTES:
            return False
        try:
            self._write(self.path(connection), data)
        except OSError:
            return False
        return True

    def _write(self, path: Path, data: bytes) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Its own name per write: two polls of one cluster may save at once.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)  # exactly 0600, whatever the umask
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def load(self, connection: Connection, now: float | None = None) -> CachedView | None:
        """The last view saved for `connection`'s cluster, or None (no cache, or one to ignore)."""
        try:
            data = self._read(self.path(connection))
            return decode_record(json.loads(data), connection, now)
        except (OSError, ValueError, TypeError, KeyError, RecursionError):
            return None

    def _read(self, path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as source:
            info = os.fstat(source.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                raise BadCache("not a regular file of ours")
            if info.st_mode & 0o022:
                raise BadCache("writable by others")
            data = source.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise BadCache("too large")
        return data


def decode_record(record: Any, connection: Connection, now: float | None = None) -> CachedView:
    """The cached view in `record`, checked to belong to `connection` (BadCache if not)."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise BadCache("not a view cache")
    if record.get("identity") != connection_key(connection):
        raise BadCache("another cluster's view")
    if record.get("endpoints") != list(connection.endpoints):
        raise BadCache("saved for other endpoints")
    saved_at = record.get("saved_at")
    if isinstance(saved_at, bool) or not isinstance(saved_at, int | float):
        raise BadCache("no time saved")
    cached = CachedView(decode(ClusterView, record.get("view")), float(saved_at))
    if cached.age(now) > MAX_AGE:
        raise BadCache("too old")
    return cached


def encode(value: Any) -> Any:
    """JSON-ready data of a view (only the `_FIELDS` of each type)."""
    names = _FIELDS.get(type(value))
    if names is not None:
        return {name: encode(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    return value


def decode(kind: type[T], data: Any) -> T:
    """An instance of `kind` (a type of `_FIELDS`) from `encode`'s data, every field checked
    against its declared type (BadCache on the first that does not fit)."""
    names = _FIELDS[kind]
    if not isinstance(data, dict) or set(data) != set(names):
        raise BadCache(f"{kind.__name__}: not the expected fields")
    hints = _hints(kind)
    return kind(**{name: _value(hints[name], data[name]) for name in names})


def _hints(kind: type) -> dict[str, Any]:
    if kind not in _HINTS:
        _HINTS[kind] = get_type_hints(kind)
    return _HINTS[kind]


def _value(hint: Any, data: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            with contextlib.suppress(BadCache):
                return _value(option, data)
        raise BadCache(f"{data!r:.40} is none of {hint}")
    if origin is tuple:
        if not isinstance(data, list):
            raise BadCache("expected a list")
        item = get_args(hint)[0]
        return tuple(_value(item, v) for v in data)
    if hint in _FIELDS:
        return decode(hint, data)
    if hint is type(None):
        if data is None:
            return None
    elif hint is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    elif hint is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif hint in (str, bool) and isinstance(data, hint):
        return data
    raise BadCache(f"{data!r:.40} is not a {hint}")
