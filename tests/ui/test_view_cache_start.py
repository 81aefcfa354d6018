"""What the dashboard loads before its first paint: only what that paint needs.

The etcd clients load in the first poll's worker; the help, audit, runbook and backups screens
(and the consistency check) when their key is first pressed.
"""

from __future__ import annotations

import subprocess
import sys

NOT_BEFORE_FIRST_PAINT = (
    "etcdtui.clients",
    "etcdtui.services.consistency",
    "etcdtui.ui.screens.help",
    "etcdtui.ui.screens.runbook",
    "etcdtui.ui.screens.audit",
    "etcdtui.ui.screens.backups",
    "markdown_it",
    "etcd3",
    "requests",
    "paramiko",
    "prometheus_client",
    "cryptography",
)


def test_the_app_module_loads_nothing_the_first_paint_does_not_need() -> None:
    code = (
        "import sys\n"
        "import etcdtui.ui.app\n"
        f"unwanted = {NOT_BEFORE_FIRST_PAINT!r}\n"
        "print(','.join(m for m in sys.modules if m.startswith(unwanted)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    assert out.stdout.strip() == ""
