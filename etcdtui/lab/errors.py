"""The lab's own refinement of the project's errors."""

from __future__ import annotations

from etcdtui.errors import LabError, UsageError


class LabUsageError(LabError, UsageError):
    """A bad lab request (member count, etcd version, directory): nothing was started.

    It is both a LabError and a UsageError, so the command line exits 2 on it.
    """
