"""What a control-plane node says about its etcd and kube-apiserver, read from its files.

Static pods (kubeadm's /etc/kubernetes/manifests) are parsed here, and what systemd units and
static pods share (flags, etcd's defaults, the settings themselves); the systemd side is in
`systemd`. Both work from text the caller has already read: no I/O, so every rule can be tested
with the exact bytes of a real node.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from etcdtui.errors import EtcdtuiError


class KubeConfigError(EtcdtuiError):
    """A manifest, unit or etcd config file that is not what it should be; names the file."""


# etcd's own defaults (embed.NewConfig in 3.5) for whatever no flag, variable or file sets.
ETCD_DEFAULTS: Mapping[str, str] = {
    "name": "default",
    "listen-client-urls": "http://localhost:2379",
    "advertise-client-urls": "http://localhost:2379",
    "listen-peer-urls": "http://localhost:2380",
    "initial-advertise-peer-urls": "http://localhost:2380",
    "initial-cluster-state": "new",
    "initial-cluster-token": "etcd-cluster",
}

# Go's flag package lets a boolean stand alone, so `--client-cert-auth --data-dir=x` must not
# swallow the next word as its value; any other flag written `--flag value` takes the next word.
_BOOL_FLAG_NAMES = """
    client-cert-auth peer-client-cert-auth auto-tls peer-auto-tls strict-reconfig-check
    enable-v2 enable-pprof enable-grpc-gateway force-new-cluster debug unsafe-no-fsync
    socket-reuse-port socket-reuse-address peer-skip-client-san-verification
    experimental-initial-corrupt-check experimental-enable-distributed-tracing
    experimental-enable-lease-checkpoint experimental-memory-mlock allow-privileged
    enable-bootstrap-token-auth enable-aggregator-routing version help
"""
_BOOL_FLAGS = frozenset(_BOOL_FLAG_NAMES.split())
_SHELLS = frozenset({"sh", "bash", "ash", "dash"})


def is_loopback_host(host: str) -> bool:
    """True for localhost, ::1 and anything in 127.0.0.0/8."""
    host = host.lower().strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def url_host(url: str) -> str:
    """The host part of a URL, lower-cased, without IPv6 brackets ("" if there is none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


@dataclass(frozen=True)
class EtcdSettings:
    """How one node runs its etcd member, as its static pod manifest or systemd unit says."""

    source: str  # "static-pod" or "systemd"
    origin: str  # the file(s) it was read from
    name: str
    data_dir: str  # on the host: a static pod's hostPath is already resolved
    listen_client_urls: tuple[str, ...]
    advertise_client_urls: tuple[str, ...]
    listen_peer_urls: tuple[str, ...]
    initial_advertise_peer_urls: tuple[str, ...]
    initial_cluster: str = ""
    initial_cluster_state: str = ""
    initial_cluster_token: str = ""
    cert_file: str = ""
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False
    peer_cert_file: str = ""
    peer_key_file: str = ""
    peer_trusted_ca_file: str = ""
    peer_client_cert_auth: bool = False
    image: str = ""
    # Every setting as given, keyed by flag name without dashes ({"data-dir": "/var/lib/etcd"}).
    flags: Mapping[str, str] = field(default_factory=dict)

    @property
    def client_tls(self) -> bool:
        """Every advertised client URL is https."""
        urls = self.advertise_client_urls
        return bool(urls) and all(u.lower().startswith("https://") for u in urls)

    @property
    def peer_tls(self) -> bool:
        """Every advertised peer URL is https."""
        urls = self.initial_advertise_peer_urls
        return bool(urls) and all(u.lower().startswith("https://") for u in urls)

    @property
    def local_client_url(self) -> str:
        """Where a tool on the node itself reaches the member: loopback if it listens there."""
        for url in self.listen_client_urls:
            if is_loopback_host(url_host(url)):
                return url
        return self.advertise_client_urls[0] if self.advertise_client_urls else ""


@dataclass(frozen=True)
class ApiserverSettings:
    """The etcd flags of one kube-apiserver."""

    origin: str
    etcd_servers: tuple[str, ...]
    etcd_cafile: str = ""
    etcd_certfile: str = ""
    etcd_keyfile: str = ""
    image: str = ""


def parse_flags(args: Sequence[str]) -> dict[str, str]:
    """`--a=1 --b 2 --c` → {"a": "1", "b": "2", "c": "true"}; the last of a repeated flag wins.

    Words that are not flags (and everything after a bare `--`) are skipped.
    """
    flags: dict[str, str] = {}
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            continue
        name, sep, value = word.lstrip("-").partition("=")
        if not sep:
            if name not in _BOOL_FLAGS and i < len(args) and not args[i].startswith("-"):
                value = args[i]
                i += 1
            else:
                value = "true"
        flags[name] = value
    return flags


def _bool(value: str) -> bool:
    # Go's strconv.ParseBool, which etcd uses for flags and ETCD_* variables alike.
    return value.strip().lower() in ("1", "t", "true")


def _urls(value: str) -> tuple[str, ...]:
    return tuple(u.strip() for u in value.split(",") if u.strip())


def _etcd_settings(
    source: str, origin: str, given: Mapping[str, str], data_dir: str = "", image: str = ""
) -> EtcdSettings:
    merged = {**ETCD_DEFAULTS, **given}
    name = merged["name"]
    peer_urls = _urls(merged["initial-advertise-peer-urls"])
    # etcd's defaults, computed as etcd computes them when nothing sets them: the data
    # directory "${name}.etcd" (relative to its working directory) and a one-member cluster.
    initial_cluster = merged.get("initial-cluster") or ",".join(f"{name}={u}" for u in peer_urls)
    return EtcdSettings(
        source=source,
        origin=origin,
        name=name,
        data_dir=data_dir or merged.get("data-dir") or f"{name}.etcd",
        listen_client_urls=_urls(merged["listen-client-urls"]),
        advertise_client_urls=_urls(merged["advertise-client-urls"]),
        listen_peer_urls=_urls(merged["listen-peer-urls"]),
        initial_advertise_peer_urls=peer_urls,
        initial_cluster=initial_cluster,
        initial_cluster_state=merged["initial-cluster-state"],
        initial_cluster_token=merged["initial-cluster-token"],
        cert_file=merged.get("cert-file", ""),
        key_file=merged.get("key-file", ""),
        trusted_ca_file=merged.get("trusted-ca-file", ""),
        client_cert_auth=_bool(merged.get("client-cert-auth", "false")),
        peer_cert_file=merged.get("peer-cert-file", ""),
        peer_key_file=merged.get("peer-key-file", ""),
        peer_trusted_ca_file=merged.get("peer-trusted-ca-file", ""),
        peer_client_cert_auth=_bool(merged.get("peer-client-cert-auth", "false")),
        image=image,
        flags=dict(given),
    )


# --- static pods -------------------------------------------------------------------------------


def _yaml_error(origin: str, exc: yaml.YAMLError) -> KubeConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return KubeConfigError(f"{origin}: not valid YAML{where}")


def _load_pod(text: str, origin: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(origin, exc) from exc
    if not isinstance(doc, dict) or doc.get("kind") != "Pod":
        kind = doc.get("kind") if isinstance(doc, dict) else None
        what = f"kind {kind}" if kind else "no kind"
        raise KubeConfigError(f"{origin}: not a Kubernetes Pod manifest ({what})")
    return doc


def _expand(words: list[str], env: Mapping[str, str]) -> list[str]:
    # systemd's rules: a word that is exactly $VAR becomes the value split into words,
    # ${VAR} is replaced in place as part of one word; unset variables are empty. Kept here,
    # not in `systemd`, because _argv_after also expands the script of an `sh -c` ExecStart=.
    out: list[str] = []
    for word in words:
        whole = re.fullmatch(r"\$(\w+)", word)
        if whole:
            value = env.get(whole[1], "")
            try:
                out.extend(shlex.split(value))
            except ValueError:
                out.extend(value.split())
        else:
            out.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m[1], ""), word))
    return out


def _words(items: object) -> list[str]:
    return [str(w) for w in items] if isinstance(items, list) else []


def _argv_after(binary: str, words: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The arguments `binary` gets from a command line, seeing through `sh -c "... binary ..."`."""
    if words and posixpath.basename(words[0]) in _SHELLS and "-c" in words[1:-1]:
        script = words[words.index("-c") + 1]
        try:
            inner = shlex.split(script, comments=True)
        except ValueError:
            inner = script.split()
        words = _expand(inner, env) if env is not None else inner
    for i, word in enumerate(words):
        if posixpath.basename(word) == binary:
            return words[i + 1 :]
    return words[1:]


def _container(pod: dict[str, Any], binary: str, origin: str) -> tuple[dict[str, Any], list[str]]:
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    for c in containers if isinstance(containers, list) else []:
        if not isinstance(c, dict):
            continue
        command = _words(c.get("command"))
        named = c.get("name") == binary
        if named or (command and posixpath.basename(command[0]) == binary):
            args = (_argv_after(binary, command) if command else []) + _words(c.get("args"))
            return c, args
    raise KubeConfigError(f"{origin}: no {binary} container in this Pod")


def _host_path(path: str, container: dict[str, Any], pod: dict[str, Any]) -> str:
    """Translate a path inside the container to the node's, through a hostPath volume."""
    if not path.startswith("/"):
        return path
    path = posixpath.normpath(path)
    best: tuple[str, dict[str, Any]] | None = None
    for mount in container.get("volumeMounts") or []:
        if not isinstance(mount, dict) or not mount.get("mountPath"):
            continue
        mount_path = posixpath.normpath(str(mount["mountPath"]))
        inside = path == mount_path or path.startswith(mount_path.rstrip("/") + "/")
        if inside and (best is None or len(mount_path) > len(best[0])):
            best = (mount_path, mount)
    if best is None:
        return path
    mount_path, mount = best
    spec = pod.get("spec") or {}
    volume = next(
        (
            v
            for v in spec.get("volumes") or []
            if isinstance(v, dict) and v.get("name") == mount.get("name")
        ),
        None,
    )
    host_path = volume.get("hostPath") if volume else None
    host = host_path.get("path") if isinstance(host_path, dict) else None
    if not host:
        # An emptyDir or a PersistentVolume has no fixed place on the node: keep what etcd sees.
        return path
    rest = path[len(mount_path) :].lstrip("/")
    return posixpath.normpath(posixpath.join(str(host), str(mount.get("subPath") or ""), rest))


def parse_etcd_manifest(text: str, origin: str) -> EtcdSettings:
    """An etcd static pod manifest (kubeadm's etcd.yaml) → its settings, data dir on the host."""
    pod = _load_pod(text, origin)
    container, args = _container(pod, "etcd", origin)
    flags = parse_flags(args)
    data_dir = flags.get("data-dir", "")
    host_dir = _host_path(data_dir, container, pod) if data_dir else ""
    return _etcd_settings(
        "static-pod", origin, flags, data_dir=host_dir, image=str(container.get("image") or "")
    )


def parse_apiserver_manifest(text: str, origin: str) -> ApiserverSettings:
    """A kube-apiserver static pod manifest → the etcd servers and client certificate it uses."""
    pod = _load_pod(text, origin)
    container, args = _container(pod, "kube-apiserver", origin)
    flags = parse_flags(args)
    return ApiserverSettings(
        origin=origin,
        etcd_servers=_urls(flags.get("etcd-servers", "")),
        etcd_cafile=flags.get("etcd-cafile", ""),
        etcd_certfile=flags.get("etcd-certfile", ""),
        etcd_keyfile=flags.get("etcd-keyfile", ""),
        image=str(container.get("image") or ""),
    )
