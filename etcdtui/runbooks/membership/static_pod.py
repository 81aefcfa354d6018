"""Member changes on kubeadm nodes (the static-pod profile): the new member's etcd.yaml.

kubeadm's ``kubeadm join --control-plane`` would write it; here it is made from a running
member's manifest (see manifest.py), checked in preflight against the certificates the new
node holds, written beside the manifests folder and started by the profile's ``start``, which
moves it in for the kubelet to run.
"""

from __future__ import annotations

import shlex

from etcdtui.config import NodeConfig
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Step, Verdict
from etcdtui.runbooks.engine import Output
from etcdtui.runbooks.membership.change import MemberChange, output_tail
from etcdtui.runbooks.membership.env_file import initial_cluster
from etcdtui.runbooks.membership.manifest import FILE_FLAGS, manifest_flags, new_member_manifest
from etcdtui.runbooks.membership.steps import Outcome

_NO_PKI = (
    "missing {}: run kubeadm join --control-plane on the new node (or create its etcd "
    "server and peer certificates from the etcd CA) first"
)


class StaticPodSteps:
    """The new member's etcd.yaml on a kubeadm node: made from a survivor's, checked in
    preflight, written by the "env" step in place of an env file."""

    def __init__(self, change: MemberChange) -> None:
        self.change = change

    def paths(self, node: NodeConfig) -> tuple[str, str] | None:
        """(manifest, stash) for a kubeadm node, None for other profiles."""
        connection = self.change.connection
        manifest = connection.profile_var(node, "manifest")
        stash = connection.profile_var(node, "manifest_stash")
        return (manifest, stash) if node.profile == "static-pod" and manifest and stash else None

    def template_manifest(self) -> tuple[str, str]:
        """(text, "node:path") of a running member's etcd.yaml, read over SSH."""
        found = self.change.survivor_file(lambda node: (self.paths(node) or ("",))[0], "etcd")
        if found is not None:
            return found[1], found[0]
        raise EtcdtuiError(
            "no running member's etcd manifest could be read over SSH",
            hint="the new member's manifest is made from a survivor's",
        )

    def new_manifest(self) -> tuple[str, str]:
        """(the new member's etcd.yaml, where its template came from)."""
        change = self.change
        node = change.new_node
        text, origin = self.template_manifest()
        peers = ",".join(node.peer_urls)
        listen = [u for u in (node.local_client_url, *node.client_urls) if u]
        replace = {
            "name": change.new_name,
            "advertise-client-urls": ",".join(node.client_urls),
            "listen-client-urls": ",".join(dict.fromkeys(listen)),
            "listen-peer-urls": peers,
            "initial-advertise-peer-urls": peers,
            "initial-cluster": initial_cluster(change.members(), change.new_name, node.peer_urls),
            "initial-cluster-state": "existing",
        }
        return new_member_manifest(text, origin, replace, node.data_dir), origin

    def missing_pki(self, manifest: str, origin: str) -> list[str]:
        """The certificate and key files `manifest` names that the new node lacks."""
        node = self.change.new_node
        flags = manifest_flags(manifest, origin)
        files = list(dict.fromkeys(flags[f] for f in FILE_FLAGS if flags.get(f)))
        if not files:
            return []
        q = shlex.quote
        check = " ; ".join(f"test -e {q(f)} || printf '%s\\n' {q(f)}" for f in files)
        result = self.change.sh(node, check + " ; true", timeout=15)
        if not result.ok:
            raise EtcdtuiError(f"checking {node.name}: {output_tail(result)}")
        return [line for line in result.stdout.splitlines() if line]

    def checks(self, paths: tuple[str, str]) -> list[Check]:
        """Preflight for a kubeadm node: no etcd manifest there yet, and the etcd
        certificates the new manifest will name."""
        node = self.change.new_node
        checks = []
        try:
            present = self.change.sh(node, f"test -e {shlex.quote(paths[0])}", timeout=15).ok
        except EtcdtuiError as exc:
            return [Check(f"{node.name} reachable over SSH", Verdict.FAIL, str(exc))]
        checks.append(
            Check(
                f"no etcd manifest on {node.name}",
                Verdict.FAIL if present else Verdict.PASS,
                f"{paths[0]} exists: etcd is already run there (move it away first)"
                if present
                else f"{paths[0]} absent",
            )
        )
        name = f"{node.name} has kubeadm's etcd certificates"
        try:
            manifest, origin = self.new_manifest()
            missing = self.missing_pki(manifest, origin)
        except EtcdtuiError as exc:
            return [*checks, Check(name, Verdict.FAIL, str(exc))]
        if missing:
            return [*checks, Check(name, Verdict.FAIL, _NO_PKI.format(", ".join(missing)))]
        return [*checks, Check(name, Verdict.PASS, f"every file {origin} names exists there")]

    def write_manifest(self, step: Step, output: Output) -> Outcome:
        """The "env" step on a kubeadm node: the new etcd.yaml, written to the stash the
        profile's start moves into the manifests folder."""
        change = self.change
        node = change.new_node
        paths = self.paths(node)
        assert paths is not None, "the env step writes a manifest on static-pod nodes only"
        manifest, stash = paths
        new, origin = self.new_manifest()
        missing = self.missing_pki(new, origin)
        if missing:
            return False, _NO_PKI.format(", ".join(missing))
        q = shlex.quote
        # A stash left by an earlier attempt is kept aside, never overwritten.
        kept = q(f"{stash}.etcdtui-{change.run_stamp}.bak")
        raw = (
            f"{{ [ ! -e {q(stash)} ] || mv {q(stash)} {kept}; }} && umask 077 && "
            f"cat > {q(stash + '.part')} && mv {q(stash + '.part')} {q(stash)}"
        )
        result = change.shells.shell(node.name).run(
            raw, timeout=30, sudo=node.sudo, stdin=new.encode()
        )
        if not result.ok:
            return False, f"writing {stash} failed: {output_tail(result)}"
        cluster = manifest_flags(new, origin).get("initial-cluster", "")
        output(f"--initial-cluster={cluster}")
        return True, (
            f"wrote {stash} from {origin} (--initial-cluster-state=existing); "
            f"the start moves it to {manifest}"
        )
