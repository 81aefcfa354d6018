"""Asking a lab member over HTTP whether it is healthy, or the leader (the gRPC gateway).

In a netns lab a member's client port listens on its namespace's loopback only: the request
then goes over a socket made inside that namespace (`netns=`), as if sent on the node itself.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from etcdtui.lab.netns import socket_in


def ssl_context(cacert: str | None, cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A client TLS context trusting the lab CA and presenting the client cert (None: plain)."""
    if not (cacert and cert and key):
        return None
    context = ssl.create_default_context(cafile=cacert)
    context.load_cert_chain(cert, key)
    return context


def _request(
    url: str,
    context: ssl.SSLContext | None,
    timeout: float,
    body: bytes | None = None,
    netns: str | None = None,
) -> Any:
    if netns:
        return _request_in(netns, url, context, timeout, body)
    # No proxies: a lab is on loopback, and a proxy from the environment would hide it.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, data=body, timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None


def _request_in(
    netns: str, url: str, context: ssl.SSLContext | None, timeout: float, body: bytes | None
) -> Any:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        sock = socket_in(netns)
        sock.settimeout(timeout)
        # Set before connect: a failing connect or handshake closes it with the connection.
        connection.sock = sock
        sock.connect((host, port))
        if parts.scheme == "https":
            if context is None:
                return None
            connection.sock = context.wrap_socket(sock, server_hostname=host)
        connection.request(
            "POST" if body is not None else "GET",
            parts.path or "/",
            body=body,
            headers={"Content-Type": "application/json"} if body is not None else {},
        )
        response = connection.getresponse()
        if response.status != 200:
            return None
        return json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def member_healthy(
    url: str, context: ssl.SSLContext | None = None, timeout: float = 1.0, netns: str | None = None
) -> bool:
    """True if the member at client URL `url` answers /health with {"health": "true"}."""
    body = _request(url + "/health", context, timeout, netns=netns)
    return isinstance(body, dict) and body.get("health") == "true"
