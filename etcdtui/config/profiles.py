"""Node profiles: how etcd (and, on a control-plane node, kube-apiserver) is run on a node,
as command templates filled with the node's fields and ``vars``. A ``[profiles.NAME]`` table
overrides or adds to these; its keys are declared here, once (`PROFILE_TABLE`).
"""

from __future__ import annotations

import string

from etcdtui.config.keys import Key, Table
from etcdtui.errors import ConfigError

# kube-apiserver serves again: its /readyz on the node (anonymous access to it is the default).
READYZ = "curl -ksSf --max-time 3 https://127.0.0.1:{apiserver_port}/readyz"
# The rolling upgrade (runbooks/upgrade): `upgrade` switches a stopped member to the new binary
# (vars.upgrade_etcd) or image (vars.upgrade_image), keeping the old unit, env file or manifest
# beside it (never in manifests/). The static-pod profile has none: the runbook switches the
# image itself, a YAML edit of the stopped manifest that keeps the old one as {upgrade_backup}
# (runbooks/upgrade/manifest.py), unless a [profiles.static-pod] table sets `upgrade`.
# `upgrade_rollback` puts the old one back; `upgrade_check` prints the new binary's version;
# `upgrade_flags` prints the member's configuration, for the flags check. The runbook checks
# upgrade_etcd and upgrade_image before any template uses them (an absolute path, a well-formed
# image reference: no character sed or sh would read).
PRE_UPGRADE = ".etcdtui-pre-upgrade"
SYSTEMD_UPGRADE = {
    "upgrade": "cp -p {unit_file} {unit_file}" + PRE_UPGRADE + " && "
    'sed -i "s|^ExecStart=[^ ]*|ExecStart="{upgrade_etcd}"|" {unit_file} && '
    "systemctl daemon-reload",
    "upgrade_rollback": "cp -p {unit_file}"
    + PRE_UPGRADE
    + " {unit_file} && systemctl daemon-reload",
    "upgrade_check": "{upgrade_etcd} --version",
    "upgrade_flags": "systemctl cat {unit} && systemctl show -p Environment {unit}",
}
STATIC_POD_UPGRADE = {
    # Run while the member is stopped: its manifest is then the stash, outside manifests/.
    "upgrade_rollback": "cp -p {upgrade_backup} {manifest_stash}",
    "upgrade_flags": "cat {manifest}",
}
# The lab's service script reads the binary from lab.env, beside it.
LAB_UPGRADE = {
    "upgrade": 'cd "$(dirname {service})" && cp -p lab.env lab.env' + PRE_UPGRADE + " && "
    "( grep -v '^LAB_ETCD_BIN=' lab.env" + PRE_UPGRADE + "; "
    "printf 'LAB_ETCD_BIN=%s\\n' {upgrade_etcd} ) >lab.env",
    "upgrade_rollback": 'cd "$(dirname {service})" && cp -p lab.env' + PRE_UPGRADE + " lab.env",
    "upgrade_check": "{upgrade_etcd} --version",
    "upgrade_flags": "cat {env_file}",
}
# How etcd is run on a node: command templates filled with the node's fields and ``vars``.
BUILTIN_PROFILES: dict[str, dict[str, str]] = {
    "systemd": {
        "start": "systemctl start {unit}",
        "stop": "systemctl stop {unit}",
        "is_active": "systemctl is-active {unit}",
        "apiserver_stop": "systemctl stop {apiserver_unit}",
        "apiserver_start": "systemctl start {apiserver_unit}",
        "apiserver_ready": READYZ,
        **SYSTEMD_UPGRADE,
    },
    "static-pod": {
        "start": "mv {manifest_stash} {manifest}",
        "stop": "mv {manifest} {manifest_stash}",
        "is_active": "test -e {manifest}",
        # Guarded, so that running either twice (a restore resumed) is harmless.
        "apiserver_stop": "test ! -e {apiserver_manifest} || "
        "mv {apiserver_manifest} {apiserver_manifest_stash}",
        "apiserver_start": "test ! -e {apiserver_manifest_stash} || "
        "mv {apiserver_manifest_stash} {apiserver_manifest}",
        "apiserver_ready": READYZ,
        # {servers}, {servers_sed} and {apiserver_backup} are filled in by the member runbooks
        # ({servers_sed} is the whole sed expression, built from checked URLs and quoted as
        # one word). The backup goes outside the manifests folder: kubelet would run a copy
        # left there as a second static pod. kubelet restarts the apiserver when its manifest
        # changes.
        "apiserver_etcd_servers": "cp -p {apiserver_manifest} {apiserver_backup} && "
        "grep -q -e --etcd-servers= {apiserver_manifest} && "
        "sed -i {servers_sed} {apiserver_manifest}",
        **STATIC_POD_UPGRADE,
    },
    # The lab runs etcd under a small service script that behaves like systemctl.
    "lab": {
        "start": "{service} start",
        "stop": "{service} stop",
        "is_active": "{service} is-active",
        **LAB_UPGRADE,
    },
}
PROFILE_DEFAULT_VARS: dict[str, dict[str, str]] = {
    "systemd": {
        "unit": "etcd",
        "unit_file": "/etc/systemd/system/etcd.service",
        "apiserver_unit": "kube-apiserver",
        "apiserver_port": "6443",
    },
    "static-pod": {
        "manifest": "/etc/kubernetes/manifests/etcd.yaml",
        "manifest_stash": "/etc/kubernetes/etcd.yaml.etcdtui-stopped",
        "apiserver_manifest": "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "apiserver_manifest_stash": "/etc/kubernetes/kube-apiserver.yaml.etcdtui-stopped",
        "apiserver_backup_dir": "/etc/kubernetes",
        "apiserver_port": "6443",
        "upgrade_backup": "/etc/kubernetes/etcd.yaml" + PRE_UPGRADE,
    },
    "lab": {},
}

# What a [profiles.NAME] table may set: etcd's own commands and, for a control-plane node
# (apiserver = true), kube-apiserver's.
PROFILE_TABLE = Table(
    "profiles.NAME",
    "command templates that override or add to the node profile NAME",
    (
        Key("start", "start etcd"),
        Key("stop", "stop etcd"),
        Key("is_active", "exit 0 when etcd runs"),
        Key("apiserver_stop", "stop kube-apiserver (on a node with apiserver = true)"),
        Key("apiserver_start", "start kube-apiserver again"),
        Key(
            "control_plane_restart",
            "restart kube-scheduler, kube-controller-manager and kubelet after a restore "
            "(a reminder is shown otherwise)",
        ),
        Key(
            "apiserver_etcd_servers",
            "set kube-apiserver's --etcd-servers to {servers} after a member change",
        ),
        Key("apiserver_ready", "ask whether kube-apiserver serves: exit 0 when it does"),
        Key(
            "upgrade",
            "switch a stopped member to vars.upgrade_etcd (or vars.upgrade_image), keeping "
            "the old unit, env file or manifest beside it (static-pod: unset, the runbook "
            "edits the manifest's image itself)",
        ),
        Key("upgrade_rollback", "put back what `upgrade` replaced"),
        Key("upgrade_check", "print the new binary's version (etcd --version)"),
        Key("upgrade_flags", "print the member's flags or ETCD_* variables, for the upgrade"),
    ),
)
PROFILE_ACTIONS = PROFILE_TABLE.names


def template_fields(template: str, key: str) -> list[str]:
    """The {names} a profile template uses; a malformed one is a ConfigError naming `key`.

    Only plain names are allowed: no positional ``{}``, attribute or index access, conversion
    or format spec, so a template can do nothing but place quoted words."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"profile command {key!r}: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    fields: list[str] = []
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ConfigError(
                f"profile command {key!r}: {shown} is not a plain {{name}} placeholder"
            )
        fields.append(name)
    return fields
