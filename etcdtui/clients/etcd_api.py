"""What both EtcdClient implementations share about etcd's v3 API.

Its JSON answers read the same whether they come from the gRPC-JSON gateway (GatewayClient) or
from `etcdctl -w json` (EtcdctlClient): the parsers here turn them into models. Also here: how
keys are encoded, the key range etcdtui keeps for itself, and etcd's words for a gone lease.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from etcdtui.errors import EtcdError
from etcdtui.models import Alarm, Member, MemberStatus

# etcdtui's own keys (a run's lock): not the cluster users' data, so not in key counts.
RESERVED_PREFIX = b"/etcdtui/"
LEASE_GONE = "requested lease not found"  # etcd's word for an expired or revoked lease


def b64(data: bytes) -> str:
    """A key or value as the JSON API takes it."""
    return base64.b64encode(data).decode()


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with `prefix` (as etcdctl --prefix)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def as_int(value: Any) -> int:
    """An integer field of an answer."""
    # The gateway renders int64/uint64 as JSON strings, and omits zero values.
    return int(value) if value not in (None, "") else 0


def parse_status(endpoint: str, data: dict[str, Any]) -> MemberStatus:
    header = data.get("header", {})
    return MemberStatus(
        endpoint=endpoint,
        member_id=as_int(header.get("member_id")),
        version=str(data.get("version", "")),
        db_size=as_int(data.get("dbSize")),
        db_size_in_use=as_int(data.get("dbSizeInUse")),
        leader_id=as_int(data.get("leader")),
        raft_term=as_int(data.get("raftTerm")),
        raft_index=as_int(data.get("raftIndex")),
        applied_index=as_int(data.get("raftAppliedIndex")),
        is_learner=bool(data.get("isLearner", False)),
        errors=tuple(str(e) for e in data.get("errors", ()) or ()),
        revision=as_int(header.get("revision")),
    )


def parse_members(data: dict[str, Any]) -> tuple[Member, ...]:
    return tuple(
        Member(
            id=as_int(m.get("ID")),
            name=str(m.get("name", "")),
            peer_urls=tuple(m.get("peerURLs", ()) or ()),
            client_urls=tuple(m.get("clientURLs", ()) or ()),
            is_learner=bool(m.get("isLearner", False)),
        )
        for m in data.get("members", ()) or ()
    )


def parse_added(data: dict[str, Any]) -> Member:
    """The member a MemberAdd response describes (gateway and etcdctl JSON alike)."""
    members = parse_members({"members": [data.get("member") or {}]})
    return members[0]


def parse_alarms(data: dict[str, Any]) -> tuple[Alarm, ...]:
    return tuple(
        Alarm(member_id=as_int(a.get("memberID")), kind=str(a.get("alarm", "NONE")))
        for a in data.get("alarms", ()) or ()
        if a.get("alarm", "NONE") != "NONE"
    )


# HashKV reads every revision of every key in the member's backend: seconds per GB on a good
# disk, so it gets far longer than a status read's timeout (2 s by default).
HASHKV_TIMEOUT = 120.0


@dataclass(frozen=True)
class KvHash:
    """One member's HashKV answer: the hash of its keyspace up to `revision` (0: its current
    one), the revision it was compacted to (-1: never), and its revision when it answered."""

    endpoint: str
    member_id: int
    hash: int
    compact_revision: int
    header_revision: int


@dataclass(frozen=True)
class KeyCount:
    """How many keys a member holds, read serializably (its own copy), at its `revision`."""

    revision: int
    count: int


class NoGatewayHashKV(EtcdError):
    """The member's gRPC-JSON gateway does not serve HashKV.

    etcd before 3.5.5 maps HashKV to the same gateway path as Hash (/v3/maintenance/hash),
    and the gateway serves Hash there: HashKV is then reachable only over gRPC (etcdctl).
    """


def parse_hashkv(endpoint: str, data: dict[str, Any]) -> KvHash:
    """A HashKVResponse (gateway or etcdctl JSON) as a KvHash."""
    header = data.get("header", {}) or {}
    compact = data.get("compact_revision")
    return KvHash(
        endpoint=endpoint,
        member_id=as_int(header.get("member_id")),
        hash=as_int(data.get("hash")),
        # Both omit a zero; "never compacted" is -1, which they do print.
        compact_revision=as_int(compact),
        header_revision=as_int(header.get("revision")),
    )


def parse_key_count(data: dict[str, Any]) -> KeyCount:
    """A RangeResponse's revision and count (count_only, or limit=1: count is the range's)."""
    header = data.get("header", {}) or {}
    return KeyCount(as_int(header.get("revision")), as_int(data.get("count")))
