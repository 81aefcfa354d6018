"""A strict check of the URLs and names a member advertises before anything writes them.

Anyone who can start or add a member chooses its name and URLs, and etcd stores them as given.
They end up in kube-apiserver's ``--etcd-servers``, in ``--initial-cluster`` and in the config
file, so only the plain shape etcd itself would serve is accepted: ``http(s)://HOST:PORT`` with
a DNS name, an IPv4 address or a bracketed IPv6 address, and nothing else (no user, path,
query, fragment, space or control character).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MAX_URL_LENGTH = 300
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_URL_CHARS = re.compile(r"^[A-Za-z0-9:/.\[\]-]+$")
# A member name goes into --initial-cluster as NAME=URL,NAME=URL: '=' and ',' would forge
# entries; white space and control characters would split the line or the argument.
_NAME_CHARS = re.compile(r"^[A-Za-z0-9._-]{1,253}$")


def url_problem(url: str) -> str:
    """Why `url` is not a plain etcd member URL, or "" when it is one."""
    if not url:
        return "empty URL"
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    if not _URL_CHARS.match(url):
        return "holds characters a member URL never has"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL (bad host or port)"
    if parts.scheme not in ("http", "https"):
        return "the scheme is not http or https"
    if parts.username is not None or parts.password is not None:
        return "holds a user or password"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "has more than scheme://host:port"
    if port is None or port == 0:
        return "has no port"
    host = parts.hostname or ""
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "the bracketed host is not an IPv6 address"
        return ""
    if not host or not all(_DNS_LABEL.match(label) for label in host.split(".")):
        return "the host is not a DNS name or an IP address"
    return ""


def name_problem(name: str) -> str:
    """Why `name` cannot be written into --initial-cluster, or "" when it can."""
    if _NAME_CHARS.match(name):
        return ""
    return "a member name may hold only letters, digits, '.', '_' and '-'"


def suspicious_urls(urls: Iterable[str]) -> list[str]:
    """The URLs among `urls` that fail the check, each with its reason."""
    return [f"{url!r}: {why}" for url in urls if (why := url_problem(url))]
