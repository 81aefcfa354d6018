"""The README's config example works as written against the lab it names."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etcdtui.clients.ssh.shell import SshShell
from etcdtui.config import load_connection
from etcdtui.lab import LabInfo, lab_down, lab_up

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = Path("/tmp/etcdtui-example")  # as the README says


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- config-example -->\n```toml\n(.*?)```", text, re.S)
    assert match, "the README lost its config example"
    return match.group(1)


@pytest.fixture
def example_lab() -> Iterator[LabInfo]:
    if (EXAMPLE_DIR / "lab.json").exists():
        lab_down(EXAMPLE_DIR)
    info = lab_up(EXAMPLE_DIR, tls=True, base_port=19800)
    yield info
    lab_down(EXAMPLE_DIR)


def test_readme_config_example_works_as_written(example_lab: LabInfo, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(readme_example())
    connection = load_connection(config, None)
    assert connection.cluster == "staging" and len(connection.nodes) == 3

    etcdtui = str(Path(sys.executable).parent / "etcdtui")
    status = subprocess.run(
        [etcdtui, "status", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "cluster staging: healthy" in status.stdout

    # The nodes are reachable over SSH as described, and the profile's command works there.
    for node in connection.nodes:
        with SshShell(node) as shell:
            result = shell.run(connection.profile_command(node, "is_active"), timeout=10)
        assert result.exit_code == 0 and result.stdout.strip() == "active"
