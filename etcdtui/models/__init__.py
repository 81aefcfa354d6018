"""Plain, frozen data: no I/O, no Textual."""

from etcdtui.models.cluster import (
    Alarm,
    ClusterView,
    Histogram,
    Member,
    MemberHealth,
    MemberMetrics,
    MemberStatus,
    MemberView,
)
from etcdtui.models.command import CommandResult
from etcdtui.models.severity import Severity

__all__ = [
    "Alarm",
    "ClusterView",
    "CommandResult",
    "Histogram",
    "Member",
    "MemberHealth",
    "MemberMetrics",
    "MemberStatus",
    "MemberView",
    "Severity",
]
