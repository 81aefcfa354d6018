"""Authenticated encryption at rest for etcd snapshot files, streamed in constant memory.

A snapshot holds every Kubernetes Secret, so a copy on a laptop or a backup bucket is sealed
with AES-256-GCM. Snapshots run to many GB, so the file is a sequence of independently sealed
chunks (the STREAM construction) and memory stays at a few chunks whatever the size.

File format, version 1 (integers big-endian)::

    header, 66 bytes
      17  magic          b"ETCDTUI-SNAP-ENC\\x00"
       1  version        1
       1  key kind       1 = key file, 2 = passphrase
       3  scrypt         log2(N), r, p (passphrase); zeros (key file)
      16  salt           random per file
       4  chunk size     plaintext bytes per chunk, 1 .. 1 MiB
       8  nonce prefix   random per file
      16  key check      bytes 32..48 of the derived key material
    then chunks, each ciphertext || 16-byte GCM tag
      every chunk but the last holds exactly `chunk size` plaintext bytes;
      the last holds 0 .. chunk size (an empty snapshot is one empty final chunk)

The 48 bytes of key material come from scrypt(passphrase, salt, N, r, p) or, for a key file,
HKDF-SHA256(key, salt); bytes 0..32 are the AES key. Because salt is per file, every file has
its own AES key, so a random nonce prefix can never repeat under one key. Chunk i is sealed with
nonce = prefix || u32(i) and associated data = header || u64(i) || u8(is_final): moving,
dropping or duplicating a chunk breaks its tag, a file cut at a chunk boundary lacks the chunk
sealed as final, and bytes after the final chunk are refused. The key check tells a wrong key
apart from a damaged first chunk before any ciphertext is opened; it reveals no more to someone
guessing passphrases than the first chunk's tag would.

Passphrase cost: new files use scrypt N=2**17, r=8, p=1 (128 MiB, about 0.45 s on a 2-core
bastion), today's common recommendation for interactive use; files written before it (N=2**15)
still open, since each file's header carries its own parameters. Because the header is read
before the key is known, its parameters are bounded before any work: 2**10 <= N <= 2**20,
1 <= r <= 16, 1 <= p <= 4, and 128 * N * r * p <= 1 GiB (which bounds both the memory, 128*N*r,
and the time, at most 8 times the default's: about 7 s here). A header beyond that is refused in
one line; a MemoryError from scrypt becomes a SnapshotError, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import os
import struct
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from etcdtui.clients.private_dirs import make_private_dir, release
from etcdtui.errors import SnapshotError, SnapshotKeyError, UsageError
from etcdtui.toml_io import open_regular

MAGIC = b"ETCDTUI-SNAP-ENC\x00"
VERSION = 1
CHUNK_SIZE = 1 << 20
TAG_SIZE = 16
KEY_SIZE = 32
_HEADER = struct.Struct(">17sBBBBB16sI8s16s")
HEADER_SIZE = _HEADER.size
KIND_KEY_FILE, KIND_PASSPHRASE = 1, 2
_KIND_NAMES = {KIND_KEY_FILE: "a key file", KIND_PASSPHRASE: "a passphrase"}
# ~0.45 s and 128 MiB here: slow enough to make guessing costly, quick enough for every save.
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 17, 8, 1
# What a header may ask for (see the module docstring): a hostile or damaged header must not
# make us allocate gigabytes or spin for minutes before the key check fails.
SCRYPT_MIN_LOG2_N, SCRYPT_MAX_LOG2_N, SCRYPT_MAX_R, SCRYPT_MAX_P = 10, 20, 16, 4
SCRYPT_MAX_WORK = 1 << 30  # 128 * N * r * p bytes
_KEY_FILE_FORMATS = "32 random bytes, 64 hex characters, or 32 bytes in base64"

PathLike = str | os.PathLike[str]


@dataclasses.dataclass(frozen=True)
class _Header:
    kind: int
    log2_n: int
    r: int
    p: int
    salt: bytes
    chunk_size: int
    nonce_prefix: bytes
    key_check: bytes = b"\x00" * 16

    @functools.cached_property
    def packed(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, *dataclasses.astuple(self))


class SnapshotKey:
    """The secret behind encrypted snapshots; build it with `from_file` or `from_passphrase`."""

    __slots__ = ("_kind", "_secret")

    def __init__(self, kind: int, secret: bytes) -> None:
        self._kind, self._secret = kind, secret

    def __repr__(self) -> str:  # never the secret itself, even in a traceback
        return f"SnapshotKey(<{_KIND_NAMES[self._kind]}>)"

    @classmethod
    def from_file(cls, path: PathLike) -> SnapshotKey:
        """Read a key file: 32 raw bytes, 64 hex characters, or base64; private to its owner."""
        fd = open_regular(path, "key file")  # a FIFO or device is refused, never read
        try:
            mode = os.fstat(fd).st_mode
            data = os.read(fd, 4097)  # any valid key file is far smaller
        except OSError as e:
            raise UsageError(f"cannot read key file {path}: {e.strerror or e}") from e
        finally:
            os.close(fd)
        if mode & 0o077:
            raise UsageError(
                f"key file {path} is open to group or others (mode {mode & 0o777:o})",
                hint=f"chmod 600 {path}",
            )
        if len(data) == KEY_SIZE:
            return cls(KIND_KEY_FILE, data)
        text = data.strip()
        key = b""
        with contextlib.suppress(ValueError, binascii.Error):
            key = bytes.fromhex(text.decode("ascii")) if len(text) == 64 else b""
            key = key or base64.b64decode(text, validate=True)
        if len(key) != KEY_SIZE:
            raise UsageError(
                f"key file {path} is not a snapshot key: expected {_KEY_FILE_FORMATS}",
                hint="make one with: head -c 32 /dev/urandom > KEY && chmod 600 KEY",
            )
        return cls(KIND_KEY_FILE, key)

    @classmethod
    def from_passphrase(cls, text: str) -> SnapshotKey:
        """A passphrase; each file derives its own key from it with scrypt and the file's salt."""
        if not text:
            raise UsageError("the snapshot passphrase is empty")
        # The same passphrase typed on macOS and Linux can differ in Unicode normal form.
        return cls(KIND_PASSPHRASE, unicodedata.normalize("NFC", text).encode())

    def _new_header(self, chunk_size: int) -> _Header:
        scrypt = (SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P) if self._kind == KIND_PASSPHRASE else (0, 0, 0)
        return _Header(self._kind, *scrypt, os.urandom(16), chunk_size, os.urandom(8))

    def _derive(self, h: _Header) -> bytes:
        """48 bytes of key material for the file whose header is `h`: AES key, key check."""
        if self._kind == KIND_PASSPHRASE:
            try:
                kdf = Scrypt(salt=h.salt, length=48, n=1 << h.log2_n, r=h.r, p=h.p)
                return kdf.derive(self._secret)
            except MemoryError:
                need = 128 * h.r * (1 << h.log2_n) >> 20
                raise SnapshotError(
                    f"not enough memory to derive the snapshot key (scrypt N=2**{h.log2_n}, "
                    f"r={h.r}, p={h.p} needs {need} MiB)"
                ) from None
        hkdf = HKDF(hashes.SHA256(), length=48, salt=h.salt, info=b"etcdtui snapshot v1")
        return hkdf.derive(self._secret)


def generate_key_file(path: PathLike) -> None:
    """Write a new random 32-byte key file, mode 0600; an existing file is never replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise UsageError(
            f"{path} already exists: refusing to overwrite a key",
            hint="snapshots sealed with it would be lost; choose another path",
        ) from e
    except OSError as e:
        raise UsageError(f"cannot create key file {path}: {e.strerror or e}") from e
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # exactly 0600 whatever the umask
        f.write(os.urandom(KEY_SIZE))
        f.flush()
        os.fsync(f.fileno())


def is_encrypted(path: PathLike) -> bool:
    """Whether `path` starts with the encrypted-snapshot magic (nothing else is checked)."""
    try:
        with os.fdopen(open_regular(path, "snapshot file"), "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError as e:
        raise SnapshotError(f"cannot read {path}: {e.strerror or e}") from e


def _chunk_params(h: _Header, index: int, final: bool) -> tuple[bytes, bytes]:
    """The nonce and associated data that pin chunk `index` to its place in this file."""
    if index >= 1 << 32:
        raise SnapshotError("snapshot too large to encrypt: more than 2**32 chunks")
    return h.nonce_prefix + index.to_bytes(4, "big"), h.packed + struct.pack(">QB", index, final)


class Encryptor:
    """Seal a stream into `sink` chunk by chunk: call `write` any number of times, then `close`."""

    def __init__(self, key: SnapshotKey, sink: BinaryIO, *, chunk_size: int = CHUNK_SIZE) -> None:
        if not 1 <= chunk_size <= CHUNK_SIZE:
            raise ValueError(f"chunk_size must be 1 .. {CHUNK_SIZE}")
        header = key._new_header(chunk_size)
        material = key._derive(header)
        self._header = dataclasses.replace(header, key_check=material[32:])
        self._aead = AESGCM(material[:32])
        self._sink, self._size = sink, chunk_size
        self._buf = bytearray()
        self._index = 0
        self._closed = False
        sink.write(self._header.packed)

    def _seal(self, final: bool) -> None:
        nonce, ad = _chunk_params(self._header, self._index, final)
        self._sink.write(self._aead.encrypt(nonce, self._buf, ad))
        self._buf.clear()
        self._index += 1

    def write(self, data: bytes) -> None:
        """Buffer `data`, sealing and writing each full chunk once more data follows it."""
        if self._closed:
            raise ValueError("write to a closed Encryptor")
        view = memoryview(data)
        while view:
            # A full chunk waits until more data arrives: only close() may seal the final one.
            if len(self._buf) == self._size:
                self._seal(final=False)
            take = self._size - len(self._buf)
            self._buf += view[:take]
            view = view[take:]

    def close(self) -> None:
        """Seal the final chunk; without it the file reads as truncated. Call exactly once."""
        if self._closed:
            raise ValueError("Encryptor closed twice")
        self._closed = True
        self._seal(final=True)


def _read_header(path: PathLike, f: BinaryIO) -> _Header:
    raw = f.read(HEADER_SIZE)
    if raw[: len(MAGIC)] != MAGIC:
        raise SnapshotError(f"{path} is not an encrypted etcdtui snapshot")
    # The version comes first: a later version's header may not be this size.
    if len(raw) > len(MAGIC) and raw[len(MAGIC)] != VERSION:
        raise SnapshotError(
            f"{path} is encrypted with format version {raw[len(MAGIC)]}; "
            f"this etcdtui reads version {VERSION}",
            hint="use a newer etcdtui",
        )
    if len(raw) < HEADER_SIZE:
        raise SnapshotError(f"{path}: corrupt: the header is truncated")
    h = _Header(*_HEADER.unpack(raw)[2:])
    if h.kind not in _KIND_NAMES or not 1 <= h.chunk_size <= CHUNK_SIZE:
        raise SnapshotError(f"{path}: corrupt: the header is damaged")
    if h.kind == KIND_PASSPHRASE and not scrypt_within_bounds(h.log2_n, h.r, h.p):
        raise SnapshotError(
            f"{path}: refused: the header asks scrypt for N=2**{h.log2_n}, r={h.r}, p={h.p}, "
            f"beyond this etcdtui's bound (N <= 2**{SCRYPT_MAX_LOG2_N}, r <= {SCRYPT_MAX_R}, "
            f"p <= {SCRYPT_MAX_P}, 128*N*r*p <= {SCRYPT_MAX_WORK >> 30} GiB): damaged or hostile"
        )
    return h


def scrypt_within_bounds(log2_n: int, r: int, p: int) -> bool:
    """Whether a header's scrypt parameters are within the documented CPU and memory bound."""
    return (
        SCRYPT_MIN_LOG2_N <= log2_n <= SCRYPT_MAX_LOG2_N
        and 1 <= r <= SCRYPT_MAX_R
        and 1 <= p <= SCRYPT_MAX_P
        and 128 * (1 << log2_n) * r * p <= SCRYPT_MAX_WORK
    )


def decrypt_file(path: PathLike, key: SnapshotKey | None, sink: BinaryIO) -> int:
    """Stream the plaintext of encrypted snapshot `path` into `sink`; return its size.

    A wrong key is found before anything is written; damage found later raises SnapshotError
    after the chunks before it were written, so `sink` must be discarded on any error.
    """
    try:
        f = os.fdopen(open_regular(path, "snapshot file"), "rb")
    except OSError as e:
        raise SnapshotError(f"cannot read {path}: {e.strerror or e}") from e
    with f:
        return _decrypt(path, f, key, sink)


def _decrypt(path: PathLike, f: BinaryIO, key: SnapshotKey | None, sink: BinaryIO) -> int:
    h = _read_header(path, f)
    if key is None:
        raise SnapshotKeyError(f"{path} is encrypted: give --key-file or --passphrase")
    if key._kind != h.kind:
        want = "--passphrase" if h.kind == KIND_PASSPHRASE else "--key-file"
        raise SnapshotKeyError(
            f"{path} was encrypted with {_KIND_NAMES[h.kind]}, not {_KIND_NAMES[key._kind]}: "
            f"give {want}"
        )
    material = key._derive(h)
    if not constant_time.bytes_eq(material[32:], h.key_check):
        raise SnapshotKeyError(
            f"{path}: wrong key or passphrase (the key check in the header does not match)"
        )
    aead, record, total = AESGCM(material[:32]), h.chunk_size + TAG_SIZE, 0
    current = f.read(record)
    if not current:
        raise SnapshotError(f"{path}: corrupt: no chunks after the header (truncated?)")
    index = 0
    while True:
        # One chunk of look-ahead: a chunk is final exactly when nothing follows it.
        following = f.read(record) if len(current) == record else b""
        final = not following
        sink.write(_open_chunk(path, aead, h, index, final, current))
        total += len(current) - TAG_SIZE
        if final:
            return total
        current, index = following, index + 1


def _open_chunk(
    path: PathLike, aead: AESGCM, h: _Header, index: int, final: bool, data: bytes
) -> bytes:
    nonce, ad = _chunk_params(h, index, final)
    with contextlib.suppress(InvalidTag):
        return aead.decrypt(nonce, data, ad)
    # Only to name the damage: was this chunk sealed with the other final flag?
    with contextlib.suppress(InvalidTag):
        aead.decrypt(nonce, data, ad[:-1] + bytes([not final]))  # the flag is AD's last byte
        raise SnapshotError(
            f"{path}: corrupt: ends after chunk {index} without the final chunk (truncated)"
            if final
            else f"{path}: corrupt: unexpected data after the final chunk {index}"
        )
    raise SnapshotError(
        f"{path}: corrupt: chunk {index} does not authenticate (damaged, reordered or truncated)"
    )


def _private_base(need: int) -> Path:
    """RAM (/dev/shm) when usable and roomy, so plaintext secrets never reach a disk."""
    with contextlib.suppress(OSError):
        if os.access("/dev/shm", os.W_OK | os.X_OK):
            vfs = os.statvfs("/dev/shm")
            if vfs.f_bavail * vfs.f_frsize > need + (64 << 20):
                return Path("/dev/shm")
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def plaintext(path: PathLike, key: SnapshotKey | None) -> Iterator[Path]:
    """Yield a path to the snapshot's plaintext: `path` itself, or a private decrypted copy.

    The copy lives in a 0700 directory (under /dev/shm when it has room) as a 0600 file, and
    is removed when the with-block ends, by an exception too, and when etcdtui is terminated
    (clients/private_dirs.py).
    """
    if not is_encrypted(path):
        yield Path(path)
        return
    size = os.stat(path).st_size
    tmpdir = make_private_dir(_private_base(size))
    try:
        out = tmpdir / "snapshot.db"
        try:
            with open(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                decrypt_file(path, key, f)
        except OSError as e:
            raise SnapshotError(f"cannot decrypt {path} into {tmpdir}: {e.strerror or e}") from e
        yield out
    finally:
        release(tmpdir)


def encrypt_file(
    src: PathLike, dst: PathLike, key: SnapshotKey, *, chunk_size: int = CHUNK_SIZE
) -> None:
    """Encrypt snapshot `src` into `dst` (mode 0600) via `dst`.part, fsynced then renamed."""
    if is_encrypted(src):
        raise UsageError(f"{src} is already encrypted")
    dst = Path(dst)
    part = dst.with_name(dst.name + ".part")
    try:
        with (
            open(src, "rb") as fin,
            open(part, "wb", opener=lambda p, fl: os.open(p, fl, 0o600)) as fout,
        ):
            os.fchmod(fout.fileno(), 0o600)  # a stale .part may have had a wider mode
            enc = Encryptor(key, fout, chunk_size=chunk_size)
            while block := fin.read(CHUNK_SIZE):
                enc.write(block)
            enc.close()
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(part, dst)
        # The rename is durable only once the directory entry is on disk too.
        dfd = os.open(dst.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise SnapshotError(f"cannot encrypt {src} into {dst}: {e.strerror or e}") from e
    except BaseException:
        part.unlink(missing_ok=True)
        raise
