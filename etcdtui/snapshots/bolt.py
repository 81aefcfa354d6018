"""A small read-only reader of bbolt database files: etcd's backend and its snapshots.

It reads the file the way go.etcd.io/bbolt does (the two meta pages, then the B+tree of
branch and leaf pages from the root bucket down) over an mmap, and hands out memoryview
slices of it, so a value spread over a thousand overflow pages is never copied. Anything
bbolt would trip over (a page id past the high-water mark, a page of the wrong type, an
element pointing outside its page, a page reached twice) raises SnapshotError("FILE:
corrupt: why") rather than reading garbage or looping.

The views are valid while the BoltFile is open; copy them (bytes(view)) to keep them.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from etcdtui import toml_io
from etcdtui.errors import SnapshotError

MAGIC = 0xED0CDAED
VERSION = 2
BRANCH_PAGE, LEAF_PAGE, META_PAGE, FREELIST_PAGE = 0x01, 0x02, 0x04, 0x10
BUCKET_LEAF_FLAG = 0x01
NO_FREELIST = 0xFFFFFFFFFFFFFFFF  # meta.freelist when the freelist is not synced to disk

PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
# magic, version, page size, flags, root bucket {root pgid, sequence}, freelist, pgid, txid
META_FIELDS = struct.Struct("<IIIIQQQQQ")
CHECKSUM = struct.Struct("<Q")
LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos, ksize, vsize
BRANCH_ELEMENT = struct.Struct("<IIQ")  # pos, ksize, pgid
BUCKET_HEADER = struct.Struct("<QQ")  # root pgid (0: inline), sequence
ELEMENT_SIZE = 16
META_OFFSET = PAGE_HEADER.size
META_END = META_OFFSET + META_FIELDS.size + CHECKSUM.size

# bbolt writes pages of the OS page size; it looks for the second meta page at these offsets
# when the first is damaged (1 KiB to 16 MiB), and so do we.
PAGE_SIZES = tuple(1024 << shift for shift in range(15))

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
U64 = 0xFFFFFFFFFFFFFFFF

# A real B+tree of 2^64 pages is a few dozen levels deep; a deeper one is a crafted chain
# that would otherwise end in RecursionError.
MAX_DEPTH = 64

# Leaf pages (with their overflow) at least this big are unmapped once read, and the whole
# mapping each time this much more has been walked: see _release.
RELEASE_SPAN = 1 << 16
RELEASE_EVERY = 16 << 20
_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)

Items = Iterator[tuple[memoryview, memoryview | None]]


def open_regular(path: str | Path) -> int:
    """A read-only descriptor for the regular file `path` (the caller closes it).

    UsageError in one line when there is no such file, it cannot be read, or it is not a
    regular one (a FIFO would wait for a writer, /dev/zero never ends): the person named the
    wrong path. See toml_io.open_regular.
    """
    return toml_io.open_regular(path, "snapshot file")


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64, bbolt's meta checksum (only ever over 56 bytes, so a Python loop is fine)."""
    value = FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * FNV_PRIME) & U64
    return value


@dataclass(frozen=True)
class Meta:
    """One of the two meta pages: where the tree starts and how big the database is."""

    page_size: int
    flags: int
    root: int  # the root bucket's page
    sequence: int
    freelist: int
    high_water: int  # pgid: the first page id past the end of the database
    txid: int


class BoltFile:
    """A bbolt file opened read-only. Use as a context manager, or call close().

    Raises UsageError for a path that is not a file, SnapshotError for a file that is not a
    bbolt database or whose header says it is cut short.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        fd = open_regular(path)
        try:
            self.file_size = os.fstat(fd).st_size
            if self.file_size == 0:
                raise SnapshotError(f"{self.path}: not a snapshot (empty file)")
            self._mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise SnapshotError(f"{self.path}: cannot read ({exc.strerror or exc})") from None
        finally:
            os.close(fd)  # the mapping keeps its own reference to the file
        self._view = memoryview(self._mm)
        self._walked = 0  # bytes of leaf pages walked since the mapping was last released
        try:
            self.meta = self._read_meta()
            if self.meta.freelist != NO_FREELIST:
                self._page(self.meta.freelist, FREELIST_PAGE, set())
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> BoltFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Unmap the file (left to the garbage collector while a caller still holds a view)."""
        self._view.release()
        with contextlib.suppress(BufferError):
            self._mm.close()

    @property
    def page_size(self) -> int:
        return self.meta.page_size

    @property
    def size(self) -> int:
        """The database's size as bbolt's Tx.Size() reports it: high-water mark * page size."""
        return self.meta.high_water * self.meta.page_size

    def corrupt(self, reason: str) -> SnapshotError:
        """The error for a damaged file, in the one-line form every caller prints."""
        return SnapshotError(f"{self.path}: corrupt: {reason}")

    # --- meta pages -------------------------------------------------------------------------

    def _meta_at(self, offset: int) -> tuple[Meta | None, str]:
        """The meta page at `offset`, or None and why it is not a valid one."""
        if offset + META_END > self.file_size:
            return None, "no header"
        _, flags, _, _ = PAGE_HEADER.unpack_from(self._mm, offset)
        fields = META_FIELDS.unpack_from(self._mm, offset + META_OFFSET)
        magic, version, page_size, meta_flags, root, seq, freelist, high_water, txid = fields
        if magic != MAGIC:
            return None, "no header"
        if version != VERSION:
            return None, f"version {version}"
        (checksum,) = CHECKSUM.unpack_from(self._mm, offset + META_OFFSET + META_FIELDS.size)
        if checksum != fnv1a64(self._mm[offset + META_OFFSET : offset + META_END - 8]):
            return None, "checksum"
        if flags != META_PAGE:
            return None, f"page flags {flags:#x}"
        if page_size not in PAGE_SIZES:
            return None, f"page size {page_size}"
        meta = Meta(page_size, meta_flags, root, seq, freelist, high_water, txid)
        return meta, ""

    def _read_meta(self) -> Meta:
        first, why_first = self._meta_at(0)
        # The second meta page sits one page in; without a valid first page the page size is
        # unknown, so try every size bbolt might have used, as bbolt itself does.
        if first is not None:
            offsets: tuple[int, ...] = (first.page_size,)
        else:
            offsets = tuple(size for size in PAGE_SIZES if size < self.file_size)
        second, why_second = None, "no header"
        for offset in offsets:
            candidate, why = self._meta_at(offset)
            if candidate is not None and candidate.page_size == offset:
                second, why_second = candidate, ""
                break
            if why != "no header":
                why_second = why
        valid = [meta for meta in (first, second) if meta is not None]
        if not valid:
            whys = {why_first, why_second}
            if whys == {"no header"}:
                raise SnapshotError(f"{self.path}: not a snapshot (no bbolt header)")
            version = next((why for why in whys if why.startswith("version")), "")
            if version:
                raise SnapshotError(f"{self.path}: not a snapshot (bbolt format {version})")
            reasons = ", ".join(sorted(whys - {"no header"}))
            raise self.corrupt(f"both meta pages are invalid ({reasons})")
        # bbolt uses the newest transaction whose meta page is intact.
        meta = max(valid, key=lambda m: m.txid)
        needed = meta.high_water * meta.page_size
        if self.file_size < needed:
            raise self.corrupt(
                f"truncated: {self.file_size} bytes, the database needs {needed} "
                f"({meta.high_water} pages of {meta.page_size})"
            )
        return meta

    # --- pages ------------------------------------------------------------------------------

    def _page(self, pgid: int, kinds: int, seen: set[int]) -> tuple[int, int, int, int]:
        """Check page `pgid` and return (offset, end, flags, count); `kinds`: allowed flags.

        `seen` collects the pages a walk has reached: a page (or overflow page) reached twice
        means a cycle or two owners, both of which bbolt's check reports as corruption.
        """
        high_water, size = self.meta.high_water, self.meta.page_size
        # Pages 0 and 1 are the meta pages: nothing else may point at them.
        if not 2 <= pgid < high_water:
            raise self.corrupt(
                f"page {pgid} is outside the database (high-water mark {high_water})"
            )
        offset = pgid * size
        own_id, flags, count, overflow = PAGE_HEADER.unpack_from(self._mm, offset)
        if own_id != pgid:
            raise self.corrupt(f"page {pgid} says it is page {own_id}")
        if flags not in (BRANCH_PAGE, LEAF_PAGE, FREELIST_PAGE) or not flags & kinds:
            expected = "a freelist page" if kinds == FREELIST_PAGE else "a branch or leaf page"
            raise self.corrupt(f"page {pgid} has type flags {flags:#x}, not {expected}")
        last = pgid + overflow
        if last >= high_water:
            raise self.corrupt(f"page {pgid} runs past the high-water mark ({overflow} overflow)")
        span = range(pgid, last + 1)
        if not seen.isdisjoint(span):
            raise self.corrupt(f"page {pgid} is reached twice")
        seen.update(span)
        end = offset + (overflow + 1) * size
        if flags != FREELIST_PAGE and PAGE_HEADER.size + count * ELEMENT_SIZE > end - offset:
            raise self.corrupt(f"page {pgid}: {count} elements do not fit in the page")
        return offset, end, flags, count

    def _elements(
        self, offset: int, end: int, count: int, where: str
    ) -> Iterator[tuple[int, int, int, int]]:
        """(flags, key start, key end, value end) of each element of the leaf page at `offset`."""
        first = offset + PAGE_HEADER.size
        table = self._view[first : first + ELEMENT_SIZE * count]
        for index, (flags, pos, ksize, vsize) in enumerate(LEAF_ELEMENT.iter_unpack(table)):
            # Positions count from the element itself, not from the page.
            key_start = first + ELEMENT_SIZE * index + pos
            value_end = key_start + ksize + vsize
            if value_end > end:
                raise self.corrupt(f"{where}: element {index} points past the end of its page")
            yield flags, key_start, key_start + ksize, value_end

    def _leaves(
        self, pgid: int, seen: set[int], depth: int = 0
    ) -> Iterator[tuple[int, int, int, str]]:
        """(offset, end, count, label) of every leaf page under page `pgid`, in key order."""
        if depth > MAX_DEPTH:
            raise self.corrupt(f"page {pgid}: the tree is more than {MAX_DEPTH} levels deep")
        offset, end, flags, count = self._page(pgid, BRANCH_PAGE | LEAF_PAGE, seen)
        if flags == LEAF_PAGE:
            yield offset, end, count, f"page {pgid}"
            return
        first = offset + PAGE_HEADER.size
        table = self._view[first : first + ELEMENT_SIZE * count]
        for _pos, _ksize, child in BRANCH_ELEMENT.iter_unpack(table):
            yield from self._leaves(child, seen, depth + 1)

    # --- buckets ----------------------------------------------------------------------------

    def _bucket_items(self, name: str, start: int, end: int, seen: set[int]) -> Items:
        """The items of the bucket whose header (and inline page) is the value at start:end."""
        if end - start < BUCKET_HEADER.size:
            raise self.corrupt(f"bucket {name}: header is {end - start} bytes")
        root, _sequence = BUCKET_HEADER.unpack_from(self._mm, start)
        if root != 0:
            leaves: Iterator[tuple[int, int, int, str]] = self._leaves(root, seen)
        else:
            leaves = iter([self._inline_page(name, start + BUCKET_HEADER.size, end)])
        view = self._view
        for offset, page_end, count, label in leaves:
            for flags, key_start, key_end, value_end in self._elements(
                offset, page_end, count, label
            ):
                value = None if flags & BUCKET_LEAF_FLAG else view[key_end:value_end]
                yield view[key_start:key_end], value
            self._walked += page_end - offset
            if self._walked >= RELEASE_EVERY:
                self._release(0, self.file_size)  # the pages walked so far, wherever they were
                self._walked = 0
            elif page_end - offset >= RELEASE_SPAN:
                self._release(offset, page_end)

    def _release(self, start: int, end: int) -> None:
        """Let the kernel drop our mapping of pages the caller has moved past.

        Without this a snapshot ends up wholly mapped as it is read (RSS the size of the
        file, on top of what the caller keeps); the pages stay in the page cache, and one
        read again (a branch page, a view still held) is simply faulted in again.
        """
        first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # madvise wants aligned starts
        if end - first >= mmap.PAGESIZE and _DONTNEED is not None:
            with contextlib.suppress(OSError):  # only an optimisation
                self._mm.madvise(_DONTNEED, first, (end - first) // mmap.PAGESIZE * mmap.PAGESIZE)

    def _inline_page(self, name: str, offset: int, end: int) -> tuple[int, int, int, str]:
        """An inline bucket's single leaf page, which follows its header inside the value."""
        label = f"bucket {name} (inline)"
        if end - offset < PAGE_HEADER.size:
            raise self.corrupt(f"{label}: page is {end - offset} bytes")
        _, flags, count, _ = PAGE_HEADER.unpack_from(self._mm, offset)
        if flags != LEAF_PAGE:
            raise self.corrupt(f"{label}: page has type flags {flags:#x}, not a leaf")
        if PAGE_HEADER.size + count * ELEMENT_SIZE > end - offset:
            raise self.corrupt(f"{label}: {count} elements do not fit in the page")
        return offset, end, count, label

    def buckets(self) -> Iterator[tuple[memoryview, Items]]:
        """Each top-level bucket's name and an iterator over its items, in key order.

        Items are (key, value) pairs, value None for a nested bucket (as bbolt's ForEach
        gives nil). All the iterators share one walk, so a page owned twice is caught.
        """
        seen: set[int] = set()
        for offset, end, count, label in self._leaves(self.meta.root, seen):
            for flags, key_start, key_end, value_end in self._elements(offset, end, count, label):
                name = self._view[key_start:key_end]
                if not flags & BUCKET_LEAF_FLAG:
                    raise self.corrupt(f"top-level key {bytes(name)!r} is not a bucket")
                yield name, self._bucket_items(repr(bytes(name)), key_end, value_end, seen)
