"""Fixtures of the fault scenarios: a lab holding KEYS keys, and undo actions for the faults
(a frozen member, a dead sshd, a link down, a tmpfs) that run before the lab is torn down."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from etcdtui.lab import LabInfo

from .helpers import put_keys


@dataclass
class Undo:
    """What a scenario must put back whatever happens: run last first, each at most once."""

    actions: list[Callable[[], object]] = field(default_factory=list)

    def __call__(self, action: Callable[[], object]) -> None:
        self.actions.append(action)

    def run(self) -> None:
        while self.actions:
            with contextlib.suppress(Exception):  # the lab's teardown still runs after this
                self.actions.pop()()


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Journals and lock files of runbooks run in this process go where the test's etcdtui
    processes put theirs (helpers.cli_env), never into the home folder."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def undo(make_lab: Callable[..., LabInfo]) -> Iterator[Undo]:
    """Undo actions; torn down before `make_lab` takes the labs down."""
    actions = Undo()
    yield actions
    actions.run()


@dataclass(frozen=True)
class Lab:
    """A scenario's lab, the keys written into it first, and the test's folder."""

    info: LabInfo
    keys: dict[str, str]
    tmp: Path

    @property
    def config(self) -> str:
        return str(self.info.config_path)


@pytest.fixture
def lab(make_lab: Callable[..., LabInfo], tmp_path: Path) -> Callable[..., Lab]:
    """Start a lab (make_lab's arguments) and write KEYS keys into it."""

    def make(**kwargs: object) -> Lab:
        info = make_lab(**kwargs)
        return Lab(info, put_keys(info), tmp_path)

    return make
