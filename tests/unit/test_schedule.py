"""The order xdist hands test files out: the longest recorded first (tests/helpers/schedule.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.schedule import DURATIONS, DurationRecorder, longest_first, read_durations


def queue(**tests: int) -> dict[str, dict[str, bool]]:
    return {name: {f"{name}::t{i}": False for i in range(count)} for name, count in tests.items()}


def test_files_are_handed_out_longest_first_whatever_their_number_of_tests() -> None:
    seconds = {"few_slow": 80.0, "many_fast": 2.0, "middle": 30.0}
    order = longest_first(queue(many_fast=200, middle=5, few_slow=3), seconds)
    assert [name for name, _ in order] == ["few_slow", "middle", "many_fast"]


def test_a_file_the_record_does_not_know_counts_its_tests_at_the_mean_per_test() -> None:
    seconds = {"known_a": 40.0, "known_b": 20.0}  # 60 s over 6 tests: 10 s a test
    order = longest_first(queue(known_a=2, known_b=4, new_three=3, new_one=1), seconds)
    assert [name for name, _ in order] == ["known_a", "new_three", "known_b", "new_one"]


def test_the_recorder_sums_each_files_phases_and_writes_them_sorted(tmp_path: Path) -> None:
    recorder = DurationRecorder()
    for nodeid, duration in (("b.py::t", 1.04), ("a.py::t[x]", 2.0), ("b.py::u", 0.5)):
        for when in ("setup", "call", "teardown"):
            report = pytest.TestReport(nodeid, ("b.py", 0, ""), {}, "passed", None, when)
            report.duration = duration
            recorder.pytest_runtest_logreport(report)
    path = tmp_path / "durations.json"
    recorder.write(path)
    assert json.loads(path.read_text()) == {"a.py": 6.0, "b.py": 4.6}
    assert list(read_durations(path)) == ["a.py", "b.py"]


def test_a_missing_or_broken_record_orders_by_number_of_tests(tmp_path: Path) -> None:
    broken = tmp_path / "durations.json"
    broken.write_text("{not json")
    assert read_durations(broken) == {}
    assert read_durations(tmp_path / "absent.json") == {}
    order = longest_first(queue(one=1, three=3), read_durations(broken))
    assert [name for name, _ in order] == ["three", "one"]


def test_the_committed_record_is_read() -> None:
    seconds = read_durations(DURATIONS)
    assert len(seconds) > 50, "tests/durations.json is missing or short: run `make durations`"
    assert all(name.startswith("tests/") and name.endswith(".py") for name in seconds)
