"""Wrong client certificates on a TLS lab: one from another CA, one expired. Every runbook
is refused before it changes anything, with one line that names the TLS problem."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import Lab
from .helpers import (
    cause,
    etcdtui,
    read_keys,
    settled,
)
from .inject import (
    client_cert,
    write_config,
)

# Each scenario starts and breaks a lab of its own.
pytestmark = pytest.mark.slow

MEMBERS = ("node1", "node2", "node3")


def with_cert(scenario: Lab, kind: str) -> str:
    """A config of the lab whose client certificate is `kind`: "foreign" (another CA's) or
    "expired" (the lab CA's, expired a day ago)."""
    pki = scenario.info.dir / "pki"
    ca = (pki / "ca.crt", pki / "ca.key") if kind == "expired" else None
    cert, key = client_cert(scenario.tmp, kind, ca=ca, expired=kind == "expired")
    config = write_config(scenario.info, scenario.tmp / f"{kind}.toml",
                          cluster={"cert": str(cert), "key": str(key)})  # fmt: skip
    return str(config)


def assert_untouched(scenario: Lab) -> None:
    settled(scenario.info, MEMBERS)
    assert read_keys(scenario.info) == scenario.keys


@pytest.mark.parametrize(
    "version",
    [
        "3.5",
        "3.4",  # hangs up on the certificate rather than send an alert
    ],
)  # fmt: skip
def test_client_cert_of_another_ca_is_refused_with_a_tls_error_before_any_step(
    lab: Callable[..., Lab], version: str
) -> None:
    scenario = lab(etcd_version=version, tls=True)
    config = with_cert(scenario, "foreign")
    result = etcdtui(scenario.tmp, "defrag", "--config", config, "--yes", "--wait", "0.2",
                     "--audit-log", str(scenario.tmp / "audit.log"))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    first = cause(result.stdout, result.stderr)
    assert first.startswith("[FAIL] member list: no endpoint answered (https://127.0.0.1:")
    assert "client certificate" in first
    assert "REFUSED" in result.stdout and not (scenario.tmp / "audit.log").exists()
    assert_untouched(scenario)


def test_expired_client_cert_is_named_expired_and_nothing_runs(lab: Callable[..., Lab]) -> None:
    scenario = lab(etcd_version="3.4", tls=True)
    config = with_cert(scenario, "expired")
    result = etcdtui(scenario.tmp, "defrag", "--config", config, "--yes", "--wait", "0.2",
                     "--audit-log", str(scenario.tmp / "audit.log"))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    first = cause(result.stdout, result.stderr)
    assert first.startswith("[FAIL] member list: no endpoint answered (https://127.0.0.1:")
    assert f"the client certificate {scenario.tmp / 'expired.crt'} expired on " in first
    assert "REFUSED" in result.stdout and not (scenario.tmp / "audit.log").exists()
    assert_untouched(scenario)


def test_snapshot_save_with_an_expired_cert_names_the_expired_certificate(
    lab: Callable[..., Lab],
) -> None:
    scenario = lab(etcd_version="3.5", tls=True)
    config = with_cert(scenario, "expired")
    target = scenario.tmp / "snap.db"
    result = etcdtui(scenario.tmp, "snapshot", "save", str(target), "--config", config,
                     "--audit-log", str(scenario.tmp / "audit.log"))  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    first = cause(result.stdout, result.stderr)
    assert first.startswith("etcdtui: ")
    assert f"the client certificate {scenario.tmp / 'expired.crt'} expired on " in first
    assert not target.exists()
    assert_untouched(scenario)
