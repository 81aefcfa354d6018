"""The suite keeps what its commands record out of the home folder of whoever runs it."""

from __future__ import annotations

import os
from pathlib import Path

from etcdtui.runbooks.audit import default_audit_path


def test_the_suites_audit_logs_and_journals_stay_out_of_the_home_folder() -> None:
    state = Path(os.environ["XDG_STATE_HOME"])
    assert state.is_absolute() and not state.is_relative_to(Path.home())
    assert default_audit_path().is_relative_to(state)
