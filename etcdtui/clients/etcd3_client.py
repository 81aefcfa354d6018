"""etcd3-py's synchronous client, imported without the package's __init__.

`import etcd3` runs the package's __init__, which imports all of etcd3-py, its asyncio client
too (aiohttp: ~0.2 s, the largest part). Here the package `etcd3` is registered without
running its __init__, and only `etcd3.client` is imported, as etcd3-py ships it.

semantic_version, which etcd3-py compares server versions with, is registered the same way:
its __init__ only re-exports its `base` module and looks its own version up through
importlib.metadata, so `base` is imported and the version is looked up only if read.

Two packages requests imports are registered with their __init__ deferred to the first use
of a name it defines (a sub-module is still imported by itself, without it):
- charset_normalizer: requests reads only its `__version__` when imported, and its detector
  only to guess the encoding of a body that names none (the gateway's JSON never needs it);
- urllib3.http2: its __init__ imports importlib.metadata (a scan of the installed packages)
  to check h2's version when HTTP/2 is switched on; urllib3 itself imports only its `probe`.

What that import still costs is what etcd3.client needs itself: requests (urllib3,
http.client, http.cookiejar, ssl), six, etcd3.utils (inspect, subprocess), etcd3.models and
etcd3.stateful (uuid, platform). The stateful helpers cannot be left out: BaseClient's class
body reads them (`Lock.DEFAULT_LOCK_TTL` is a default argument). Imported once, by the first
gateway client a process makes.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
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
    http2 = charset = None
    if "requests" not in sys.modules:  # requests' own imports are still to come
        http2 = _defer_init("urllib3.http2")
        charset = _defer_init("charset_normalizer")
    if charset is not None:
        version = importlib.import_module("charset_normalizer.version")
        setattr(charset, "__version__", version.__version__)  # noqa: B010
    client: types.ModuleType = importlib.import_module("etcd3.client")
    if http2 is not None and "urllib3" in sys.modules:  # what `urllib3.http2` names
        setattr(sys.modules["urllib3"], "http2", http2)  # noqa: B010
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


def _defer_init(name: str) -> types.ModuleType | None:
    """Registers the package `name` (not imported yet) with its __init__ run only when a name
    it defines is first read; its sub-modules import without it. None when it is already
    imported or not installed (then its importer finds it, or fails, as before)."""
    if name in sys.modules:
        return None
    parent, _, _ = name.rpartition(".")
    if parent:  # found without importing the parent, whose import may need this package
        parent_spec = importlib.util.find_spec(parent)
        where = parent_spec.submodule_search_locations if parent_spec else None
        spec = importlib.machinery.PathFinder.find_spec(name, where) if where else None
    else:
        spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return None
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def first_use(attribute: str) -> Any:
        if not attribute.startswith("__"):
            try:
                return importlib.import_module(f"{name}.{attribute}")
            except ModuleNotFoundError as error:
                if error.name != f"{name}.{attribute}":
                    raise
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, attribute)

    setattr(module, "__getattr__", first_use)  # noqa: B010 (PEP 562)
    sys.modules[name] = module
    return module


def _semver_version(name: str) -> str:
    """semantic_version.__version__, as its __init__ would have set it."""
    if name != "__version__":
        raise AttributeError(f"module 'semantic_version' has no attribute {name!r}")
    import importlib.metadata

    return importlib.metadata.version("semantic_version")
