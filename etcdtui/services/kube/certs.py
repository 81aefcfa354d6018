"""Certificate expiry: etcd's server, peer and CA certificates and the apiserver's client one.

An expired etcd certificate stops the control plane at once, and kubeadm renews only on upgrade,
so the days left are worth a warning a month ahead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from etcdtui.models.severity import Severity

WARN_DAYS = 30
CRITICAL_DAYS = 7

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class CertStatus:
    """One certificate file on one node, and how soon it expires."""

    node: str
    role: str  # "server", "peer", "client (apiserver-etcd-client)", "CA"
    path: str
    subject: str
    issuer: str
    not_after: datetime | None  # tz-aware UTC; None when the file could not be read
    days_left: float
    severity: Severity
    error: str = ""

    @property
    def message(self) -> str:
        """One line: "cp1 server /etc/.../server.crt expires in 5 days (2026-11-30 12:00 UTC)"."""
        head = f"{self.node} {self.role} {self.path}"
        if self.error or self.not_after is None:
            return f"{head}: {self.error or 'unreadable'}"
        when = self.not_after.strftime("%Y-%m-%d %H:%M UTC")
        if self.days_left < 0:
            return f"{head} expired {_span(-self.days_left)} ago ({when})"
        return f"{head} expires in {_span(self.days_left)} ({when})"


def _span(days: float) -> str:
    # Rounded down, so the time left is never overstated.
    if days < 1:
        hours = math.floor(days * 24)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    whole = math.floor(days)
    return f"{whole} day{'s' if whole != 1 else ''}"


def severity_for(days_left: float) -> Severity:
    """Expired or under CRITICAL_DAYS: critical; under WARN_DAYS: warn; else ok."""
    if days_left < CRITICAL_DAYS:
        return Severity.CRITICAL
    return Severity.WARN if days_left < WARN_DAYS else Severity.OK


def unreadable(node: str, role: str, path: str, error: str) -> CertStatus:
    """A certificate that could not be read or parsed: critical, as nothing says it is valid."""
    return CertStatus(
        node=node,
        role=role,
        path=path,
        subject="",
        issuer="",
        not_after=None,
        days_left=0.0,
        severity=Severity.CRITICAL,
        error=error,
    )


def describe_certificate(
    pem: bytes, *, node: str, role: str, path: str, now: datetime | None = None
) -> CertStatus:
    """The expiry of the first certificate in a PEM file (a bundle's leaf); never raises."""
    block = _PEM_CERT.search(pem)
    if block is None:
        return unreadable(node, role, path, "not a PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(block.group(0))
        not_after = cert.not_valid_after_utc
        subject = cert.subject.rfc4514_string()
        issuer = cert.issuer.rfc4514_string()
    except ValueError:
        return unreadable(node, role, path, "not a PEM certificate")
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a naive time is taken as UTC, like the cert's
    days_left = (not_after - moment).total_seconds() / 86400
    return CertStatus(
        node=node,
        role=role,
        path=path,
        subject=subject,
        issuer=issuer,
        not_after=not_after,
        days_left=days_left,
        severity=severity_for(days_left),
    )
