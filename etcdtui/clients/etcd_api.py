"""What both EtcdClient implementations share about etcd's v3 API.

Its JSON answers read the same whether they come from the gRPC-JSON gateway (GatewayClient) or
from `etcdctl -w json` (EtcdctlClient): the parsers here turn them into models. Also here: how
keys are encoded, the key range etcdtui keeps for itself, and etcd's words for a gone lease.
"""

from __future__ import annotations

import base64
from typing import Any

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
