"""The order xdist hands test files to its workers: the longest first.

With `--dist loadfile` a file runs whole on one worker, and xdist hands out files by their
number of tests, most first. Here that put a few lab files of minutes with few tests at the
end of the run, one worker finishing them 30-40 s after the others had stopped. Handed out
longest first, by the seconds each file took in a recorded run (tests/durations.json), the
workers finish within seconds of each other. A file the record does not know counts its
tests at the record's mean seconds per test. `make durations` records a new run.
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

DURATIONS = Path(__file__).resolve().parent.parent / "durations.json"
"""Seconds of setup, call and teardown per test file, summed, from one recorded run."""


def read_durations(path: Path = DURATIONS) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}


def file_weight(scope: str, tests: int, seconds: dict[str, float], per_test: float) -> float:
    """How long `scope` (a test file) is expected to take."""
    known = seconds.get(scope)
    return known if known is not None else tests * per_test


class LongestFileFirst(LoadFileScheduling):
    """`--dist loadfile`, files handed out longest first."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self._seconds = read_durations()
        self._ordered = False

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the first hand-out: the queue is whole
            self._ordered = True
            self.workqueue = OrderedDict(longest_first(self.workqueue, self._seconds))
        super()._assign_work_unit(node)


def longest_first(
    queue: dict[str, dict[str, bool]], seconds: dict[str, float]
) -> list[tuple[str, dict[str, bool]]]:
    """The queue's files, the longest expected first (the record's order between equals)."""
    known = [(len(tests), seconds[scope]) for scope, tests in queue.items() if scope in seconds]
    known_tests = sum(count for count, _ in known)
    per_test = sum(took for _, took in known) / known_tests if known_tests else 1.0
    return sorted(
        queue.items(), key=lambda item: -file_weight(item[0], len(item[1]), seconds, per_test)
    )


class DurationRecorder:
    """Sums each test file's seconds over a run, for `--store-durations`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid.split("::", 1)[0]] += report.duration

    def write(self, path: Path = DURATIONS) -> None:
        rounded = {name: round(self.seconds[name], 1) for name in sorted(self.seconds)}
        path.write_text(json.dumps(rounded, indent=1) + "\n")
