"""Fixtures of the lab tests beyond the labs themselves (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.restore import Restore


@pytest.fixture
def restores(tmp_path: Path) -> Iterator[Callable[[Path], Restore]]:
    made: list[Restore] = []

    def make(config: Path) -> Restore:
        made.append(Restore(config, tmp_path))
        return made[-1]

    yield make
    for restore in made:
        restore.close()
