"""The layering is a check that can fail, not a hope."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_back_end_layers_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "import etcdtui.models, etcdtui.config, etcdtui.clients.etcd, etcdtui.clients.cluster\n"
        "import etcdtui.clients.metrics, etcdtui.clients.ssh.shell, etcdtui.services.status\n"
        "import etcdtui.lab\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken" in result.stdout
