"""Authenticated encryption at rest for etcd snapshot files, streamed in constant memory.

A snapshot holds every Kubernetes Secret, so a copy on a laptop or a backup bucket is sealed
with AES-256-GCM. Snapshots run to many GB, so the file is a sequence of independently sealed
chunks (the STREAM construction) and memory stays at a few chunks whatever the size.

The file format, and the sealing and opening of its chunks, are in sealed_stream.py; this
module holds the key (a key file or a passphrase) and the operations on whole files.

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
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from etcdtui.clients.private_dirs import make_private_dir, release
from etcdtui.errors import SnapshotError, UsageError
from etcdtui.snapshots.sealed_stream import CHUNK_SIZE as CHUNK_SIZE
from etcdtui.snapshots.sealed_stream import HEADER_SIZE as HEADER_SIZE
from etcdtui.snapshots.sealed_stream import KEY_SIZE as KEY_SIZE
from etcdtui.snapshots.sealed_stream import KIND_KEY_FILE as KIND_KEY_FILE
from etcdtui.snapshots.sealed_stream import KIND_NAMES, Header, decrypt_stream
from etcdtui.snapshots.sealed_stream import KIND_PASSPHRASE as KIND_PASSPHRASE
from etcdtui.snapshots.sealed_stream import MAGIC as MAGIC
from etcdtui.snapshots.sealed_stream import SCRYPT_MAX_LOG2_N as SCRYPT_MAX_LOG2_N
from etcdtui.snapshots.sealed_stream import SCRYPT_MAX_P as SCRYPT_MAX_P
from etcdtui.snapshots.sealed_stream import SCRYPT_MAX_R as SCRYPT_MAX_R
from etcdtui.snapshots.sealed_stream import SCRYPT_MAX_WORK as SCRYPT_MAX_WORK
from etcdtui.snapshots.sealed_stream import SCRYPT_MIN_LOG2_N as SCRYPT_MIN_LOG2_N
from etcdtui.snapshots.sealed_stream import TAG_SIZE as TAG_SIZE
from etcdtui.snapshots.sealed_stream import VERSION as VERSION
from etcdtui.snapshots.sealed_stream import Encryptor as Encryptor
from etcdtui.snapshots.sealed_stream import scrypt_within_bounds as scrypt_within_bounds
from etcdtui.toml_io import open_regular

# ~0.45 s and 128 MiB here: slow enough to make guessing costly, quick enough for every save.
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 17, 8, 1
_KEY_FILE_FORMATS = "32 random bytes, 64 hex characters, or 32 bytes in base64"

PathLike = str | os.PathLike[str]


class SnapshotKey:
    """The secret behind encrypted snapshots; build it with `from_file` or `from_passphrase`."""

    __slots__ = ("_kind", "_secret")

    def __init__(self, kind: int, secret: bytes) -> None:
        self._kind, self._secret = kind, secret

    def __repr__(self) -> str:  # never the secret itself, even in a traceback
        return f"SnapshotKey(<{KIND_NAMES[self._kind]}>)"

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

    def _new_header(self, chunk_size: int) -> Header:
        scrypt = (SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P) if self._kind == KIND_PASSPHRASE else (0, 0, 0)
        return Header(self._kind, *scrypt, os.urandom(16), chunk_size, os.urandom(8))

    def _derive(self, h: Header) -> bytes:
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
        return decrypt_stream(path, f, key, sink)


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
