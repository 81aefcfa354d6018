"""Talking to one etcd endpoint: the EtcdClient interface and its gateway implementation.

etcd3-py speaks to etcd's gRPC-JSON gateway over HTTP(S). Its 2019 response models drop newer
fields (dbSizeInUse, raftAppliedIndex, isLearner, errors), so every read here goes through
``call_rpc(..., raw=True)`` and parses the gateway JSON itself.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import os
import socket
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
# etcdtui's own keys (a run's lock): not the cluster users' data, so not in key counts.
RESERVED_PREFIX = b"/etcdtui/"
LEASE_GONE = "requested lease not found"  # etcd's word for an expired or revoked lease


def _b64(data: bytes) -> str:
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


# Said of a failed TLS handshake when the member's own certificate is the one refused.
_SERVER_CERT_REFUSED = "certificate verify failed"
_PROBE_TIMEOUT = 1.0  # at most, for each of the connect and the answer of a failure's probe


def client_cert_problem(cert_file: str, now: datetime.datetime | None = None) -> str:
    """Why the client certificate in `cert_file` is refused on its dates alone: "" when they
    are fine, or when the file cannot be read (the handshake's own error says the rest)."""
    from cryptography import x509

    try:
        with open(os.path.expanduser(cert_file), "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read(1024 * 1024))
    except (OSError, ValueError):
        return ""
    now = now or datetime.datetime.now(datetime.UTC)
    if now > cert.not_valid_after_utc:
        return f"the client certificate {cert_file} expired on {_day(cert.not_valid_after_utc)}"
    if now < cert.not_valid_before_utc:
        return (
            f"the client certificate {cert_file} is not valid until "
            f"{_day(cert.not_valid_before_utc)}"
        )
    return ""


def _day(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def explain_client_cert(error: EtcdError, cert_file: str) -> EtcdError:
    """`error` told again when the client certificate's dates explain a failed TLS handshake
    (etcd answers an expired certificate with a bare "bad certificate", or, in 3.4, hangs up)."""
    if not cert_file or not isinstance(error, EtcdTLSError):
        return error
    if _SERVER_CERT_REFUSED in error.message:
        return error  # the member's certificate was refused, not ours
    problem = client_cert_problem(cert_file)
    if not problem:
        return error
    hint = "renew it" if "expired" in problem else "check this machine's clock, or reissue it"
    return EtcdTLSError(
        f"{error.endpoint}: TLS handshake failed: {problem}", hint=hint, endpoint=error.endpoint
    )


def describe_failure(
    exc: BaseException,
    endpoint: str,
    timeout: float,
    client_cert: bool = False,
    cert_file: str = "",
) -> EtcdError:
    """Turn a requests/etcd3/socket failure into one line a person can act on.

    `cert_file` (the client certificate, when one is given) lets a refused handshake say
    that the certificate expired or is not valid yet. A connection the member closed
    without an answer is probed once (see `_closed`) to tell a dead member from a TLS port.
    """
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return EtcdTimeout(f"{endpoint}: timed out after {timeout:.1f} s", endpoint=endpoint)
    if isinstance(exc, requests.exceptions.SSLError):
        return explain_client_cert(_tls_failure(text, endpoint, client_cert), cert_file)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "Connection refused" in text:
            return _refused(endpoint)
        if "Name or service not known" in text or "nodename nor servname" in text:
            return EtcdError(f"{endpoint}: unknown host name", endpoint=endpoint)
        if any(k in text for k in ("RemoteDisconnected", "Connection aborted", "reset by peer")):
            return _closed(endpoint, timeout)
        if "No route to host" in text or "Network is unreachable" in text:
            return EtcdError(f"{endpoint}: no route to host", endpoint=endpoint)
        return EtcdError(f"{endpoint}: cannot connect", endpoint=endpoint)
    message = getattr(exc, "error", None) or text or type(exc).__name__
    return EtcdError(f"{endpoint}: {message}", endpoint=endpoint)


def _refused(endpoint: str) -> EtcdError:
    return EtcdError(
        f"{endpoint}: connection refused", hint="is etcd running on it?", endpoint=endpoint
    )


def _tls_failure(text: str, endpoint: str, client_cert: bool) -> EtcdTLSError:
    if "CERTIFICATE_VERIFY_FAILED" in text or _SERVER_CERT_REFUSED in text:
        detail = text.split(f"{_SERVER_CERT_REFUSED}:")[-1].split("(")[0].strip(" )'\"")
        reason = _SERVER_CERT_REFUSED + (f": {detail}" if detail else "")
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
            f"{endpoint}: the server closed the TLS handshake: it may require a client certificate",
            hint="give --cert and --key",
            endpoint=endpoint,
        )
    if "EOF occurred in violation of protocol" in text:
        # etcd 3.4 hangs up, without an alert, on a client certificate it does not trust.
        return EtcdTLSError(
            f"{endpoint}: the server closed the TLS handshake on the client certificate",
            hint="is it signed by the CA etcd trusts?",
            endpoint=endpoint,
        )
    if "WRONG_VERSION_NUMBER" in text:
        return EtcdTLSError(
            f"{endpoint}: TLS handshake failed: the endpoint does not speak TLS",
            hint="use http://",
            endpoint=endpoint,
        )
    return EtcdTLSError(f"{endpoint}: TLS handshake failed", endpoint=endpoint)


def _closed(endpoint: str, timeout: float) -> EtcdError:
    """The member closed a connection without answering. Three causes look alike from the
    request alone: etcd died with the connection open (a new connection is now refused), a
    plain-http request reached a TLS port (etcd hangs up on it; the port answers a TLS hello),
    or something else. One fresh connection tells which, so "https?" is said only when true."""
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "127.0.0.1", parts.port or 2379
    wait = min(timeout / 2, _PROBE_TIMEOUT)
    closed = EtcdError(f"{endpoint}: connection closed by the server", endpoint=endpoint)
    try:
        sock = socket.create_connection((host, port), timeout=wait)
    except ConnectionRefusedError:
        return _refused(endpoint)
    except OSError:
        return closed  # not reachable this way (a tunnel, a firewall): no guess
    with sock:
        if parts.scheme == "http" and _answers_tls(sock, wait):
            return EtcdError(
                f"{endpoint}: connection closed by the server: the port speaks TLS",
                hint="use https://",
                endpoint=endpoint,
            )
    return closed


def _answers_tls(sock: socket.socket, wait: float) -> bool:
    """Whether the peer answers a TLS ClientHello with a TLS record (a handshake or an
    alert), whatever it then thinks of our certificates."""
    import contextlib
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    hello = context.wrap_bio(incoming, outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):  # the ClientHello is written: it
        hello.do_handshake()  # waits for the server's answer, which the socket reads
    try:
        sock.settimeout(wait)
        sock.sendall(outgoing.read())
        first = sock.recv(3)
    except OSError:
        return False
    # A TLS record starts with its type (21 alert, 22 handshake) and major version 3.
    return len(first) >= 2 and first[0] in (21, 22) and first[1] == 3


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
        try:
            response = self._client._session.get(f"{self.endpoint}/metrics", timeout=self.timeout)
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
            raise describe_failure(
                exc, self.endpoint, timeout, bool(self._cert), self._cert_file
            ) from None

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
            {"key": _b64(RESERVED_PREFIX), "range_end": _b64(prefix_end(RESERVED_PREFIX)),
             "count_only": True},
        )  # fmt: skip
        return _int(data.get("count")) - _int(ours.get("count"))

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
        kvs = self._rpc("/kv/range", {"key": _b64(key)}).get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def lease_grant(self, ttl: int) -> int:
        return _int(self._rpc("/lease/grant", {"TTL": str(ttl)}).get("ID"))

    def lease_keepalive(self, lease_id: int) -> int:
        # A streaming RPC: the gateway answers one request body with one {"result": ...}.
        try:
            data = self._rpc("/lease/keepalive", {"ID": str(lease_id)})
        except EtcdError as exc:
            if LEASE_GONE in exc.message:
                return 0
            raise
        return _int((data.get("result") or data).get("TTL"))

    def lease_revoke(self, lease_id: int) -> None:
        self._rpc("/lease/revoke", {"ID": str(lease_id)})

    def put_if_absent(self, key: bytes, value: bytes, lease_id: int) -> bytes | None:
        encoded = _b64(key)
        data = self._rpc(
            "/kv/txn",
            {
                "compare": [{"key": encoded, "target": "CREATE", "result": "EQUAL",
                             "create_revision": "0"}],
                "success": [{"request_put": {"key": encoded, "value": _b64(value),
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
