"""A range page asked of `etcdctl get`, whose keys travel as command-line arguments.

An argument is text and holds no NUL, while a paged scan starts each page at "the key just
after the last one", which is that key with a NUL appended, and may end a range at a bound
that is not text. So: a start of KEY + NUL is read from KEY itself, one key more, and KEY
dropped from the answer; an end that cannot be an argument (and the end "\\0", every key from
the start) becomes `--from-key`, and the keys at or past the end are dropped here. A start
that cannot be an argument either is refused with UnsayableKey.
"""

from __future__ import annotations

from dataclasses import dataclass

from etcdtui.clients.range_read import RangePage
from etcdtui.errors import EtcdError


class UnsayableKey(EtcdError):
    """A page's start that no command-line argument can hold (not UTF-8, or a NUL inside)."""


def as_argument(key: bytes) -> str | None:
    """`key` as a command-line argument, or None when no argument can hold it."""
    try:
        text = key.decode()
    except UnicodeDecodeError:
        return None
    return text if text and "\0" not in text else None


@dataclass(frozen=True)
class EtcdctlRange:
    """The `etcdctl get` arguments for one page, and how to cut its answer to the page."""

    args: list[str]
    wanted: int  # keys the page holds at most
    skip: bytes | None  # a key read only to start just after it
    end: bytes | None  # where the page ends when etcdctl was given --from-key instead

    def trim(self, page: RangePage) -> RangePage:
        """The page asked for, out of what etcdctl answered."""
        keys, sizes, more = page.keys, page.value_sizes, page.more
        first = 1 if self.skip is not None and keys[:1] == [self.skip] else 0
        last = len(keys)
        if self.end is not None:
            last = next((i for i, key in enumerate(keys) if key >= self.end), last)
            if last < len(keys):
                more = False  # the answer ran past the end: nothing more inside the range
        if last - first > self.wanted:
            last, more = first + self.wanted, True
        cut = None if sizes is None else sizes[first:last]
        return RangePage(page.revision, keys[first:last], cut, more)


def etcdctl_range(
    start: bytes, end: bytes, *, limit: int, keys_only: bool, revision: int
) -> EtcdctlRange | None:
    """How to ask etcdctl for the page [start, end); None when `start` cannot be given."""
    skip = None
    if start == b"\0":
        key: str | None = ""  # with --from-key: from the first key
    elif start.endswith(b"\0") and as_argument(start[:-1]) is not None:
        skip = start[:-1]
        key = as_argument(skip)
    else:
        key = as_argument(start)
    if key is None:
        return None
    bound = None if end == b"\0" else as_argument(end)
    if bound is not None and key:
        tail, end_here = ["--", key, bound], None
    else:
        # Every key from `key` on ("": from the first key); an end that could not be given
        # is applied to the answer, read one key past the page to tell if the range goes on.
        tail, end_here = ["--from-key", "--", key], None if end == b"\0" else end
    asked = limit + (skip is not None) + (end_here is not None)
    flags = [f"--limit={asked}", "--consistency=s"]
    if keys_only:
        flags.append("--keys-only")
    if revision:
        flags.append(f"--rev={int(revision)}")
    return EtcdctlRange(["get", *flags, *tail], limit, skip, end_here)
