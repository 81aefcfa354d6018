"""etcd3-py's synchronous client, imported without the package's __init__.

`import etcd3` runs the package's __init__, which imports all of etcd3-py, its asyncio client
too (aiohttp: ~0.2 s, the largest part). Here the package `etcd3` is registered without
running its __init__, and only `etcd3.client` is imported, as etcd3-py ships it.

semantic_version, which etcd3-py compares server versions with, is registered the same way:
its __init__ only re-exports its `base` module and looks its own version up through
importlib.metadata, so `base` is imported and the version is looked up only if read.

What that import still costs is what etcd3.client needs itself: requests (most of it: urllib3,
charset_normalizer, http.client), six, etcd3.utils (inspect, subprocess), etcd3.models and
etcd3.stateful (uuid, platform). The stateful helpers cannot be left out: BaseClient's class
body reads them (`Lock.DEFAULT_LOCK_TTL` is a default argument). Imported once, by the first
gateway client a process makes.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from typing import Any

# What semantic_version's __init__ exports from its `base` module (its only other line looks
# the package's own version up through importlib.metadata, a scan of the installed packages,
# for a string etcd3-py never reads; here it is looked up when first read).
_SEMVER_NAMES = ("compare", "match", "validate", "SimpleSpec", "NpmSpec", "Spec", "SpecItem",
                 "Version")  # fmt: skip


@functools.cache
def client_class() -> type[Any]:
    """etcd3-py's `Client` (etcd3.client.Client), imported narrowly; once per process."""
    if "etcd3" not in sys.modules:
        sys.modules["etcd3"] = _package_without_init("etcd3")
    if "semantic_version" not in sys.modules:
        semver = _package_without_init("semantic_version")
        sys.modules["semantic_version"] = semver
        base = importlib.import_module("semantic_version.base")
        for name in _SEMVER_NAMES:
            setattr(semver, name, getattr(base, name))
        setattr(semver, "__getattr__", _semver_version)  # noqa: B010 (PEP 562, read lazily)
    client: types.ModuleType = importlib.import_module("etcd3.client")
    cls: type[Any] = client.Client
    package = sys.modules["etcd3"]
    if not hasattr(package, "Client"):  # what `etcd3.Client` names, for any later reader
        setattr(package, "Client", cls)  # noqa: B010 (a module attribute mypy cannot see)
        setattr(package, "BaseClient", client.BaseClient)  # noqa: B010
    return cls


def _package_without_init(name: str) -> types.ModuleType:
    """The package `name`, its sub-modules importable, its __init__ not run."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not installed")
    return importlib.util.module_from_spec(spec)


def _semver_version(name: str) -> str:
    """semantic_version.__version__, as its __init__ would have set it."""
    if name != "__version__":
        raise AttributeError(f"module 'semantic_version' has no attribute {name!r}")
    import importlib.metadata

    return importlib.metadata.version("semantic_version")
