"""The upgrade's verification: every member on the new version, the cluster version moved to
the new minor, one leader, and the key count as before (a warning with both numbers when the
cluster took writes meanwhile)."""

from __future__ import annotations

import json
import time

from etcdtui.clients.cluster import ClusterClient
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView
from etcdtui.models.runbook import Check, Verdict

# etcd moves the cluster version a few seconds after the last member runs the new one (its
# leader checks every 4 s): the verification waits that long for it.
CLUSTER_VERSION_WAIT = 20.0
CLUSTER_VERSION_POLL = 0.2  # one small read of the leader: the moment it moves counts


def cluster_version(client: ClusterClient, view: ClusterView) -> str:
    """The cluster version the leader reports ("etcdcluster" in its /version, "3.5.0");
    "" when it cannot be read."""
    leader = view.leader
    if leader is None:
        return ""
    try:
        answer = json.loads(client.client(leader.endpoint).version_text())
    except (EtcdtuiError, ValueError):
        return ""
    version = answer.get("etcdcluster") if isinstance(answer, dict) else None
    return version if isinstance(version, str) else ""


def same_minor(version: str, minor: str) -> bool:
    """Whether `version` ("3.5.0") is on `minor` ("3.5")."""
    return version.split(".")[:2] == minor.split(".")


def key_count(client: ClusterClient, view: ClusterView) -> int | None:
    leader = view.leader
    if leader is None:
        return None
    try:
        return client.client(leader.endpoint).key_count()
    except EtcdtuiError:
        return None


def wait_cluster_version(client: ClusterClient, minor: str) -> tuple[ClusterView, str]:
    """Poll the leader's cluster version until it is `minor` (at most CLUSTER_VERSION_WAIT
    seconds); then the cluster as it is, for the other checks."""
    deadline = time.monotonic() + CLUSTER_VERSION_WAIT
    view = client.read(metrics=False)
    while True:
        version = cluster_version(client, view)
        if same_minor(version, minor) or time.monotonic() >= deadline:
            return client.read(metrics=False), version
        time.sleep(CLUSTER_VERSION_POLL)
        if not version:  # no leader, or it did not answer: find the leader again
            view = client.read(metrics=False)


def verify_upgrade(client: ClusterClient, target: str, keys_before: int | None) -> list[Check]:
    """The checks after a run to `target` ("3.5.1")."""
    minor = ".".join(target.split(".")[:2])
    view, version = wait_cluster_version(client, minor)
    behind = [
        f"{m.name} ({m.status.version if m.status else m.problem or 'unreachable'})"
        for m in view.members
        if m.status is None or m.status.version != target
    ]
    checks = [
        Check("every member on the new version", Verdict.FAIL if behind else Verdict.PASS,
              ("not on " + target + ": " + ", ".join(behind)) if behind
              else f"{len(view.members)} members run {target}"),
        Check("cluster version", Verdict.PASS if same_minor(version, minor) else Verdict.FAIL,
              f"{version or 'unknown'}" + ("" if same_minor(version, minor) else f", not {minor}")),
    ]  # fmt: skip
    leaders = [m.name for m in view.members if m.is_leader]
    checks.append(Check("one leader", Verdict.PASS if len(leaders) == 1 else Verdict.FAIL,
                        ", ".join(leaders) or "no leader"))  # fmt: skip
    after = key_count(client, view)
    if keys_before is not None and after is not None:
        same = after == keys_before
        reason = f"{after} keys (before: {keys_before})"
        if not same:
            reason += "; clients wrote meanwhile, or keys were lost: look"
        checks.append(Check("key count", Verdict.PASS if same else Verdict.WARN, reason))
    return checks
