"""etcd3-py's synchronous client, imported without the package's __init__.

`import etcd3` runs the package's __init__, which imports all of etcd3-py, its asyncio client
too (aiohttp: ~0.2 s, the largest part). Here the package `etcd3` is registered without
running its __init__, and only `etcd3.client` is imported, as etcd3-py ships it.

What that import still costs is what etcd3.client needs itself: requests (most of it: urllib3,
charset_normalizer, http.client), semantic_version (which looks its own version up through
importlib.metadata), six, etcd3.utils (inspect, subprocess), etcd3.models and etcd3.stateful
(uuid, platform). The stateful helpers cannot be left out: BaseClient's class body reads them
(`Lock.DEFAULT_LOCK_TTL` is a default argument). Imported once, by the first gateway client a
process makes.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from typing import Any


@functools.cache
def client_class() -> type[Any]:
    """etcd3-py's `Client` (etcd3.client.Client), imported narrowly; once per process."""
    if "etcd3" not in sys.modules:
        spec = importlib.util.find_spec("etcd3")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("etcd3-py is not installed")
        # The package, its sub-modules importable, its __init__ not run.
        sys.modules["etcd3"] = importlib.util.module_from_spec(spec)
    client: types.ModuleType = importlib.import_module("etcd3.client")
    cls: type[Any] = client.Client
    package = sys.modules["etcd3"]
    if not hasattr(package, "Client"):  # what `etcd3.Client` names, for any later reader
        setattr(package, "Client", cls)  # noqa: B010 (a module attribute mypy cannot see)
        setattr(package, "BaseClient", client.BaseClient)  # noqa: B010
    return cls
