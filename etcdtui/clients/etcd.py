"""Talking to one etcd endpoint: the EtcdClient interface and its gateway implementation.

etcd3-py speaks to etcd's gRPC-JSON gateway over HTTP(S). Its 2019 response models drop newer
fields (dbSizeInUse, raftAppliedIndex, isLearner, errors), so every read here goes through
``call_rpc(..., raw=True)`` and parses the gateway JSON itself.
"""

from __future__ import annotations

import base64
import functools
import json
import sys
import time
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from etcdtui.config import TlsFiles
from etcdtui.errors import EtcdError, EtcdTimeout, EtcdTLSError, EtcdtuiError
from etcdtui.models import Alarm, Member, MemberStatus

if TYPE_CHECKING:
    from requests.adapters import HTTPAdapter

_HEALTH_KEY = base64.b64encode(b"health").decode()


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

    # Maintenance, for the runbooks. Each call has its own timeout (a defrag takes long).
    def defragment(self, timeout: float) -> None: ...

    def compact(self, revision: int, timeout: float) -> None: ...

    def disarm_alarm(self, member_id: int, alarm: str) -> None: ...

    def move_leader(self, target_id: int, timeout: float) -> None: ...

    def key_count(self) -> int: ...

    # Membership, for the replace-member and add-member runbooks.
    def member_add(self, name: str, peer_urls: tuple[str, ...], is_learner: bool) -> Member:
        """Add a member (a learner when asked); the result carries its new ID."""
        ...

    def member_remove(self, member_id: int) -> None: ...

    def member_promote(self, member_id: int) -> None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def close(self) -> None: ...


def _int(value: Any) -> int:
    # The gateway renders int64/uint64 as JSON strings, and omits zero values.
    return int(value) if value not in (None, "") else 0


def parse_status(endpoint: str, data: dict[str, Any]) -> MemberStatus:
    header = data.get("header", {})
    return MemberStatus(
        endpoint=endpoint,
        member_id=_int(header.get("member_id")),
        version=str(data.get("version", "")),
        db_size=_int(data.get("dbSize")),
        db_size_in_use=_int(data.get("dbSizeInUse")),
        leader_id=_int(data.get("leader")),
        raft_term=_int(data.get("raftTerm")),
        raft_index=_int(data.get("raftIndex")),
        applied_index=_int(data.get("raftAppliedIndex")),
        is_learner=bool(data.get("isLearner", False)),
        errors=tuple(str(e) for e in data.get("errors", ()) or ()),
        revision=_int(header.get("revision")),
    )


def parse_members(data: dict[str, Any]) -> tuple[Member, ...]:
    return tuple(
        Member(
            id=_int(m.get("ID")),
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
        Alarm(member_id=_int(a.get("memberID")), kind=str(a.get("alarm", "NONE")))
        for a in data.get("alarms", ()) or ()
        if a.get("alarm", "NONE") != "NONE"
    )


def describe_failure(
    exc: BaseException, endpoint: str, timeout: float, client_cert: bool = False
) -> EtcdError:
    """Turn a requests/etcd3/socket failure into one line a person can act on."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return EtcdTimeout(f"{endpoint}: timed out after {timeout:.1f} s", endpoint=endpoint)
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            detail = text.split("certificate verify failed:")[-1].split("(")[0].strip(" )'\"")
            reason = "certificate verify failed" + (f": {detail}" if detail else "")
            return EtcdTLSError(f"{endpoint}: {reason}", hint="check --cacert", endpoint=endpoint)
        if any(k in text for k in ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA")):
            if not client_cert:
                return EtcdTLSError(
                    f"{endpoint}: the server requires a client certificate",
                    hint="give --cert and --key",
                    endpoint=endpoint,
                )
            return EtcdTLSError(
                f"{endpoint}: the server rejected the client certificate",
                hint="is it signed by the CA etcd trusts?",
                endpoint=endpoint,
            )
        if "EOF occurred in violation of protocol" in text and not client_cert:
            # etcd 3.4 hangs up instead of sending an alert when a client certificate is missing.
            return EtcdTLSError(
                f"{endpoint}: the server closed the TLS handshake: it may require a client "
                "certificate",
                hint="give --cert and --key",
                endpoint=endpoint,
            )
        if "WRONG_VERSION_NUMBER" in text:
            return EtcdTLSError(
                f"{endpoint}: TLS handshake failed: the endpoint does not speak TLS",
                hint="use http://",
                endpoint=endpoint,
            )
        return EtcdTLSError(f"{endpoint}: TLS handshake failed", endpoint=endpoint)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "Connection refused" in text:
            return EtcdError(f"{endpoint}: connection refused", endpoint=endpoint)
        if "Name or service not known" in text or "nodename nor servname" in text:
            return EtcdError(f"{endpoint}: unknown host name", endpoint=endpoint)
        if "RemoteDisconnected" in text or "Connection aborted" in text:
            return EtcdError(
                f"{endpoint}: connection closed by the server",
                hint="does it expect https?",
                endpoint=endpoint,
            )
        if "No route to host" in text or "Network is unreachable" in text:
            return EtcdError(f"{endpoint}: no route to host", endpoint=endpoint)
        return EtcdError(f"{endpoint}: cannot connect", endpoint=endpoint)
    message = getattr(exc, "error", None) or text or type(exc).__name__
    return EtcdError(f"{endpoint}: {message}", endpoint=endpoint)


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
            raise describe_failure(exc, self.endpoint, timeout, bool(self._cert)) from None
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
        try:
            response = self._client._session.get(f"{self.endpoint}/metrics", timeout=self.timeout)
            response.raise_for_status()
            text: str = response.text
        except EtcdtuiError:
            raise
        except Exception as exc:
            raise describe_failure(exc, self.endpoint, self.timeout, bool(self._cert)) from None
        return text

    def defragment(self, timeout: float) -> None:
        self._rpc("/maintenance/defragment", {}, timeout)

    def snapshot_chunks(self, timeout: float) -> Iterator[bytes]:
        """The member's database as a snapshot stream (with etcd's sha256 trailer).

        `timeout` bounds each wait for the next chunk, not the whole stream. The gateway
        sends one JSON object per line with the chunk base64-encoded: about half the speed
        of the gRPC stream etcdctl reads, so etcdctl is preferred where it is installed.
        """
        url = f"{self.endpoint}/v3/maintenance/snapshot"
        try:
            response = self._client._session.post(
                url, json={}, stream=True, timeout=(self.timeout, timeout), verify=self._verify,
                cert=self._cert or None,
            )  # fmt: skip
            response.raise_for_status()
            for line in response.iter_lines(chunk_size=256 * 1024):
                if not line:
                    continue
                message = json.loads(line)
                if "error" in message:
                    error = message["error"]
                    text = error.get("message") or error.get("error") or str(error)
                    raise EtcdError(f"{self.endpoint}: snapshot failed: {text}",
                                    endpoint=self.endpoint)  # fmt: skip
                blob = message.get("result", {}).get("blob")
                if blob:
                    yield base64.b64decode(blob)
        except EtcdtuiError:
            raise
        except Exception as exc:
            raise describe_failure(exc, self.endpoint, timeout, bool(self._cert)) from None

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
        everything = base64.b64encode(b"\0").decode()  # key "\0" .. range_end "\0": all keys
        data = self._rpc(
            "/kv/range", {"key": everything, "range_end": everything, "count_only": True}
        )
        return _int(data.get("count"))

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

    def close(self) -> None:
        self._client.close()


@functools.cache
def _quiet_client_class() -> type[Any]:
    # etcd3-py costs ~0.45 s to import, half of it aiohttp for its asyncio client, which
    # etcdtui never uses: a stand-in for that one module keeps aiohttp out (it is imported
    # nowhere else in etcd3-py). Only commands that talk to etcd import etcd3-py at all.
    if "etcd3" not in sys.modules:
        stand_in = types.ModuleType("etcd3.aio_client")
        stand_in.AioClient = None  # type: ignore[attr-defined]
        sys.modules.setdefault("etcd3.aio_client", stand_in)
    import etcd3
    import semantic_version

    class QuietClient(etcd3.Client):  # type: ignore[misc]
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
