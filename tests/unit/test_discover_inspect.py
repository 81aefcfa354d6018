"""`etcdtui discover --inspect` on files shaped as each distribution writes them.

Every folder of tests/data/discover is one layout or quirk: its files are given to the CLI
together and the JSON printed must be the folder's expected.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parents[1] / "data" / "discover"


def _inspect(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcdtui", "discover", "--inspect", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_inspect_json_is_what_etcd_would_run_with(case: str) -> None:
    folder = CASES / case
    files = sorted(p.name for p in folder.iterdir() if p.name != "expected.json")
    done = _inspect(folder, *files, "-w", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((folder / "expected.json").read_text())


def test_rke2_manifest_without_its_config_file_is_one_line_naming_both() -> None:
    done = _inspect(CASES / "rke2", "etcd.yaml")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "etcd.yaml" in done.stderr
    assert "/var/lib/rancher/rke2/server/db/etcd/config" in done.stderr


def test_unreadable_file_alone_exits_2_and_among_others_exits_1(tmp_path: Path) -> None:
    alone = _inspect(tmp_path, "missing.yaml")
    assert alone.returncode == 2
    assert alone.stderr.strip() == "missing.yaml: cannot read it: No such file or directory"
    folder = CASES / "kubespray"
    mixed = _inspect(folder, "etcd.service", str(tmp_path / "missing.yaml"), "etcd.env")
    assert mixed.returncode == 1
    assert "missing.yaml: cannot read it" in mixed.stderr
    assert "etcd1" in mixed.stdout


def test_kind_forces_how_a_file_is_read(tmp_path: Path) -> None:
    odd = tmp_path / "settings"
    odd.write_text("ETCD_NAME=forced\nETCD_DATA_DIR=/srv/etcd\n")
    done = _inspect(tmp_path, "settings", "--kind", "env-file", "-w", "json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["kind"] == "env-file" and shown["name"] == "forced"
    assert (
        "listen-client-urls is not set: etcd's default http://localhost:2379 applies"
        in (shown["warnings"])
    )


def test_control_characters_from_a_file_are_shown_escaped(tmp_path: Path) -> None:
    (tmp_path / "etcd.env").write_text("ETCD_NAME=evil\x1b]0;pwned\x07\n")
    done = _inspect(tmp_path, "etcd.env")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\\x1b" in done.stdout
