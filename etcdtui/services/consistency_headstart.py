"""A head start for a consistency reading of a cluster reached directly: HashKV begins at once,
through etcdctl on this machine, while the reading's other work goes on.

The first gateway client a process makes imports etcd3-py and requests (0.3 to 0.6 s), about
as long as hashing a few hundred MB. When etcdctl is installed here and no member is reached
through SSH, the head start reads every configured endpoint's revision with `etcdctl endpoint
status` (a Go process starts in milliseconds) and has each hash at the lowest of them, all in
parallel. The reading takes these hashes only if they answer for exactly the members it found,
at one revision, with no compaction in between; otherwise it hashes as it would have.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd_api import KvHash
from etcdtui.clients.etcdctl import EtcdctlClient
from etcdtui.clients.local_shell import LocalShell
from etcdtui.errors import EtcdtuiError


@dataclass(frozen=True)
class EarlyHash:
    """One endpoint's HashKV from the head start, or why it has none."""

    endpoint: str
    answer: KvHash | None
    seconds: float
    error: str = ""


class HeadStart:
    """HashKV of every configured endpoint at one revision, started before anything else."""

    def __init__(self, cluster: ClusterClient, etcdctl: str, hash_timeout: float) -> None:
        connection = cluster.connection
        self.clients = {
            e: EtcdctlClient(e, LocalShell(), node_endpoint=e, etcdctl=etcdctl,
                             tls=connection.tls, timeout=connection.timeout)
            for e in dict.fromkeys(connection.endpoints)
        }  # fmt: skip
        self.hash_timeout = hash_timeout
        self._pool = ThreadPoolExecutor(max_workers=len(self.clients) + 1)
        self._result: Future[tuple[int, dict[str, EarlyHash]]] = self._pool.submit(self._run)

    @classmethod
    def begin(cls, cluster: ClusterClient, hash_timeout: float) -> HeadStart | None:
        """A head start, or None where it does not apply: a member reached through SSH
        (etcdctl must then run on its node), certificates only on the nodes, or no etcdctl."""
        connection = cluster.connection
        if cluster.routes is not None or connection.via_ssh or connection.certs_on_node:
            return None
        etcdctl = shutil.which("etcdctl")
        if etcdctl is None or not connection.endpoints:
            return None
        return cls(cluster, etcdctl, hash_timeout)

    def _run(self) -> tuple[int, dict[str, EarlyHash]]:
        """(the revision hashed at, each endpoint's hash); (0, {}) when a status read fails."""
        try:
            statuses = list(self._pool.map(lambda c: c.status(), self.clients.values()))
        except EtcdtuiError:
            return 0, {}
        revision = min(s.revision for s in statuses)
        if revision <= 0:
            return 0, {}

        def one(endpoint: str) -> EarlyHash:
            started = time.perf_counter()
            try:
                answer = self.clients[endpoint].hashkv(revision, self.hash_timeout)
            except EtcdtuiError as exc:
                return EarlyHash(endpoint, None, time.perf_counter() - started, exc.message)
            return EarlyHash(endpoint, answer, time.perf_counter() - started)

        return revision, {h.endpoint: h for h in self._pool.map(one, self.clients)}

    def result(self, endpoints: set[str]) -> tuple[int, dict[str, EarlyHash]] | None:
        """The head start's hashes if they serve the reading: one answer for each of
        `endpoints` (the members found), no other, all at one compact revision."""
        try:
            revision, found = self._result.result()
        finally:
            self._pool.shutdown(wait=False)
        if revision <= 0 or set(found) != endpoints:
            return None
        answers = [h.answer for h in found.values()]
        if any(a is None for a in answers):
            return None
        if len({a.compact_revision for a in answers if a is not None}) != 1:
            return None
        return revision, found
