"""Values a person gives on the command line or in the config, checked before use: endpoints
(`normalise_endpoint`) and TLS files (`make_tls`)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from etcdtui.config.model import TlsFiles
from etcdtui.errors import UsageError
from etcdtui.toml_io import regular_file


def normalise_endpoint(raw: str, tls: bool) -> str:
    """`host:port` or a URL -> a URL; refuse anything else with a clear reason."""
    text = raw.strip()
    if not text:
        raise UsageError("empty endpoint")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        # urlsplit drops a tab or new line silently and would connect elsewhere than written.
        raise UsageError(f"bad endpoint {raw!r}: it holds white space or a control character")
    if "://" not in text:
        text = ("https://" if tls else "http://") + text
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise UsageError(f"bad endpoint {raw!r}: {exc}") from None
    if parts.username or parts.password:
        raise UsageError(f"bad endpoint {raw!r}: no user or password in the URL, please")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"bad endpoint {raw!r}: the scheme must be http or https")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"bad endpoint {raw!r}: the port is not a number from 0 to 65535"
        ) from None
    if not parts.hostname:
        raise UsageError(f"bad endpoint {raw!r}: no host")
    if port is None:
        raise UsageError(f"bad endpoint {raw!r}: no port (etcd's client port is usually 2379)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "#" in text:
        raise UsageError(f"bad endpoint {raw!r}: expected scheme://host:port and nothing more")
    return f"{parts.scheme}://{parts.netloc}"


def _check_file(path: str | None, what: str) -> str | None:
    """`path` with ~ expanded, once it is known to be a readable regular file: the TLS
    library reads it later, and a FIFO or a device there would hang that read."""
    if not path:
        return None
    expanded = os.path.expanduser(path)
    regular_file(expanded, what)
    return expanded


def make_tls(cacert: str | None, cert: str | None, key: str | None) -> TlsFiles:
    """The TLS files given as --cacert, --cert and --key, each checked to be a readable
    regular file; --cert and --key only together."""
    if bool(cert) != bool(key):
        raise UsageError("--cert and --key go together: give both or neither")
    return TlsFiles(
        cacert=_check_file(cacert, "CA certificate file (--cacert)"),
        cert=_check_file(cert, "client certificate file (--cert)"),
        key=_check_file(key, "client key file (--key)"),
    )
