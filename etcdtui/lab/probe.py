"""Asking a lab member over HTTP whether it is healthy, or the leader (the gRPC gateway)."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.request
from typing import Any


def ssl_context(cacert: str | None, cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A client TLS context trusting the lab CA and presenting the client cert (None: plain)."""
    if not (cacert and cert and key):
        return None
    context = ssl.create_default_context(cafile=cacert)
    context.load_cert_chain(cert, key)
    return context


def _request(
    url: str, context: ssl.SSLContext | None, timeout: float, body: bytes | None = None
) -> Any:
    # No proxies: a lab is on loopback, and a proxy from the environment would hide it.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, data=body, timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None


def member_healthy(url: str, context: ssl.SSLContext | None = None, timeout: float = 1.0) -> bool:
    """True if the member at client URL `url` answers /health with {"health": "true"}."""
    body = _request(url + "/health", context, timeout)
    return isinstance(body, dict) and body.get("health") == "true"


def member_is_leader(url: str, context: ssl.SSLContext | None = None, timeout: float = 0.5) -> bool:
    """True if the member at `url` says it is the leader (False if it does not answer)."""
    body = _request(url + "/v3/maintenance/status", context, timeout, b"{}")
    if not isinstance(body, dict) or not isinstance(body.get("header"), dict):
        return False
    member_id = body["header"].get("member_id")
    return member_id is not None and member_id == body.get("leader")
