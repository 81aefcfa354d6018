"""One page of a range read, as every EtcdClient answers `range_page`.

A page is at most `limit` keys of [start, end) in key order, read serializably (the member
answers from its own store, so a follower serves it without asking the leader) at a given
revision. The gateway and `etcdctl -w json` answer with the same JSON shape (keys and values
base64-encoded); `parse_range_page` reads either.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from etcdtui.clients.etcd_api import as_int, b64

# A page of a big keyspace takes longer than a status read: etcd counts the whole range to
# answer it, and encodes every key of the page.
PAGE_TIMEOUT = 30.0


@dataclass(frozen=True)
class RangePage:
    """One page of a range read: its keys (and their value sizes, unless keys only)."""

    revision: int
    keys: list[bytes]
    value_sizes: list[int] | None  # None for a keys-only page
    more: bool


def range_body(
    start: bytes, end: bytes, *, limit: int, keys_only: bool, revision: int
) -> dict[str, Any]:
    """The gateway's JSON RangeRequest for one serializable page."""
    body: dict[str, Any] = {
        "key": b64(start),
        "range_end": b64(end),
        "limit": str(limit),
        "serializable": True,
        "keys_only": keys_only,
    }
    if revision:
        body["revision"] = str(revision)
    return body


def parse_range_page(data: dict[str, Any], keys_only: bool) -> RangePage:
    """A RangeResponse (gateway or etcdctl JSON) as a RangePage."""
    kvs = data.get("kvs") or ()
    decode = base64.b64decode
    keys = [decode(kv.get("key", "")) for kv in kvs]
    sizes = None
    if not keys_only:
        # base64 of n bytes is 4 * ceil(n / 3) characters, less one per "=" of padding.
        sizes = [_decoded_size(kv.get("value", "")) for kv in kvs]
    revision = as_int((data.get("header") or {}).get("revision"))
    return RangePage(revision, keys, sizes, bool(data.get("more")))


def _decoded_size(text: str) -> int:
    """The length of what the base64 `text` decodes to, without decoding it."""
    return len(text) // 4 * 3 - text[-2:].count("=") if text else 0
