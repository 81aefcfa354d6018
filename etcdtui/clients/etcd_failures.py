"""Failures talking to etcd, each told in one line a person can act on.

requests, etcd3-py and socket errors become EtcdError, EtcdTimeout or EtcdTLSError naming the
endpoint and, where it can be known, the reason: a refused connection, a TLS port spoken to in
plain http, a client certificate that expired or is refused.
"""

from __future__ import annotations

import datetime
import os
import socket
from urllib.parse import urlsplit

from etcdtui.errors import EtcdError, EtcdTimeout, EtcdTLSError

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
