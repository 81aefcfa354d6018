"""GatewayClient: the EtcdClient over etcd's gRPC-JSON gateway (HTTP(S)), etcd3-py underneath.

etcd3-py speaks to etcd's gRPC-JSON gateway over HTTP(S). Its 2019 response models drop newer
fields (dbSizeInUse, raftAppliedIndex, isLearner, errors), so every read here goes through
``call_rpc(..., raw=True)`` and parses the gateway JSON itself (etcd_api.py).
"""

from __future__ import annotations

import base64
import functools
import shutil
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from etcdtui.clients.etcd_api import (
    HASHKV_TIMEOUT,
    LEASE_GONE,
    RESERVED_PREFIX,
    KeyCount,
    KvHash,
    NoGatewayHashKV,
    as_int,
    b64,
    parse_added,
    parse_alarms,
    parse_hashkv,
    parse_key_count,
    parse_members,
    parse_status,
    prefix_end,
)
from etcdtui.clients.etcd_failures import describe_failure
from etcdtui.clients.range_read import PAGE_TIMEOUT, RangePage, parse_range_page, range_body
from etcdtui.config import TlsFiles
from etcdtui.errors import EtcdError, EtcdtuiError
from etcdtui.models import Alarm, Member, MemberStatus

if TYPE_CHECKING:
    from requests.adapters import HTTPAdapter


_HEALTH_KEY = base64.b64encode(b"health").decode()
_IDENTITY = {"Accept-Encoding": "identity"}


class GatewayClient:
    """EtcdClient over the gRPC-JSON gateway, etcd3-py underneath; one per endpoint, reused.

    `adapter` replaces how connections are made (an SSH tunnel: clients/tunnel.py); the URL,
    and so the TLS host-name check, stay the endpoint's own.
    """

    def __init__(
        self,
        endpoint: str,
        tls: TlsFiles | None = None,
        timeout: float = 2.0,
        adapter: HTTPAdapter | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        parts = urlsplit(endpoint)
        host = parts.hostname or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        tls = tls or TlsFiles()
        cert = (tls.cert, tls.key) if tls.cert and tls.key else ()
        # etcd3-py turns verify=None into "don't verify": be explicit.
        verify: str | bool = tls.cacert or True
        self._client = _quiet_client_class()(
            host=host,
            port=parts.port or 2379,
            protocol=parts.scheme or "http",
            cert=cert,
            verify=verify,
            timeout=timeout,
        )
        # requests lets REQUESTS_CA_BUNDLE (and proxy variables) override a session's own
        # `verify`: the CA given for etcd must be the one used, and etcd traffic must not be
        # sent through a web proxy.
        self._client._session.trust_env = False
        if adapter is not None:
            self._client._session.mount("http://", adapter)
            self._client._session.mount("https://", adapter)
        self._verify = verify
        self._cert = cert
        self._tls = tls
        self._tunnelled = adapter is not None
        self._cert_file = tls.cert or ""  # named when a handshake fails on its dates

    def _failure(self, exc: BaseException, timeout: float) -> EtcdError:
        return describe_failure(exc, self.endpoint, timeout, bool(self._cert), self._cert_file)

    def _rpc(self, path: str, data: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        timeout = timeout or self.timeout
        try:
            # encode=False: requests are built gateway-ready here; etcd3-py's swagger encoding
            # costs more than the HTTP round trip on loopback.
            response = self._client.call_rpc(
                path, data=data, encode=False, raw=True, timeout=timeout, verify=self._verify
            )
            result: dict[str, Any] = response.json()
        except EtcdtuiError:
            raise  # already one line (an SSH tunnel that could not open, say)
        except Exception as exc:
            raise describe_failure(
                exc, self.endpoint, timeout, bool(self._cert), self._cert_file
            ) from None
        return result

    def status(self) -> MemberStatus:
        return parse_status(self.endpoint, self._rpc("/maintenance/status", {}))

    def member_list(self) -> tuple[Member, ...]:
        return parse_members(self._rpc("/cluster/member/list", {}))

    def alarms(self) -> tuple[Alarm, ...]:
        return parse_alarms(self._rpc("/maintenance/alarm", {"action": "GET"}))

    def linearizable_read(self) -> float:
        started = time.perf_counter()
        self._rpc("/kv/range", {"key": _HEALTH_KEY, "limit": 1})
        return time.perf_counter() - started

    def metrics_text(self) -> str:
        return self._get_text("/metrics")

    def version_text(self) -> str:
        return self._get_text("/version")

    def _get_text(self, path: str) -> str:
        """A plain GET of one of etcd's HTTP paths (/metrics, /version), with the timeout.

        requests asks for gzip, and etcd gzips its 160 kB of /metrics for it: CPU on the member
        and here for bytes a direct route carries anyway. Only a tunnel (over SSH, maybe a slow
        link) still asks for it."""
        headers = None if self._tunnelled else _IDENTITY
        try:
            response = self._client._session.get(
                f"{self.endpoint}{path}", timeout=self.timeout, headers=headers
            )
            response.raise_for_status()
            text: str = response.text
        except EtcdtuiError:
            raise
        except Exception as exc:
            raise describe_failure(
                exc, self.endpoint, self.timeout, bool(self._cert), self._cert_file
            ) from None
        return text

    def defragment(self, timeout: float) -> None:
        self._rpc("/maintenance/defragment", {}, timeout)

    def snapshot_chunks(self, timeout: float) -> Iterator[bytes]:
        """The member's database as a snapshot stream (with etcd's sha256 trailer).

        `timeout` bounds each wait for the next chunk, not the whole stream. The gateway
        sends one JSON object per line with the chunk base64-encoded: about half the speed
        of the gRPC stream etcdctl reads, so etcdctl is preferred where it is installed.
        The messages are decoded as they arrive (clients/gateway_snapshot.py).
        """
        from etcdtui.clients.gateway_snapshot import snapshot_stream

        return snapshot_stream(self._client._session, self.endpoint, (self.timeout, timeout),
                               {"verify": self._verify, "cert": self._cert or None},
                               lambda exc: self._failure(exc, timeout))  # fmt: skip

    def compact(self, revision: int, timeout: float) -> None:
        # physical: return only once the compaction is applied to the backend, as
        # `etcdctl compact --physical` does, so a defrag right after it reclaims the space.
        self._rpc("/kv/compaction", {"revision": str(revision), "physical": True}, timeout)

    def disarm_alarm(self, member_id: int, alarm: str) -> None:
        data = {"action": "DEACTIVATE", "memberID": str(member_id), "alarm": alarm}
        self._rpc("/maintenance/alarm", data)

    def move_leader(self, target_id: int, timeout: float) -> None:
        self._rpc("/maintenance/transfer-leadership", {"targetID": str(target_id)}, timeout)

    def key_count(self) -> int:
        """Every key but etcdtui's own (under RESERVED_PREFIX: a run's lock), so counts
        before and after a run compare what the cluster's users wrote."""
        everything = base64.b64encode(b"\0").decode()  # key "\0" .. range_end "\0": all keys
        data = self._rpc(
            "/kv/range", {"key": everything, "range_end": everything, "count_only": True}
        )
        ours = self._rpc(
            "/kv/range",
            {"key": b64(RESERVED_PREFIX), "range_end": b64(prefix_end(RESERVED_PREFIX)),
             "count_only": True},
        )  # fmt: skip
        return as_int(data.get("count")) - as_int(ours.get("count"))

    def hashkv(self, revision: int, timeout: float = HASHKV_TIMEOUT) -> KvHash:
        """HashKV at `revision` through the gateway (etcd 3.5.5 and later serve it there).

        Older etcd answers 404 on /v3/maintenance/hashkv: a member reached directly is then
        asked by etcdctl on this machine, over gRPC, with the same TLS files; a tunnelled one
        raises NoGatewayHashKV, and its route asks etcdctl on its node (clients/via_ssh.py).
        """
        try:
            data = self._rpc("/maintenance/hashkv", {"revision": str(revision)}, timeout)
        except EtcdError as exc:
            if not exc.message.endswith("Not Found"):
                raise
            etcdctl = None if self._tunnelled else shutil.which("etcdctl")
            if etcdctl is None:
                raise NoGatewayHashKV(
                    f"{self.endpoint}: its gRPC-JSON gateway does not serve HashKV "
                    "(etcd before 3.5.5)",
                    hint="install etcdctl on this machine: HashKV is then asked over gRPC",
                    endpoint=self.endpoint,
                ) from None
            from etcdtui.clients.local_shell import etcdctl_here

            here = etcdctl_here(self.endpoint, etcdctl, self._tls, self.timeout)
            return here.hashkv(revision, timeout)
        return parse_hashkv(self.endpoint, data)

    def serializable_count(self) -> KeyCount:
        everything = b64(b"\0")
        data = self._rpc(
            "/kv/range",
            {"key": everything, "range_end": everything, "count_only": True, "serializable": True},
        )
        return parse_key_count(data)

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
        body = range_body(start, end, limit=limit, keys_only=keys_only, revision=revision)
        return parse_range_page(self._rpc("/kv/range", body, timeout), keys_only)

    def member_add(self, name: str, peer_urls: tuple[str, ...], is_learner: bool) -> Member:
        # The API takes no name: the member gets it when it starts (`name` is for etcdctl).
        data = self._rpc(
            "/cluster/member/add", {"peerURLs": list(peer_urls), "isLearner": is_learner}
        )
        return parse_added(data)

    def member_remove(self, member_id: int) -> None:
        self._rpc("/cluster/member/remove", {"ID": str(member_id)})

    def member_promote(self, member_id: int) -> None:
        self._rpc("/cluster/member/promote", {"ID": str(member_id)})

    def put(self, key: bytes, value: bytes) -> None:
        data = {"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()}
        self._rpc("/kv/put", data)

    def delete(self, key: bytes) -> None:
        self._rpc("/kv/deleterange", {"key": base64.b64encode(key).decode()})

    def get(self, key: bytes) -> bytes | None:
        kvs = self._rpc("/kv/range", {"key": b64(key)}).get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def lease_grant(self, ttl: int) -> int:
        return as_int(self._rpc("/lease/grant", {"TTL": str(ttl)}).get("ID"))

    def lease_keepalive(self, lease_id: int) -> int:
        # A streaming RPC: the gateway answers one request body with one {"result": ...}.
        try:
            data = self._rpc("/lease/keepalive", {"ID": str(lease_id)})
        except EtcdError as exc:
            if LEASE_GONE in exc.message:
                return 0
            raise
        return as_int((data.get("result") or data).get("TTL"))

    def lease_revoke(self, lease_id: int) -> None:
        self._rpc("/lease/revoke", {"ID": str(lease_id)})

    def put_if_absent(self, key: bytes, value: bytes, lease_id: int) -> bytes | None:
        encoded = b64(key)
        data = self._rpc(
            "/kv/txn",
            {
                "compare": [{"key": encoded, "target": "CREATE", "result": "EQUAL",
                             "create_revision": "0"}],
                "success": [{"request_put": {"key": encoded, "value": b64(value),
                                             "lease": str(lease_id)}}],
                "failure": [{"request_range": {"key": encoded}}],
            },
        )  # fmt: skip
        if data.get("succeeded"):
            return None
        for response in data.get("responses") or []:
            kvs = (response.get("response_range") or {}).get("kvs") or []
            if kvs:
                return base64.b64decode(kvs[0].get("value", ""))
        return b""  # it existed, and was gone again when read: held a moment ago

    def close(self) -> None:
        self._client.close()


@functools.cache
def _quiet_client_class() -> type[Any]:
    # Only commands that talk to etcd import etcd3-py at all, and only its synchronous client
    # (etcd3_client.py: not its asyncio client, aiohttp, nor its stateful helpers).
    from etcdtui.clients.etcd3_client import client_class

    base = client_class()
    # Only now: client_class() registers semantic_version without its __init__ (which looks
    # its own version up among the installed packages); an import before it ran that.
    import semantic_version

    class QuietClient(base):  # type: ignore[misc,valid-type]
        """etcd3-py's Client without its blocking version probe in the constructor.

        The probe makes an HTTP call (0.3 s timeout) when the client is built and warns on
        failure; etcdtui builds clients before it knows which members answer. The gateway
        paths are the same (/v3/...) for every etcd etcdtui supports (3.4+).
        """

        def _retrieve_version(self) -> None:
            self.server_version = self.cluster_version = "3.4.0"
            self.server_version_sem = semantic_version.Version("3.4.0")
            self.cluster_version_sem = semantic_version.Version("3.4.0")

    return QuietClient
