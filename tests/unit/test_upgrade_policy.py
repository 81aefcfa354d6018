"""etcd's version policy and the flag table of the upgrade, without a cluster."""

from __future__ import annotations

import pytest

from etcdtui.config import Connection, NodeConfig, SshTarget
from etcdtui.models.runbook import Verdict
from etcdtui.runbooks.upgrade.policy import (
    MINOR_UPGRADES,
    flag_findings,
    parse_version,
    policy_check,
    step_verdict,
)
from etcdtui.runbooks.upgrade.preflight import IMAGE_REF


@pytest.mark.parametrize(
    ("old", "new", "verdict", "words"),
    [
        ((3, 5, 1), (3, 5, 9), Verdict.PASS, "patch upgrade"),
        ((3, 4, 23), (3, 5, 1), Verdict.PASS, "one minor up"),
        ((3, 4, 23), (3, 6, 0), Verdict.FAIL, "skips a minor"),
        ((3, 5, 19), (3, 6, 0), Verdict.FAIL, "3.5.26 or later first"),
        ((3, 5, 26), (3, 6, 0), Verdict.PASS, "one minor up"),
        ((3, 5, 1), (3, 4, 23), Verdict.FAIL, "downgrade API"),
        ((3, 6, 0), (3, 8, 0), Verdict.FAIL, "skips a minor"),
    ],
)
def test_version_policy_allows_patches_and_one_minor_at_a_time(
    old: tuple[int, int, int], new: tuple[int, int, int], verdict: Verdict, words: str
) -> None:
    got, reason = step_verdict(old, new)
    assert got is verdict and words in reason, reason


def test_policy_names_its_source_for_every_minor_upgrade() -> None:
    assert all(step.source.startswith("https://etcd.io/docs/") for step in MINOR_UPGRADES.values())


def test_policy_skips_members_already_on_the_target() -> None:
    check = policy_check({"a": (3, 5, 1), "b": (3, 4, 23)}, (3, 5, 1))
    assert check.verdict is Verdict.PASS and "3.4.23 -> 3.5.1" in check.reason


@pytest.mark.parametrize("text", ["3.5", "3.5.1", "v3.5.1", "3.5.1-0"])
def test_versions_parse_as_etcd_writes_them(text: str) -> None:
    assert parse_version(text)[0][:2] == (3, 5)


@pytest.mark.parametrize("text", ["", "3", "three.five", "3.5.1; rm -rf /"])
def test_bad_versions_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_version(text)


def test_flags_gone_in_36_are_refused_with_their_replacement() -> None:
    refused, deprecated = flag_findings("ETCD_ENABLE_V2=true\n", (3, 6))
    assert refused and "v2 store is gone" in refused[0] and not deprecated
    manifest = (
        "- --experimental-initial-corrupt-check=true\n- --experimental-compaction-batch-limit=1\n"
    )
    refused, deprecated = flag_findings(manifest, (3, 6))
    assert not refused and deprecated == ["--experimental-compaction-batch-limit -> "
                                          "--compaction-batch-limit"]  # fmt: skip
    refused, _ = flag_findings("--experimental-compaction-batch-limit=100", (3, 7))
    assert refused
    assert flag_findings("--enable-v2=false", (3, 5)) == ([], [])


@pytest.mark.parametrize(
    ("image", "good"),
    [
        ("registry.k8s.io/etcd:3.5.1-0", True),
        ("localhost:5000/etcd:3.5.1", True),
        ("registry.k8s.io/etcd:3.5.1|x", False),
        ("registry.k8s.io/etcd:3.5.1 && id", False),
        ("", False),
    ],
)
def test_image_references_are_checked_for_form(image: str, good: bool) -> None:
    assert bool(IMAGE_REF.match(image)) is good


@pytest.mark.parametrize("profile", ["systemd", "lab", "static-pod"])
def test_upgrade_templates_quote_every_value(profile: str) -> None:
    variables = {"upgrade_etcd": "/opt/etcd 3.5/etcd", "service": "/x y/etcd-service",
                 "upgrade_image": "registry.k8s.io/etcd:3.5.1-0", "env_file": "/e"}  # fmt: skip
    node = NodeConfig("n1", SshTarget("h"), profile=profile, vars=variables)
    connection = Connection("c", ("http://127.0.0.1:2379",), nodes=(node,))
    for action in ("upgrade", "upgrade_rollback", "upgrade_flags"):
        if not connection.has_profile_command(node, action):
            continue  # static-pod has no `upgrade`: the runbook edits the image itself
        command = connection.profile_command(node, action)
        assert "/opt/etcd 3.5/etcd" not in command.replace("'/opt/etcd 3.5/etcd'", "")
        assert "/x y/" not in command.replace("'/x y/etcd-service'", "")
