"""Fixtures: real etcd clusters and real sshd processes, started by the lab code.

Module-scoped labs serve read-only tests; destructive tests take `make_lab` and get their
own. A lab lives only as long as the module that uses it: an idle 3-member lab still costs
~5 % of a core (raft heartbeats), and labs kept for a whole run by every xdist worker took a
large share of a 2-core machine; starting one costs about a second. A missing etcd or sshd
binary makes lab_up raise, so such a test errors loudly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from etcdtui.lab import LabInfo, lab_down, lab_up
from etcdtui.lab.ports import PORT_RANGE_ENV
from tests.helpers.labs import VERSIONS
from tests.helpers.schedule import DurationRecorder, LongestFileFirst

WORKER_PORTS = 1500  # each pytest-xdist worker's own slice of the lab port range


# Labs' data dirs go to RAM when it has this much room: etcd fsyncs every write (the defrag
# and restore tests at -n 2 took 86 s in RAM against 103 s on disk).
RAM_DIR = Path("/dev/shm")
RAM_ROOM = 4 << 30


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-durations",
        action="store_true",
        help="record each test file's seconds in tests/durations.json, the order in which "
        "xdist hands files to its workers (longest first)",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadfile` hands the longest test files out first (tests/helpers/schedule.py)."""
    if config.getoption("dist") != "loadfile":
        return None
    return LongestFileFirst(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Tests' folders in RAM, their state folder of their own, and lab ports per xdist worker.

    Without --basetemp, the run's temporary folders go under /dev/shm (a folder of this
    run's own, removed at its end), before pytest makes its temporary path factory from the
    option; xdist workers get their folders below the controller's. Under pytest-xdist, each
    worker takes lab ports from its own slice below 32768, so two workers never race for one
    port between choosing it and etcd binding it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker and config.getoption("store_durations"):
        recorder = DurationRecorder()
        config.pluginmanager.register(recorder, "etcdtui-durations")
        config.add_cleanup(recorder.write)
    if not worker:
        # Audit logs, journals, locks and view caches of the run's commands (and of the xdist
        # workers, which inherit it), never the home folder of whoever runs the suite.
        state = Path(tempfile.mkdtemp(prefix="etcdtui-tests-state-"))
        os.environ["XDG_STATE_HOME"] = str(state)
        config.add_cleanup(lambda: shutil.rmtree(state, ignore_errors=True))
    if config.option.basetemp is None and not worker:
        ram = _ram_base()
        if ram is not None:
            config.option.basetemp = str(ram)
            config.add_cleanup(lambda: shutil.rmtree(ram, ignore_errors=True))
    if worker.startswith("gw") and PORT_RANGE_ENV not in os.environ:
        low = 20000 + int(worker[2:]) * WORKER_PORTS
        os.environ[PORT_RANGE_ENV] = f"{low}-{min(low + WORKER_PORTS, 32768) - 1}"


@pytest.fixture(autouse=True)
def _views_of_this_test(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's view cache in a folder of each test's own: a view another test (or an
    earlier run, on the same ports) saved is never painted at a test's start."""
    folder = tmp_path_factory.mktemp("views")
    monkeypatch.setattr("etcdtui.services.view_cache.default_cache_dir", lambda: folder)


def _ram_base() -> Path | None:
    """A new folder under /dev/shm, or None where RAM is not usable or roomy enough."""
    try:
        vfs = os.statvfs(RAM_DIR)
        if vfs.f_bavail * vfs.f_frsize < RAM_ROOM or not os.access(RAM_DIR, os.W_OK):
            return None
        return Path(tempfile.mkdtemp(prefix="etcdtui-tests-", dir=RAM_DIR))
    except OSError:
        return None


def _start(root: Path, name: str, **kwargs: object) -> LabInfo:
    return lab_up(root / name, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"etcd{v}")
def plain_lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabInfo]:
    """A healthy 3-member plain-HTTP lab per etcd version; tests must not change it."""
    info = _start(tmp_path_factory.mktemp("plain"), "lab", etcd_version=request.param)
    yield info
    lab_down(info.dir)


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"etcd{v}-tls")
def tls_lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabInfo]:
    """A healthy 3-member lab with TLS and client-cert-auth per etcd version; read-only."""
    info = _start(tmp_path_factory.mktemp("tls"), "lab", etcd_version=request.param, tls=True)
    yield info
    lab_down(info.dir)


@pytest.fixture(scope="module")
def locked_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    """A 3-member `--netns --tls` lab (etcd 3.5): etcd is reachable only through SSH."""
    info = _start(tmp_path_factory.mktemp("locked"), "lab", tls=True, netns=True)
    yield info
    lab_down(info.dir)


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Callable[..., LabInfo]]:
    """Start labs a test may break; every one is torn down after the test."""
    started: list[LabInfo] = []

    def make(**kwargs: object) -> LabInfo:
        info = _start(tmp_path, f"lab{len(started)}", **kwargs)
        started.append(info)
        return info

    yield make
    for info in started:
        lab_down(info.dir)
