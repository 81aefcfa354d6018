"""Talking to one etcd endpoint: the EtcdClient interface the rest of etcdtui depends on.

Its implementations are GatewayClient (gateway.py: etcd's gRPC-JSON gateway, through etcd3-py)
and EtcdctlClient (etcdctl.py: etcdctl on a node, over SSH). What both share about etcd's API
is in etcd_api.py; how a failure to reach a member is told, in etcd_failures.py. The names this
module has always offered are re-exported from there.
"""

from __future__ import annotations

from typing import Protocol

from etcdtui.clients.etcd_api import HASHKV_TIMEOUT, KeyCount, KvHash
from etcdtui.clients.etcd_api import LEASE_GONE as LEASE_GONE
from etcdtui.clients.etcd_api import RESERVED_PREFIX as RESERVED_PREFIX
from etcdtui.clients.etcd_api import parse_added as parse_added
from etcdtui.clients.etcd_api import parse_alarms as parse_alarms
from etcdtui.clients.etcd_api import parse_members as parse_members
from etcdtui.clients.etcd_api import parse_status as parse_status
from etcdtui.clients.etcd_api import prefix_end as prefix_end
from etcdtui.clients.etcd_failures import client_cert_problem as client_cert_problem
from etcdtui.clients.etcd_failures import describe_failure as describe_failure
from etcdtui.clients.etcd_failures import explain_client_cert as explain_client_cert
from etcdtui.clients.gateway import GatewayClient as GatewayClient
from etcdtui.clients.range_read import PAGE_TIMEOUT, RangePage
from etcdtui.models import Alarm, Member, MemberStatus


class EtcdClient(Protocol):
    """What the rest of etcdtui needs from one etcd endpoint. Every call has a timeout."""

    endpoint: str
    timeout: float

    def status(self) -> MemberStatus: ...

    def member_list(self) -> tuple[Member, ...]: ...

    def alarms(self) -> tuple[Alarm, ...]: ...

    def linearizable_read(self) -> float:
        """A linearizable read of the key "health", as `etcdctl endpoint health`; seconds."""
        ...

    def metrics_text(self) -> str: ...

    def version_text(self) -> str:
        """The member's /version as etcd sends it (JSON: "etcdserver", the member's own
        version, and "etcdcluster", the cluster version)."""
        ...

    # Maintenance, for the runbooks. Each call has its own timeout (a defrag takes long).
    def defragment(self, timeout: float) -> None: ...

    def compact(self, revision: int, timeout: float) -> None: ...

    def disarm_alarm(self, member_id: int, alarm: str) -> None: ...

    def move_leader(self, target_id: int, timeout: float) -> None: ...

    def key_count(self) -> int: ...

    # Consistency, for `etcdtui check`.
    def hashkv(self, revision: int, timeout: float = HASHKV_TIMEOUT) -> KvHash:
        """The hash of the member's keyspace up to `revision` (0: its current one).

        It reads every key's every revision, so its timeout is minutes, not a status read's.
        """
        ...

    def serializable_count(self) -> KeyCount:
        """Every key the member holds (etcdtui's own included), read from its own copy
        without asking the leader, and the revision that copy is at."""
        ...

    # Paged reads, for `etcdtui keyspace`.
    def range_page(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int,
        keys_only: bool,
        revision: int = 0,
        timeout: float = PAGE_TIMEOUT,
    ) -> RangePage:
        """At most `limit` keys of [start, end) in key order (`end` b"\\0": every key from
        `start`), with their value sizes unless `keys_only`. Read serializably, from the
        member's own copy, at `revision` (0: the member's newest)."""
        ...

    # Membership, for the replace-member and add-member runbooks.
    def member_add(self, name: str, peer_urls: tuple[str, ...], is_learner: bool) -> Member:
        """Add a member (a learner when asked); the result carries its new ID."""
        ...

    def member_remove(self, member_id: int) -> None: ...

    def member_promote(self, member_id: int) -> None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    # Leases and a create-if-absent write: the runbooks' cluster lock.
    def get(self, key: bytes) -> bytes | None: ...

    def lease_grant(self, ttl: int) -> int: ...

    def lease_keepalive(self, lease_id: int) -> int:
        """Renew a lease once; its remaining TTL in seconds (0: it has expired)."""
        ...

    def lease_revoke(self, lease_id: int) -> None: ...

    def put_if_absent(self, key: bytes, value: bytes, lease_id: int) -> bytes | None:
        """Create `key` attached to the lease unless it exists: None when created, else the
        value it holds (one transaction: two callers never both create it)."""
        ...

    def close(self) -> None: ...
