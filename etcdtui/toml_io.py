"""Reading and writing the TOML of etcdtui's config: typed access with one-line errors, and a
small writer for the files etcdtui makes (the lab's, a restore's config update).

Also the one check every file a person names goes through before a byte is read (config,
TLS, key and snapshot files): `regular_file`, `open_regular` and `read_regular`. A FIFO would
block the read forever, /dev/zero would never end, and opening some devices acts on them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import tomllib
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

from etcdtui.errors import ConfigError, UsageError


class TableReader:
    """Typed access to one table of the file, naming the file and key in every error."""

    def __init__(self, path: Path, where: str, table: Mapping[str, Any]) -> None:
        self.path, self.where, self.table = path, where, table

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.where}.{key}: {problem}")

    def unknown_keys(self, allowed: Set[str]) -> None:
        """Refuse the first key of the table that is not in `allowed`, listing those."""
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.table.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        return value

    def required_string(self, key: str) -> str:
        value = self.string(key)
        if not value:
            raise self.fail(key, "missing (a string is required)")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.table.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise self.fail(key, f"expected a number from {low:g} to {high:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"expected a whole number from {low} to {high}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def sub(self, key: str, required: bool = False) -> TableReader:
        value = self.table.get(key)
        if value is None and not required:
            value = {}
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        return TableReader(self.path, f"{self.where}.{key}", value)


MAX_CONFIG_BYTES = 1 << 20  # a real config is a few KiB; anything larger is not one

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a plain file")


def _stat_error(path: str | os.PathLike[str], what: str, exc: OSError | ValueError) -> UsageError:
    if isinstance(exc, ValueError):  # os.stat's "embedded null byte"
        return UsageError(f"{os.fspath(path)!r}: a {what} path cannot hold a NUL byte")
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return UsageError(f"{os.fspath(path)}: no such {what}")
    if isinstance(exc, PermissionError):
        return UsageError(f"{os.fspath(path)}: the {what} is not readable (permission denied)")
    return UsageError(f"{os.fspath(path)}: cannot read the {what} ({exc.strerror or exc})")


def regular_file(path: str | os.PathLike[str], what: str) -> os.stat_result:
    """Check, without opening it, that `path` is a readable regular file (symlinks followed).

    UsageError in one line naming `what` ("config file", "snapshot file"...) otherwise: a
    missing path, a directory, FIFO, socket or device, an unreadable file, a NUL in the path.
    """
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:
        raise _stat_error(path, what, exc) from None
    if not stat.S_ISREG(info.st_mode):
        kind = _kind(info.st_mode)
        raise UsageError(f"{os.fspath(path)}: the {what} is {kind}, not a regular file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{os.fspath(path)}: the {what} is not readable (permission denied)")
    return info


def open_regular(path: str | os.PathLike[str], what: str) -> int:
    """A read-only descriptor for the regular file `path` (the caller closes it).

    Checked with stat first, so a device is never even opened; opened with O_NONBLOCK and
    O_NOCTTY, so a FIFO swapped in after the check cannot block the open; and checked again
    on the descriptor, so the file read is the file checked. UsageError as `regular_file`.
    """
    regular_file(path, what)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise _stat_error(path, what, exc) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UsageError(f"{os.fspath(path)}: the {what} is {_kind(mode)}, not a regular file")
    return fd


def read_regular(path: str | os.PathLike[str], what: str, limit: int) -> bytes:
    """The whole of the regular file `path`, refused (UsageError) if larger than `limit`."""
    fd = open_regular(path, what)
    too_large = UsageError(f"{os.fspath(path)}: the {what} is larger than {_size(limit)}")
    try:
        if os.fstat(fd).st_size > limit:
            raise too_large
        data = bytearray()
        while len(data) <= limit:  # one byte past the limit: a file that grew meanwhile
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise _stat_error(path, what, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise too_large
    return bytes(data)


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"


def load_file(path: Path) -> dict[str, Any]:
    """The config file `path` as parsed TOML; ConfigError in one line for anything else."""
    try:
        data = read_regular(path, "config file", MAX_CONFIG_BYTES)
    except UsageError as exc:
        raise ConfigError(exc.message) from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValueError as exc:  # an integer of more than 4300 digits, which int() refuses
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are TOML's basic-string escapes; TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else a quoted string."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def toml_value(value: Any) -> str:
    """One TOML value (string, number, boolean or list) as written in a file."""
    return _toml_value(value)


def dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """A small TOML writer for nested tables of strings, numbers, booleans and lists.

    A table holding only sub-tables gets no header of its own, so files written for two
    clusters can be concatenated.
    """
    scalars = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items()
               if not isinstance(v, Mapping) and v is not None]  # fmt: skip
    parts = []
    if scalars:
        parts.append(("" if not prefix else f"[{prefix}]\n") + "\n".join(scalars))
    for key, value in data.items():
        if isinstance(value, Mapping):
            name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            body = dump_toml(value, name).strip()
            if body:
                parts.append(body)
            elif value == {}:
                parts.append(f"[{name}]")
    return "\n\n".join(parts) + "\n"


HEADER = re.compile(r"^\s*\[(?!\[)(?P<key>[^\]#]+)\]\s*(#.*)?$")


def table_key(header: str) -> tuple[str, ...] | None:
    """A table header's dotted key ('a."b c".d' -> ("a", "b c", "d")); None if unusual, so
    that an edit relying on it is refused rather than guessed."""
    key: list[str] = []
    for part in re.split(r'\.(?=(?:[^"]*"[^"]*")*[^"]*$)', header):
        part = part.strip()
        if re.fullmatch(r'"[^"\\]*"', part):
            key.append(part[1:-1])
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            key.append(part)
        else:
            return None
    return tuple(key)


def set_cluster(text: str, name: str, cluster: Mapping[str, Any]) -> str | None:
    """`text` (a config file) with ``[clusters.NAME]`` and its sub-tables replaced by (or
    extended with) `cluster`, everything else as it was (a comment just above the next
    table goes with the replaced cluster's lines).

    None when the file's layout cannot be edited that way safely (the clusters written
    inline or as dotted keys): the result is parsed and must equal the file with just that
    cluster swapped.
    """
    try:
        expected = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    clusters = expected.setdefault("clusters", {})
    if not isinstance(clusters, dict):
        return None
    clusters[name] = _without_none(cluster)  # dump_toml leaves unset (None) keys out
    prefix = ("clusters", name)
    kept: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        header = HEADER.match(line)
        if header:
            key = table_key(header["key"])
            inside = key is not None and key[:2] == prefix
        if not inside:
            kept.append(line)
    body = "".join(kept).rstrip()
    new = dump_toml({"clusters": {name: cluster}})
    result = f"{body}\n\n{new}" if body else new
    try:
        if json.dumps(tomllib.loads(result), sort_keys=True, default=str) != json.dumps(
            expected, sort_keys=True, default=str
        ):
            return None
    except tomllib.TOMLDecodeError:
        return None
    return result


def _without_none(table: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _without_none(v) if isinstance(v, Mapping) else v
        for k, v in table.items()
        if v is not None
    }


def replace_file(path: Path, text: str, stamp: str, mode: int = 0o600) -> Path | None:
    """Write `text` to `path` atomically (fsync, rename), keeping the old file as
    ``PATH.etcdtui-STAMP.bak`` with its mode; returns that backup (None for a new file).

    A symlinked config is written through to its target. A new file gets `mode`.
    """
    real = Path(os.path.realpath(path))
    backup = None
    if real.exists():
        backup = real.with_name(f"{real.name}.etcdtui-{stamp}.bak")
        n = 1
        while backup.exists():  # two writes in one second: never overwrite a backup
            n += 1
            backup = real.with_name(f"{real.name}.etcdtui-{stamp}-{n}.bak")
        shutil.copy2(real, backup)
        mode = os.stat(real).st_mode & 0o7777
    else:
        real.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, real)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return backup
