"""Encrypted snapshot files: real files, real AES-GCM and scrypt, every kind of tampering."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from etcdtui.errors import SnapshotError, SnapshotKeyError, UsageError
from etcdtui.snapshots import crypto as sc
from etcdtui.snapshots.crypto import (
    CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    Encryptor,
    SnapshotKey,
    decrypt_file,
    encrypt_file,
    generate_key_file,
    is_encrypted,
    plaintext,
)

C = 64  # a small chunk size, so chunk boundaries are cheap to reach
RECORD = C + TAG_SIZE


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "snapshot.key"
    generate_key_file(path)
    return path


@pytest.fixture
def key(key_path: Path) -> SnapshotKey:
    return SnapshotKey.from_file(key_path)


@pytest.fixture
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of the format, not of the cost: files this test seals use scrypt N=2**10.

    Only this test's module attribute changes (monkeypatch restores it); opening reads N from
    each header, as for any file. The production cost is checked by the tests below that do
    not take this fixture.
    """
    monkeypatch.setattr(sc, "SCRYPT_LOG2_N", sc.SCRYPT_MIN_LOG2_N)


def seal(tmp_path: Path, data: bytes, key: SnapshotKey, name: str = "snap.enc") -> Path:
    src = tmp_path / "plain.db"
    src.write_bytes(data)
    dst = tmp_path / name
    encrypt_file(src, dst, key, chunk_size=C)
    return dst


def opened(path: Path, key: SnapshotKey | None) -> bytes:
    sink = io.BytesIO()
    assert decrypt_file(path, key, sink) == len(sink.getvalue())
    return sink.getvalue()


def chunks(path: Path) -> tuple[bytes, list[bytes]]:
    raw = path.read_bytes()
    body = raw[HEADER_SIZE:]
    return raw[:HEADER_SIZE], [body[i : i + RECORD] for i in range(0, len(body), RECORD)]


def private_key_file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, C * 7 // 2])
def test_round_trip_at_chunk_boundaries(tmp_path: Path, key: SnapshotKey, size: int) -> None:
    data = os.urandom(size)
    sealed = seal(tmp_path, data, key)
    assert is_encrypted(sealed)
    assert opened(sealed, key) == data
    # Only the final chunk may be short, and a whole last chunk is not followed by an empty one.
    n_chunks = max(1, -(-size // C))
    assert sealed.stat().st_size == HEADER_SIZE + size + n_chunks * TAG_SIZE


@pytest.mark.usefixtures("cheap_scrypt")
def test_passphrase_round_trip_with_writes_of_any_size(tmp_path: Path) -> None:
    key = SnapshotKey.from_passphrase("correct horse battery staple")
    data = os.urandom(C * 7 // 2)
    sink = io.BytesIO()
    enc = Encryptor(key, sink, chunk_size=C)
    for piece in (data[:1], data[1:4], data[4:200], b"", data[200:]):
        enc.write(piece)
    enc.close()
    sealed = tmp_path / "snap.enc"
    sealed.write_bytes(sink.getvalue())
    assert opened(sealed, SnapshotKey.from_passphrase("correct horse battery staple")) == data


def test_encryptor_refuses_use_after_close(key: SnapshotKey) -> None:
    enc = Encryptor(key, io.BytesIO(), chunk_size=C)
    enc.close()
    with pytest.raises(ValueError):
        enc.write(b"x")
    with pytest.raises(ValueError):
        enc.close()


def test_twenty_megabytes_round_trip_with_real_chunks(tmp_path: Path, key: SnapshotKey) -> None:
    data = os.urandom(20 * 1024 * 1024 + 12345)
    src, dst = tmp_path / "plain.db", tmp_path / "snap.enc"
    src.write_bytes(data)
    encrypt_file(src, dst, key)
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    assert not (tmp_path / "snap.enc.part").exists()
    assert dst.stat().st_size == HEADER_SIZE + len(data) + 21 * TAG_SIZE
    out = tmp_path / "out.db"
    with out.open("wb") as f:
        assert decrypt_file(dst, key, f) == len(data)
    assert out.read_bytes() == data


def test_same_data_encrypts_differently_each_time(tmp_path: Path, key: SnapshotKey) -> None:
    data = b"\x00" * (3 * C)
    first, second = seal(tmp_path, data, key, "a.enc"), seal(tmp_path, data, key, "b.enc")
    (h1, c1), (h2, c2) = chunks(first), chunks(second)
    assert h1 != h2  # fresh salt and nonce prefix
    assert not set(c1) & set(c2)


def test_wrong_key_is_refused_before_any_plaintext(tmp_path: Path, key: SnapshotKey) -> None:
    sealed = seal(tmp_path, os.urandom(3 * C), key)
    other = private_key_file(tmp_path / "other.key", os.urandom(32))
    sink = io.BytesIO()
    with pytest.raises(SnapshotKeyError, match="wrong key or passphrase"):
        decrypt_file(sealed, SnapshotKey.from_file(other), sink)
    assert sink.getvalue() == b""


@pytest.mark.usefixtures("cheap_scrypt")
def test_wrong_passphrase_is_refused_before_any_plaintext(tmp_path: Path) -> None:
    sealed = seal(tmp_path, os.urandom(3 * C), SnapshotKey.from_passphrase("right"))
    sink = io.BytesIO()
    with pytest.raises(SnapshotKeyError, match=r"snap\.enc: wrong key or passphrase"):
        decrypt_file(sealed, SnapshotKey.from_passphrase("wrong"), sink)
    assert sink.getvalue() == b""


@pytest.mark.usefixtures("cheap_scrypt")
def test_missing_or_mismatched_kind_of_key_says_what_to_give(
    tmp_path: Path, key: SnapshotKey
) -> None:
    by_file = seal(tmp_path, b"data", key, "file.enc")
    by_phrase = seal(tmp_path, b"data", SnapshotKey.from_passphrase("pw"), "phrase.enc")
    with pytest.raises(SnapshotKeyError, match="is encrypted: give --key-file or --passphrase"):
        opened(by_file, None)
    with pytest.raises(SnapshotKeyError, match=r"encrypted with a key file.*give --key-file"):
        opened(by_file, SnapshotKey.from_passphrase("pw"))
    with pytest.raises(SnapshotKeyError, match=r"encrypted with a passphrase.*give --passphrase"):
        opened(by_phrase, key)


def rewrite(path: Path, header: bytes, body: list[bytes], tail: bytes = b"") -> None:
    path.write_bytes(header + b"".join(body) + tail)


@pytest.mark.parametrize("index", [0, 2])
def test_a_flipped_byte_in_a_chunk_is_corruption_not_a_wrong_key(
    tmp_path: Path, key: SnapshotKey, index: int
) -> None:
    sealed = seal(tmp_path, os.urandom(4 * C), key)
    header, body = chunks(sealed)
    body[index] = body[index][:10] + bytes([body[index][10] ^ 1]) + body[index][11:]
    rewrite(sealed, header, body)
    with pytest.raises(SnapshotError, match=f"corrupt: chunk {index} does not authenticate") as e:
        opened(sealed, key)
    assert not isinstance(e.value, SnapshotKeyError)


def test_a_file_cut_at_a_chunk_boundary_lacks_its_final_chunk(
    tmp_path: Path, key: SnapshotKey
) -> None:
    sealed = seal(tmp_path, os.urandom(4 * C), key)
    header, body = chunks(sealed)
    rewrite(sealed, header, body[:-1])
    with pytest.raises(SnapshotError, match="ends after chunk 2 without the final chunk"):
        opened(sealed, key)


@pytest.mark.parametrize("keep", [0, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + RECORD + 5])
def test_a_file_cut_anywhere_is_corrupt(tmp_path: Path, key: SnapshotKey, keep: int) -> None:
    sealed = seal(tmp_path, os.urandom(4 * C), key)
    sealed.write_bytes(sealed.read_bytes()[:keep])
    with pytest.raises(SnapshotError):
        opened(sealed, key)


def test_swapped_chunks_are_detected(tmp_path: Path, key: SnapshotKey) -> None:
    sealed = seal(tmp_path, os.urandom(4 * C), key)
    header, body = chunks(sealed)
    body[1], body[2] = body[2], body[1]
    rewrite(sealed, header, body)
    with pytest.raises(SnapshotError, match="chunk 1 does not authenticate"):
        opened(sealed, key)


@pytest.mark.parametrize(
    "garbage", [b"x", b"\xa5" * RECORD, b"\x5a" * (3 * RECORD + 7)],
    ids=["one-byte", "a-record", "three-records-and-more"],
)  # fmt: skip
def test_bytes_after_the_final_chunk_are_refused(
    tmp_path: Path, key: SnapshotKey, garbage: bytes
) -> None:
    sealed = seal(tmp_path, os.urandom(4 * C), key)
    header, body = chunks(sealed)
    rewrite(sealed, header, body, garbage)
    with pytest.raises(SnapshotError, match="data after the final chunk 3"):
        opened(sealed, key)


def test_a_duplicated_final_chunk_is_refused(tmp_path: Path, key: SnapshotKey) -> None:
    sealed = seal(tmp_path, os.urandom(2 * C), key)
    header, body = chunks(sealed)
    rewrite(sealed, header, [*body, body[-1]])
    with pytest.raises(SnapshotError, match="corrupt"):
        opened(sealed, key)


@pytest.mark.parametrize("offset", [18, 30, 38, 45, 55])
def test_a_tampered_header_is_refused(tmp_path: Path, key: SnapshotKey, offset: int) -> None:
    # 18 key kind, 22..37 salt, 38..41 chunk size, 42..49 nonce prefix, 50..65 key check
    sealed = seal(tmp_path, os.urandom(2 * C), key)
    raw = bytearray(sealed.read_bytes())
    raw[offset] ^= 0x01
    sealed.write_bytes(bytes(raw))
    with pytest.raises(SnapshotError):
        opened(sealed, key)


def test_a_newer_format_version_asks_for_a_newer_etcdtui(tmp_path: Path, key: SnapshotKey) -> None:
    sealed = tmp_path / "future.enc"
    sealed.write_bytes(b"ETCDTUI-SNAP-ENC\x00\x02short")
    assert is_encrypted(sealed)
    with pytest.raises(SnapshotError, match="format version 2; this etcdtui reads version 1"):
        opened(sealed, key)


def test_decrypting_a_plain_file_says_it_is_not_encrypted(tmp_path: Path, key: SnapshotKey) -> None:
    plain = tmp_path / "plain.db"
    plain.write_bytes(b"bolt db" * 100)
    assert not is_encrypted(plain)
    with pytest.raises(SnapshotError, match="not an encrypted etcdtui snapshot"):
        opened(plain, key)


def test_raw_hex_and_base64_key_files_are_the_same_key(tmp_path: Path) -> None:
    secret = os.urandom(32)
    files = [
        private_key_file(tmp_path / "raw.key", secret),
        private_key_file(tmp_path / "hex.key", secret.hex().encode() + b"\n"),
        private_key_file(tmp_path / "b64.key", base64.b64encode(secret) + b"\n"),
    ]
    data = os.urandom(2 * C + 3)
    for i, sealer in enumerate(files):
        sealed = seal(tmp_path, data, SnapshotKey.from_file(sealer), f"{i}.enc")
        for opener in files:
            assert opened(sealed, SnapshotKey.from_file(opener)) == data


@pytest.mark.parametrize(
    "content",
    # Fixed bytes: parameters must be the same in every pytest-xdist worker.
    [bytes(range(31)), bytes(range(100, 133)), b"\n", b"z" * 64 + b"\n",
     base64.b64encode(bytes(range(7, 38)))],
    ids=["31-bytes", "33-bytes", "newline", "64-z", "base64-of-31"],
)  # fmt: skip
def test_a_key_file_of_the_wrong_size_is_refused(tmp_path: Path, content: bytes) -> None:
    path = private_key_file(tmp_path / "bad.key", content)
    with pytest.raises(UsageError, match="is not a snapshot key: expected 32 random bytes"):
        SnapshotKey.from_file(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = private_key_file(tmp_path / "open.key", os.urandom(32))
    path.chmod(mode)
    with pytest.raises(UsageError, match="open to group or others") as e:
        SnapshotKey.from_file(path)
    assert e.value.hint == f"chmod 600 {path}"


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(UsageError, match="passphrase is empty"):
        SnapshotKey.from_passphrase("")


def test_generate_key_file_makes_a_private_key_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "new.key"
    generate_key_file(path)
    first = path.read_bytes()
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(UsageError, match="already exists: refusing to overwrite"):
        generate_key_file(path)
    assert path.read_bytes() == first
    other = tmp_path / "other.key"
    generate_key_file(other)
    assert other.read_bytes() != first


def test_plaintext_of_an_unencrypted_file_is_the_file_itself(
    tmp_path: Path, key: SnapshotKey
) -> None:
    plain = tmp_path / "plain.db"
    plain.write_bytes(b"bolt")
    with plaintext(plain, key) as path:
        assert path == plain
    with plaintext(plain, None) as path:
        assert path == plain
    assert plain.read_bytes() == b"bolt"


def test_plaintext_is_private_and_removed_after_the_block(tmp_path: Path, key: SnapshotKey) -> None:
    data = os.urandom(5 * C)
    sealed = seal(tmp_path, data, key)
    with plaintext(sealed, key) as path:
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.exists()
    assert not path.parent.exists()
    assert is_encrypted(sealed)


def test_plaintext_is_removed_when_the_block_raises(tmp_path: Path, key: SnapshotKey) -> None:
    sealed = seal(tmp_path, os.urandom(C), key)
    with pytest.raises(RuntimeError, match="restore failed"), plaintext(sealed, key) as path:
        assert path.exists()
        raise RuntimeError("restore failed")
    assert not path.parent.exists()


def test_plaintext_without_the_key_leaves_no_directory_behind(
    tmp_path: Path, key: SnapshotKey
) -> None:
    sealed = seal(tmp_path, os.urandom(C), key)
    bases = [Path("/dev/shm"), Path(tempfile.gettempdir())]

    def leftovers() -> set[Path]:
        return {p for b in bases if b.is_dir() for p in b.glob("etcdtui-snapshot-*")}

    before = leftovers()
    with pytest.raises(SnapshotKeyError), plaintext(sealed, None):
        pytest.fail("the block must not run without the key")
    assert leftovers() <= before


def test_encrypt_file_refuses_an_encrypted_source(tmp_path: Path, key: SnapshotKey) -> None:
    sealed = seal(tmp_path, b"data", key)
    with pytest.raises(UsageError, match="already encrypted"):
        encrypt_file(sealed, tmp_path / "twice.enc", key)
    assert not (tmp_path / "twice.enc").exists()


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from etcdtui.snapshots.crypto import SnapshotKey, decrypt_file, encrypt_file

    def peak_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    src, enc, out, key_path = sys.argv[1:]
    key = SnapshotKey.from_file(key_path)
    before = peak_kib()
    t0 = time.perf_counter()
    encrypt_file(src, enc, key)
    t1 = time.perf_counter()
    with open(out, "wb") as f:
        decrypt_file(enc, key, f)
    t2 = time.perf_counter()
    print(json.dumps({"growth_kib": peak_kib() - before, "enc_s": t1 - t0, "dec_s": t2 - t1}))
    """
)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK_SIZE):
            h.update(block)
    return h.hexdigest()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_memory_stays_flat_for_a_200_megabyte_snapshot(tmp_path: Path, key_path: Path) -> None:
    src, enc, out = tmp_path / "plain.db", tmp_path / "snap.enc", tmp_path / "out.db"
    block = os.urandom(CHUNK_SIZE)
    with src.open("wb") as f:
        for i in range(200):
            f.write(i.to_bytes(4, "big") + block[4:])
    run = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(src), str(enc), str(out), str(key_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(run.stdout)
    assert result["growth_kib"] < 30 * 1024, result
    assert sha256(out) == sha256(src)
    mb = 200 * CHUNK_SIZE / 1e6
    print(f"encrypt {mb / result['enc_s']:.0f} MB/s, decrypt {mb / result['dec_s']:.0f} MB/s")


# -- key derivation to today's standard (issue 13) ---------------------------------------------

PASSPHRASE = "correct horse battery staple"
# Sealed with this passphrase by etcdtui before issue 13, with scrypt N=2**15, r=8, p=1 and
# 64-byte chunks (the bytes as they were written, not re-made with today's code).
SCRYPT15_FILE = base64.b64decode(
    "RVRDRFRVSS1TTkFQLUVOQwABAg8IAfS6CaEnPIZ52U+E+Me24SwAAABAgfeBbMZYAvBX8N3A+LUSFdczP+GzrHgv"
    "9PFaaUz4EiGPPk2CqZwGMGkIB46bYFxykRTElmhM5qqoAlMtpdRO/H/tL9vNdQ2W4nhvu/lfyJ05DGOB/Dxgvq3y"
    "yW48HpJlmwRWwzFOxNw/PlitP7z3R4ZU5Rwt2cF1BhexxJbM9m5tI6gRcjyGd/yfUsjdODSg1QWbYRrKXZg0Hrj0"
    "FCHcWAfaA+osjXbCkj3/y2jutknk6WpHA4rgeLNzjVM7ClTQCXXrULPhTlQID5JK+BM43g8QCTJhiNOVHPVi/vdx"
    "xQUc6TipAQaPx1zqHLWJjmv5dMLiJuT/nVABI9iq+Z5ZI1T3ajO1IO0/vOXqjhuIXfWFeGtjqv0xpXk7Iy15vR8N"
    "2wd7l8L6b35vMpv2VA=="
)
SCRYPT15_PLAIN = b"etcdtui snapshot sealed with scrypt N=2**15 by etcdtui before issue 13\n" * 3
SCRYPT_AT = slice(19, 22)  # log2(N), r, p in the header


def test_new_passphrase_files_use_scrypt_n_2_17_r_8_p_1(tmp_path: Path) -> None:
    sealed = seal(tmp_path, b"data", SnapshotKey.from_passphrase(PASSPHRASE))
    assert tuple(sealed.read_bytes()[SCRYPT_AT]) == (17, 8, 1)
    assert (sc.SCRYPT_LOG2_N, sc.SCRYPT_R, sc.SCRYPT_P) == (17, 8, 1)
    assert sc.scrypt_within_bounds(sc.SCRYPT_LOG2_N, sc.SCRYPT_R, sc.SCRYPT_P)
    assert opened(sealed, SnapshotKey.from_passphrase(PASSPHRASE)) == b"data"


def test_a_file_sealed_with_the_older_scrypt_cost_still_opens(tmp_path: Path) -> None:
    old = tmp_path / "old.enc"
    old.write_bytes(SCRYPT15_FILE)
    assert tuple(SCRYPT15_FILE[SCRYPT_AT]) == (15, 8, 1)
    assert opened(old, SnapshotKey.from_passphrase(PASSPHRASE)) == SCRYPT15_PLAIN
    with pytest.raises(SnapshotKeyError, match="wrong key or passphrase"):
        opened(old, SnapshotKey.from_passphrase("another passphrase"))


@pytest.mark.parametrize(
    ("log2_n", "r", "p"),
    [
        (21, 8, 1),  # N above 2**20
        (24, 1, 1),
        (20, 16, 1),  # 2 GiB of memory
        (17, 17, 1),  # r above 16
        (17, 8, 5),  # p above 4
        (20, 8, 2),  # 1 GiB of memory, but twice the work allowed
        (9, 8, 1),  # below any cost etcdtui ever wrote
        (17, 0, 1),
        (17, 8, 0),
        (255, 255, 255),
    ],
)
def test_header_scrypt_parameters_beyond_the_bound_are_refused_before_any_work(
    tmp_path: Path, log2_n: int, r: int, p: int
) -> None:
    raw = bytearray(SCRYPT15_FILE)
    raw[SCRYPT_AT] = bytes([log2_n, r, p])
    hostile = tmp_path / "hostile.enc"
    hostile.write_bytes(bytes(raw))
    sink = io.BytesIO()
    started = time.perf_counter()
    with pytest.raises(SnapshotError) as err:
        decrypt_file(hostile, SnapshotKey.from_passphrase(PASSPHRASE), sink)
    refused_in = time.perf_counter() - started
    started = time.perf_counter()
    hashlib.scrypt(PASSPHRASE.encode(), salt=b"s" * 16, n=2**15, r=8, p=1, maxmem=64 << 20)
    # Refused before any work: in less than half of one derivation at the file's own cost.
    assert refused_in < (time.perf_counter() - started) / 2
    message = str(err.value)
    assert f"N=2**{log2_n}, r={r}, p={p}" in message and "refused" in message
    assert "\n" not in message and sink.getvalue() == b""


@pytest.mark.parametrize(
    ("params", "within"),
    [
        ((20, 8, 1), True),  # exactly 1 GiB: the most a header may ask
        ((19, 16, 1), True),
        ((17, 16, 4), True),
        ((10, 1, 1), True),
        ((20, 8, 2), False),
        ((19, 16, 2), False),
        ((21, 1, 1), False),
    ],
)
def test_the_scrypt_bound_is_128_n_r_p_within_one_gibibyte(
    params: tuple[int, int, int], within: bool
) -> None:
    assert sc.scrypt_within_bounds(*params) is within
    log2_n, r, p = params
    assert sc.SCRYPT_MAX_WORK == 1 << 30
    if within:
        assert 128 * (1 << log2_n) * r * p <= sc.SCRYPT_MAX_WORK


OUT_OF_MEMORY_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, resource, sys
    from etcdtui.cli import main

    # Room for what is loaded now plus 64 MiB: scrypt at N=2**17, r=8 needs 128 MiB.
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            size = int(line.split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + (64 << 20), resource.RLIM_INFINITY))
    sys.exit(main(["snapshot", "status", sys.argv[1], "--passphrase"]))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc")
def test_out_of_memory_in_scrypt_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    sealed = seal(tmp_path, b"data", SnapshotKey.from_passphrase(PASSPHRASE))
    run = subprocess.run(
        [sys.executable, "-c", OUT_OF_MEMORY_SCRIPT, str(sealed)],
        capture_output=True,
        text=True,
        env={**os.environ, "ETCDTUI_PASSPHRASE": PASSPHRASE},
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1
    assert "not enough memory to derive the snapshot key" in run.stderr
    assert "N=2**17, r=8, p=1 needs 128 MiB" in run.stderr


def test_derive_time_at_the_default_cost(capsys: pytest.CaptureFixture[str]) -> None:
    key = SnapshotKey.from_passphrase(PASSPHRASE)
    started = time.perf_counter()
    Encryptor(key, io.BytesIO(), chunk_size=C).close()
    took = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nscrypt N=2**{sc.SCRYPT_LOG2_N}, r={sc.SCRYPT_R}: {took:.2f} s to derive a key")
    assert took < 10  # interactive use: even a loaded 2-core bastion stays within seconds
