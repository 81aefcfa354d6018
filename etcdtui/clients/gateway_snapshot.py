"""The gateway's snapshot stream, decoded as it arrives.

etcd's gRPC-JSON gateway answers ``/v3/maintenance/snapshot`` with one JSON object per line,
each carrying a piece of the database base64-encoded in ``result.blob`` (32 KiB a message).
`BlobDecoder` finds each blob in the bytes as they are read, whatever the read boundaries, and
decodes it straight from the received buffer: no line is assembled, no JSON string is made of
the blob, no response is held whole. The rest of each message (a few dozen bytes, the blob
left out) is still parsed as JSON, so an error message or an unexpected shape is reported
rather than skipped.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from etcdtui.errors import EtcdError, EtcdtuiError

if TYPE_CHECKING:
    from requests import Session

MARK = b'"blob":"'
# The JSON around a blob, or a message without one, is small: more means this is not etcd.
MAX_FRAME = 1 << 20
READ_SIZE = 1 << 20  # at most, per read; the gateway's HTTP chunks are one message each


class BlobDecoder:
    """Turns the gateway's snapshot messages, fed in pieces split anywhere, into the bytes of
    the snapshot (`feed`, then `finish` at the end of the response)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._frame = bytearray()  # this message outside its blob, which is kept as ""
        self._in_blob = False
        self._blob_seen = False  # in this message
        self._carry = b""  # base64 characters short of a group of four

    def feed(self, data: bytes) -> list[bytes]:
        """The snapshot bytes decoded from `data` (often one piece, sometimes none)."""
        out: list[bytes] = []
        view = memoryview(data)
        at, size = 0, len(data)
        while at < size:
            if self._in_blob:
                end = data.find(b'"', at)
                self._decode(view, at, size if end < 0 else end, out, last=end >= 0)
                if end < 0:
                    break
                self._in_blob, self._blob_seen = False, True
                self._frame += b'""'
                at = end + 1
                continue
            if not self._blob_seen:
                found = self._blob_start(data, at)
                if found >= 0:
                    self._in_blob = True
                    at = found
                    continue
            newline = data.find(b"\n", at)
            self._keep(view[at : size if newline < 0 else newline])
            if newline < 0:
                break
            self._end_message()
            at = newline + 1
        return out

    def finish(self) -> None:
        """The response ended: a last message without its newline counts; one cut inside
        its blob is left to the snapshot's trailer check, which reports the stream short."""
        if not self._in_blob:
            self._end_message()

    def _blob_start(self, data: bytes, at: int) -> int:
        """Where the blob starts in `data` (past the marker, which the frame keeps up to its
        colon), if the marker ends in `data` before the message's end; else -1."""
        frame = self._frame
        for have in range(min(len(MARK) - 1, len(frame)), 0, -1):
            if frame.endswith(MARK[:have]) and data.startswith(MARK[have:], at):
                frame += MARK[have:-1]
                return at + len(MARK) - have
        newline = data.find(b"\n", at)
        found = data.find(MARK, at, len(data) if newline < 0 else newline)
        if found < 0:
            return -1
        frame += data[at : found + len(MARK) - 1]
        return found + len(MARK)

    def _keep(self, part: memoryview) -> None:
        self._frame += part
        if len(self._frame) > MAX_FRAME:
            raise EtcdError(
                f"{self.source}: the snapshot response is not etcd's (a line over "
                f"{MAX_FRAME} bytes outside any blob)",
                endpoint=self.source,
            )

    def _decode(
        self, view: memoryview, start: int, stop: int, out: list[bytes], last: bool
    ) -> None:
        """Decode view[start:stop], a run of the blob, keeping a partial group for later."""
        try:
            if self._carry:
                take = min(4 - len(self._carry), stop - start)
                self._carry += view[start : start + take]
                start += take
                if len(self._carry) < 4 and not last:
                    return
                out.append(binascii.a2b_base64(self._carry))
                self._carry = b""
            whole = stop - start if last else (stop - start) & ~3
            if whole:
                out.append(binascii.a2b_base64(view[start : start + whole]))
            self._carry = bytes(view[start + whole : stop])
        except binascii.Error as exc:
            raise EtcdError(
                f"{self.source}: the snapshot stream's base64 is damaged: {exc}",
                endpoint=self.source,
            ) from None

    def _end_message(self) -> None:
        frame, blob_seen = bytes(self._frame).strip(), self._blob_seen
        self._frame.clear()
        self._blob_seen = False
        if not frame:
            return
        try:
            message: Any = json.loads(frame)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise EtcdError(f"{self.source}: the snapshot response is not etcd's: "
                            f"{frame[:120]!r}", endpoint=self.source)  # fmt: skip
        if "error" in message:
            error = message["error"]
            text = error.get("message") or error.get("error") if isinstance(error, dict) else ""
            raise EtcdError(f"{self.source}: snapshot failed: {text or error}",
                            endpoint=self.source)  # fmt: skip
        result = message.get("result")
        if blob_seen and not (isinstance(result, dict) and result.get("blob") == ""):
            raise EtcdError(f"{self.source}: the snapshot response is not etcd's: its blob "
                            "is not the result's", endpoint=self.source)  # fmt: skip


def snapshot_stream(
    session: Session,
    endpoint: str,
    timeouts: tuple[float, float],
    tls: dict[str, Any],
    failure: Callable[[BaseException], EtcdError],
) -> Iterator[bytes]:
    """The member's database as a snapshot stream (with etcd's sha256 trailer), read from
    its gateway over `session` with (connect, next-read) `timeouts` and the `tls` keywords
    (verify, cert) of a request; any other failure is told by `failure`."""
    decoder = BlobDecoder(endpoint)
    try:
        response = session.post(f"{endpoint}/v3/maintenance/snapshot", json={}, stream=True,
                                timeout=timeouts, **tls)  # fmt: skip
        with response:
            response.raise_for_status()
            for piece in response.iter_content(READ_SIZE):
                yield from decoder.feed(piece)
            decoder.finish()
    except EtcdtuiError:
        raise
    except Exception as exc:
        raise failure(exc) from None
