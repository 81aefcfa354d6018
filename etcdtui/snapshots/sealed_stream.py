"""The sealed chunk stream inside an encrypted snapshot file: format, sealing and opening.

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

The key behind a file is a SnapshotKey (crypto.py), which derives the key material from the
header; this module seals a plaintext stream chunk by chunk (Encryptor) and opens one
(decrypt_stream), naming any damage it finds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import struct
from typing import TYPE_CHECKING, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from etcdtui.errors import SnapshotError, SnapshotKeyError

if TYPE_CHECKING:
    from etcdtui.snapshots.crypto import PathLike, SnapshotKey

MAGIC = b"ETCDTUI-SNAP-ENC\x00"
VERSION = 1
CHUNK_SIZE = 1 << 20
TAG_SIZE = 16
KEY_SIZE = 32
_HEADER = struct.Struct(">17sBBBBB16sI8s16s")
HEADER_SIZE = _HEADER.size
KIND_KEY_FILE, KIND_PASSPHRASE = 1, 2
KIND_NAMES = {KIND_KEY_FILE: "a key file", KIND_PASSPHRASE: "a passphrase"}
# What a header may ask for (see crypto.py's docstring): a hostile or damaged header must not
# make us allocate gigabytes or spin for minutes before the key check fails.
SCRYPT_MIN_LOG2_N, SCRYPT_MAX_LOG2_N, SCRYPT_MAX_R, SCRYPT_MAX_P = 10, 20, 16, 4
SCRYPT_MAX_WORK = 1 << 30  # 128 * N * r * p bytes


@dataclasses.dataclass(frozen=True)
class Header:
    """The header of one encrypted file (the fields after magic and version)."""

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


def chunk_params(h: Header, index: int, final: bool) -> tuple[bytes, bytes]:
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
        nonce, ad = chunk_params(self._header, self._index, final)
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


def read_header(path: PathLike, f: BinaryIO) -> Header:
    """The header at the start of `f`, checked before any key work (see the bounds above)."""
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
    h = Header(*_HEADER.unpack(raw)[2:])
    if h.kind not in KIND_NAMES or not 1 <= h.chunk_size <= CHUNK_SIZE:
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


def decrypt_stream(path: PathLike, f: BinaryIO, key: SnapshotKey | None, sink: BinaryIO) -> int:
    """Open the encrypted file `f` (named `path` in errors) into `sink`; the plaintext size."""
    h = read_header(path, f)
    if key is None:
        raise SnapshotKeyError(f"{path} is encrypted: give --key-file or --passphrase")
    if key._kind != h.kind:
        want = "--passphrase" if h.kind == KIND_PASSPHRASE else "--key-file"
        raise SnapshotKeyError(
            f"{path} was encrypted with {KIND_NAMES[h.kind]}, not {KIND_NAMES[key._kind]}: "
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
    path: PathLike, aead: AESGCM, h: Header, index: int, final: bool, data: bytes
) -> bytes:
    nonce, ad = chunk_params(h, index, final)
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
