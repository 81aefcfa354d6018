"""The dashboard's view cache: small, 0600 in a 0700 folder, per cluster identity, and a bad
file is never an error, only no cache."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from etcdtui.config import Connection
from etcdtui.models import ClusterView, Member, MemberView
from etcdtui.services import samples
from etcdtui.services.view_cache import MAX_AGE, MAX_BYTES, ViewCache, default_cache_dir

CONFIG = "/etc/etcdtui/clusters.toml"


def connection(cluster: str = "prod", source: str = CONFIG) -> Connection:
    view = samples.healthy()
    return Connection(cluster=cluster, endpoints=tuple(m.endpoint for m in view.members),
                      source=source)  # fmt: skip


def without_histograms(view: ClusterView) -> ClusterView:
    members = tuple(
        replace(m, metrics=replace(m.metrics, wal_fsync=None, backend_commit=None, peer_rtt={}))
        if m.metrics
        else m
        for m in view.members
    )
    return replace(view, members=members)


@pytest.mark.parametrize("scenario", sorted(samples.SCENARIOS))
def test_saved_view_comes_back_as_the_panes_draw_it(tmp_path: Path, scenario: str) -> None:
    cache = ViewCache(tmp_path / "views")
    view = samples.SCENARIOS[scenario]()
    assert cache.save(connection(), view)
    cached = cache.load(connection())
    assert cached is not None
    assert cached.view == without_histograms(view)
    assert 0 <= cached.age() < 60


def test_cache_is_small_private_and_atomic(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "views"
    cache = ViewCache(folder)
    old_umask = os.umask(0)
    try:
        assert cache.save(connection(), samples.healthy())
    finally:
        os.umask(old_umask)
    path = cache.path(connection())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size < 8 * 1024, "histograms are history, not what the panes need"
    assert [p.name for p in folder.iterdir()] == [path.name], "no temporary file left"


def test_each_cluster_identity_has_its_own_file(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    prod, other_file = connection(), connection(source="/home/me/other.toml")
    assert cache.save(prod, samples.healthy())
    assert cache.path(prod) != cache.path(other_file)
    assert cache.load(other_file) is None, "same name, another config: another cluster"
    assert cache.load(connection(cluster="staging")) is None


def test_a_file_of_another_identity_is_ignored(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    staging = connection(cluster="staging")
    assert cache.save(staging, samples.healthy())
    # Copied (or renamed) under prod's name: its record names staging.
    cache.path(staging).rename(cache.path(connection()))
    assert cache.load(connection()) is None


def test_a_view_saved_for_other_endpoints_is_ignored(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    assert cache.save(connection(), samples.healthy())
    moved = replace(connection(), endpoints=("https://10.0.0.99:2379",))
    assert cache.load(moved) is None


def test_a_poll_where_no_member_answered_is_not_kept(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    assert cache.save(connection(), samples.healthy())
    down = ClusterView(cluster="prod", members=(MemberView("https://10.0.0.11:2379",
                       error="connection refused"),), error="no member answers")  # fmt: skip
    assert not cache.save(connection(), down)
    cached = cache.load(connection())
    assert cached is not None and cached.view.healthy, "the last good view stays"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"format": 99}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
    ids=["empty", "torn", "list", "future-format", "binary", "deep"],
)
def test_corrupt_cache_is_no_cache(tmp_path: Path, content: bytes) -> None:
    cache = ViewCache(tmp_path)
    path = cache.path(connection())
    path.write_bytes(content)
    path.chmod(0o600)
    assert cache.load(connection()) is None


def record(tmp_path: Path) -> tuple[ViewCache, dict[str, object]]:
    cache = ViewCache(tmp_path)
    assert cache.save(connection(), samples.healthy())
    return cache, json.loads(cache.path(connection()).read_text())


def rewrite(cache: ViewCache, data: dict[str, object]) -> None:
    cache.path(connection()).write_text(json.dumps(data))


MISFITS: dict[str, Callable[[Any], object]] = {
    "name-as-number": lambda d: d["view"].update(cluster=7),
    "partial-status": lambda d: d["view"]["members"][0].update(status={"endpoint": "x"}),
    "id-as-text": lambda d: d["view"]["members"][0]["member"].update(id="8e9e05c52164694d"),
    "id-as-bool": lambda d: d["view"]["members"][0]["member"].update(id=True),
    "extra-field": lambda d: d["view"]["members"][0].update(extra="field"),
    "notes-not-a-list": lambda d: d["view"].update(notes="not a list"),
    "saved-at-as-text": lambda d: d.update(saved_at="yesterday"),
    "no-identity": lambda d: d.pop("identity"),
}


@pytest.mark.parametrize("misfit", sorted(MISFITS))
def test_a_record_that_does_not_fit_the_view_is_ignored(tmp_path: Path, misfit: str) -> None:
    change = MISFITS[misfit]
    cache, data = record(tmp_path)
    change(data)
    rewrite(cache, data)
    assert cache.load(connection()) is None


def test_outside_text_comes_back_as_it_was_data(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    hostile = "[b]x[/b] $name \x1b[31m\n;rm -rf /"
    view = samples.healthy()
    first = view.members[0]
    assert first.member is not None
    members = (replace(first, member=replace(first.member, name=hostile), error=hostile),
               *view.members[1:])  # fmt: skip
    assert cache.save(connection(), replace(view, members=members, notes=(hostile,)))
    cached = cache.load(connection())
    assert cached is not None
    assert cached.view.members[0].name == hostile
    assert cached.view.members[0].error == hostile
    assert cached.view.notes == (hostile,)


def test_too_old_a_view_is_ignored(tmp_path: Path) -> None:
    cache, data = record(tmp_path)
    saved_at = data["saved_at"]
    assert isinstance(saved_at, float)
    assert cache.load(connection(), now=saved_at + MAX_AGE - 60) is not None
    assert cache.load(connection(), now=saved_at + MAX_AGE + 60) is None


def test_a_file_others_may_write_or_not_a_file_is_ignored(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    assert cache.save(connection(), samples.healthy())
    path = cache.path(connection())
    path.chmod(0o622)
    assert cache.load(connection()) is None
    path.unlink()
    os.mkfifo(path)  # a reader must never block on it
    assert cache.load(connection()) is None
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    assert cache.load(connection()) is None


def test_an_oversized_view_is_neither_kept_nor_read(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    view = samples.healthy()
    huge = replace(view, notes=("x" * MAX_BYTES,))
    assert not cache.save(connection(), huge)
    assert not cache.path(connection()).exists()
    cache.path(connection()).write_bytes(b" " * (MAX_BYTES + 1))
    cache.path(connection()).chmod(0o600)
    assert cache.load(connection()) is None


def test_an_unwritable_folder_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "views"
    blocker.write_text("a file where the folder should be")
    cache = ViewCache(blocker)
    assert not cache.save(connection(), samples.healthy())
    assert cache.load(connection()) is None


def test_default_folder_is_beside_the_audit_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "etcdtui" / "views"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/path")
    assert default_cache_dir() == Path.home() / ".local" / "state" / "etcdtui" / "views"


def test_a_member_added_but_unstarted_survives_the_round_trip(tmp_path: Path) -> None:
    cache = ViewCache(tmp_path)
    view = samples.healthy()
    unstarted = MemberView("", member=Member(0x1234, "", ("https://10.0.0.14:2380",), ()))
    assert cache.save(connection(), replace(view, members=(*view.members, unstarted)))
    cached = cache.load(connection())
    assert cached is not None and cached.view.members[-1] == unstarted
