"""How bad a thing is, in one vocabulary for every check: the dashboard's health rules, the
Kubernetes wiring, certificate and security checks, and the runbooks' preflight checks.

`Severity` is what a rule finds; `Verdict` is what a runbook's check decides, with the same
three steps. Both keep the words users and scripts already read: a severity's value is what
`kube-check -w json` writes ("ok", "warn", "critical"), a verdict's what a run's log writes
("pass", "warn", "fail").
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum, StrEnum


class Severity(StrEnum):
    """How bad one finding is, ordered: OK < WARN < CRITICAL, so `max()` is the worst.

    A str whose value is the name JSON output carries; the order is by badness, never by
    spelling (a plain "ok" compared with a severity is read as `Severity("ok")`).
    """

    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for OK, 1 for WARN, 2 for CRITICAL."""
        return _RANK[self]

    @property
    def word(self) -> str:
        """The word the dashboard writes beside a value: "ok", "WARNING", "CRITICAL"."""
        return _WORD[self]

    @property
    def tag(self) -> str:
        """The word a status column and a report's title show: "OK", "WARN", "CRITICAL"."""
        return self.name

    @property
    def verdict(self) -> Verdict:
        """The verdict a check with this severity gets: PASS, WARN or FAIL."""
        return _VERDICT[self]

    # Ordered by badness, not alphabetically as a str would be.
    def __lt__(self, other: str) -> bool:
        return self.rank < Severity(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= Severity(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > Severity(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= Severity(other).rank


class Verdict(Enum):
    """A runbook check's outcome: PASS lets the run go, WARN is said, FAIL blocks it.

    The same three steps as `Severity`, named for a gate rather than for a finding.
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def severity(self) -> Severity:
        """OK, WARN or CRITICAL."""
        return next(s for s, v in _VERDICT.items() if v is self)


_RANK = {Severity.OK: 0, Severity.WARN: 1, Severity.CRITICAL: 2}
_WORD = {Severity.OK: "ok", Severity.WARN: "WARNING", Severity.CRITICAL: "CRITICAL"}
_VERDICT = {Severity.OK: Verdict.PASS, Severity.WARN: Verdict.WARN, Severity.CRITICAL: Verdict.FAIL}


def worst(severities: Iterable[Severity]) -> Severity:
    """The worst of `severities`; OK when there are none."""
    return max(severities, default=Severity.OK)
