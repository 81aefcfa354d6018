"""The gateway's snapshot stream decoded as it arrives, on a real etcd's gateway."""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
from collections.abc import Callable

import pytest
import requests

from etcdtui.clients.gateway import GatewayClient
from etcdtui.clients.gateway_snapshot import BlobDecoder
from etcdtui.lab import LabInfo
from etcdtui.snapshots.sink import DigestCheck
from tests.helpers.labs import VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_the_real_gateway_stream_split_anywhere_decodes_as_json_would(
    make_lab: Callable[..., LabInfo], version: str
) -> None:
    info = make_lab(etcd_version=version)
    endpoint = info.endpoints[1]
    client = GatewayClient(endpoint, timeout=10)
    try:
        for i in range(24):  # 1.5 MB: about fifty of the gateway's messages
            client.put(f"/fill/{i}".encode(), os.urandom(64 * 1024))
        raw = requests.post(f"{endpoint}/v3/maintenance/snapshot", json={}, timeout=30).content
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        assert len(lines) > 40
        expected = b"".join(base64.b64decode(m["result"]["blob"]) for m in lines)
        rng = random.Random(version)
        for _ in range(3):
            cuts = sorted(rng.randrange(len(raw)) for _ in range(rng.choice([3, 300, 3000])))
            decoder = BlobDecoder(endpoint)
            edges = [0, *cuts, len(raw)]
            got = b"".join(b"".join(decoder.feed(raw[a:b])) for a, b in itertools.pairwise(edges))
            decoder.finish()
            assert got == expected
        # And the client's own stream, read as a save reads it: etcd's trailer checks out.
        check = DigestCheck()
        for chunk in client.snapshot_chunks(30):
            check.update(chunk)
        check.verify(endpoint)
        assert check.size > len(expected) - 64 * 1024
    finally:
        client.close()
