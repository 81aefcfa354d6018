"""A static pod's switch to the new image, as a YAML edit of its etcd.yaml.

The YAML parser finds the etcd container's ``image`` (not a line that looks like one: an
init container's or a sidecar's image stays as it is), and only the bytes of that value are
replaced, so comments, key order, quoting and every other line stay exactly as they were. The
result is loaded again and must equal the old manifest with that one value changed. Preflight
tries the edit on each manifest first (`image_edit_checks`).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models.runbook import Check, Verdict
from etcdtui.models.text import printable
from etcdtui.runbooks.upgrade.preflight import NodeReads
from etcdtui.runbooks.upgrade.steps import edits_image


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value under `key` of a mapping node (None when there is none)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            found: yaml.Node = v
            return found
    return None


def _is_etcd(container: yaml.Node) -> bool:
    command = _child(container, "command")
    if not isinstance(command, yaml.SequenceNode) or not command.value:
        return False
    first = command.value[0]
    return isinstance(first, yaml.ScalarNode) and str(first.value).endswith("etcd")


def _image_node(text: str, origin: str) -> yaml.ScalarNode:
    """The scalar node of the etcd container's image (EtcdtuiError when there is none)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EtcdtuiError(f"{origin}: not YAML ({str(exc).splitlines()[0]})") from None
    containers = _child(_child(root, "spec"), "containers")
    items = containers.value if isinstance(containers, yaml.SequenceNode) else []
    etcd = [c for c in items if _is_etcd(c)]
    if len(etcd) != 1:
        raise EtcdtuiError(f"{origin}: {len(etcd)} etcd containers, not one")
    image = _child(etcd[0], "image")
    if not isinstance(image, yaml.ScalarNode) or image.tag != "tag:yaml.org,2002:str":
        raise EtcdtuiError(f"{origin}: the etcd container has no image")
    return image


def etcd_image(text: str, origin: str) -> str:
    """The image the manifest's etcd container runs."""
    return str(_image_node(text, origin).value)


def with_etcd_image(text: str, image: str, origin: str) -> str:
    """`text` with its etcd container's image set to `image` (a reference preflight checked:
    plain characters, safe unquoted or in either quote style), nothing else changed."""
    node = _image_node(text, origin)
    quote = node.style if node.style in ("'", '"') else ""
    start, end = node.start_mark.index, node.end_mark.index
    new = text[:start] + quote + image + quote + text[end:]
    expected = _with_image(yaml.safe_load(text), image)
    if yaml.safe_load(new) != expected:  # a value spanning what was replaced: refuse it
        raise EtcdtuiError(f"{origin}: the image {printable(node.value)!r} could not be edited")
    return new


def _with_image(pod: Any, image: str) -> Any:
    """The loaded pod with its etcd container's image set (for the check above)."""
    pod = copy.deepcopy(pod)
    for container in pod["spec"]["containers"]:
        if str((container.get("command") or [""])[0]).endswith("etcd"):
            container["image"] = image
    return pod


def image_edit_checks(connection: Connection, reads: list[NodeReads]) -> list[Check]:
    """For the static pods whose image the runbook edits: their manifest (as `upgrade_flags`
    printed it) has one etcd container whose image the edit can set. No check without them."""
    edited = [read for read in reads if edits_image(connection, read.node)]
    if not edited:
        return []
    problems = []
    for read in edited:
        origin = f"{read.node.name}:{connection.profile_var(read.node, 'manifest')}"
        if not isinstance(read.flags, str):
            problems.append(f"{origin}: not read")
            continue
        try:
            with_etcd_image(read.flags, str(read.node.vars.get("upgrade_image", "")), origin)
        except EtcdtuiError as exc:
            problems.append(exc.message)
    if problems:
        return [Check("manifest image editable", Verdict.FAIL, "; ".join(problems))]
    return [Check("manifest image editable", Verdict.PASS,
                  f"{len(edited)} manifests: the etcd container's image, a YAML edit")]  # fmt: skip
