"""Reaching a cluster's members through SSH, for clusters whose client port only the nodes see.

Each member is reached from its node (or the node named by its ``tunnel_via``): one SSH
connection per node, opened on first use and kept (ShellPool), and a ``direct-tcpip`` channel
per HTTP connection (clients/tunnel.py), so TLS is still checked against the member's real
name. Where a node's sshd forbids forwarding, that member is read with etcdctl run on the node
instead (clients/etcdctl.py), and the cluster view says so.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd import EtcdClient, GatewayClient
from etcdtui.clients.etcd_api import HASHKV_TIMEOUT, KeyCount, KvHash, NoGatewayHashKV
from etcdtui.clients.private_dirs import install_cleanup
from etcdtui.clients.range_read import PAGE_TIMEOUT, RangePage
from etcdtui.config import Connection, NodeConfig, TlsFiles
from etcdtui.errors import EtcdError, EtcdtuiError, ForwardingDenied, SshError, SshTimeout
from etcdtui.models import Alarm, Member, MemberStatus

if TYPE_CHECKING:
    import paramiko

    from etcdtui.clients.ssh.shell import ShellPool

T = TypeVar("T")


def open_cluster(connection: Connection, shells: ShellPool | None = None) -> ClusterClient:
    """The ClusterClient for `connection`: direct, or through SSH as its config says.

    Nothing is connected here (the TUI calls this on its UI thread): SSH connections open on
    the first read, in the worker that makes it.
    """
    if not connection.via_ssh and not connection.certs_on_node:
        return ClusterClient(connection)  # and paramiko is never imported
    from etcdtui.clients.ssh.shell import ShellPool

    routes = SshRoutes(connection, shells or ShellPool(connection.nodes))
    return ClusterClient(connection, routes=routes)


def client_without_certificate(cluster: ClusterClient, endpoint: str) -> GatewayClient:
    """A client for `endpoint` that trusts the cluster's CA but presents no certificate, by
    the same route as the cluster's own clients: what an intruder on the network would be."""
    connection = cluster.connection
    routes = cluster.routes
    if not isinstance(routes, SshRoutes):
        return GatewayClient(endpoint, TlsFiles(cacert=connection.tls.cacert), connection.timeout)
    cacert = TlsFiles(cacert=routes.tls().cacert)
    node = connection.node_for_url(endpoint) if connection.via_ssh else None
    return routes.gateway(endpoint, node, tls=cacert)


class SshRoutes:
    """Builds each member's client: tunnelled, or etcdctl on the node when forwarding is off."""

    def __init__(self, connection: Connection, shells: ShellPool) -> None:
        self.connection = connection
        self.shells = shells
        self._lock = threading.Lock()
        self._tls: TlsFiles | None = None
        self._no_forwarding: dict[str, str] = {}  # node name -> what its sshd said
        # What the last connect() could not open: hop node name (or "" for the certificate
        # copies) -> why. Members behind it fail at once in that refresh (until `_down_until`);
        # a call after it tries the way again.
        self._down: dict[str, EtcdtuiError] = {}
        self._down_until = 0.0
        if connection.certs_on_node:
            install_cleanup()  # here, on the caller's (main) thread; the fetch runs in a worker

    def tls(self) -> TlsFiles:
        """The TLS files to use on the bastion: the cluster's, or copies read from a node."""
        if not self.connection.certs_on_node:
            return self.connection.tls
        with self._lock:
            if self._tls is None:
                from etcdtui.clients.node_certs import fetch_certs

                node = self.connection.node(self.connection.certs_on_node)
                self._tls = fetch_certs(self.shells.shell(node.name), self.connection.tls)
            return self._tls

    def _hop(self, endpoint: str) -> str | None:
        node = self.connection.node_for_url(endpoint) if self.connection.via_ssh else None
        return (node.tunnel_via or node.name) if node is not None else None

    def connect(self, endpoints: Iterable[str]) -> None:
        """Open every SSH connection `endpoints` need, at once and each within its own connect
        timeout, then copy the certificates from their node (when the config says so)."""
        hops = {h for e in endpoints if (h := self._hop(e)) is not None}
        certs_node = self.connection.certs_on_node
        if certs_node:
            hops.add(certs_node)
        shells = {h: self.shells.shell(h) for h in sorted(hops)}
        cold = {h: shell for h, shell in shells.items() if not shell.connected}
        down: dict[str, EtcdtuiError] = {}
        if cold:
            limit = 2 * max(self.shells.nodes[h].ssh.connect_timeout for h in cold) + 1
            pool = ThreadPoolExecutor(max_workers=len(cold), thread_name_prefix="ssh-connect")
            futures = {h: pool.submit(shell.connect) for h, shell in cold.items()}
            wait(futures.values(), timeout=limit)
            pool.shutdown(wait=False)
            for hop, future in futures.items():
                if not future.done():
                    down[hop] = SshTimeout(f"{hop}: connecting timed out after {limit:g} s",
                                           node=hop)  # fmt: skip
                elif isinstance(exc := future.exception(), EtcdtuiError):
                    down[hop] = exc
                elif exc is not None:  # the member calls would meet it again: say it once
                    down[hop] = SshError(f"{hop}: {type(exc).__name__}: {exc}", node=hop)
        if certs_node and certs_node in down:
            down[""] = down[certs_node]
        elif certs_node:
            try:
                self.tls()
            except EtcdtuiError as exc:
                down[""] = exc
        with self._lock:
            self._down = down
            self._down_until = time.monotonic() + self.connection.timeout + 1.0

    def check_up(self, node: NodeConfig | None) -> None:
        """Raise (a copy of) what the last connect() found wrong with `node`'s way, if any."""
        with self._lock:
            if time.monotonic() > self._down_until:
                return
            error = self._down.get("") or (
                self._down.get(node.tunnel_via or node.name) if node is not None else None
            )
        if error is not None:
            raise copy.copy(error)

    def notes(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(
                f"{message}: reading {node} with etcdctl on the node"
                for node, message in sorted(self._no_forwarding.items())
            )

    def forwarding_denied(self, node: str, message: str) -> None:
        with self._lock:
            self._no_forwarding[node] = message

    def forwarding_allowed(self, node: str) -> bool:
        with self._lock:
            return node not in self._no_forwarding

    def routable(self, endpoint: str) -> bool:
        return not self.connection.via_ssh or self.connection.node_for_url(endpoint) is not None

    def client(self, endpoint: str) -> EtcdClient:
        if not self.connection.via_ssh:
            return RoutedClient(self, endpoint, None)  # direct, with certificates from a node
        node = self.connection.node_for_url(endpoint)
        if node is None:
            return RoutedClient(self, endpoint, None, unrouted=True)
        return RoutedClient(self, endpoint, node)

    def gateway(
        self, endpoint: str, node: NodeConfig | None, tls: TlsFiles | None = None
    ) -> GatewayClient:
        """A gateway client for `endpoint`, through a tunnel from `node` (direct if None),
        presenting `tls` (default: the cluster's client certificate)."""
        from etcdtui.clients.tunnel import TunnelAdapter

        timeout = self.connection.timeout
        tls = tls or self.tls()
        if node is None:
            return GatewayClient(endpoint, tls, timeout)
        hop = self.shells.shell(node.tunnel_via or node.name)
        target = urlsplit(node.client_url_on_node)
        host, port = target.hostname or "127.0.0.1", target.port or 2379

        def opener(connect_timeout: float) -> paramiko.Channel:
            return hop.open_channel(host, port, connect_timeout)

        return GatewayClient(endpoint, tls, timeout, adapter=TunnelAdapter(opener, timeout))

    def etcdctl(self, endpoint: str, node: NodeConfig) -> EtcdClient:
        """etcdctl run over SSH on the node that reaches `endpoint`."""
        from etcdtui.clients.etcdctl import EtcdctlClient  # only where forwarding is refused

        hop = node.tunnel_via or node.name
        client: EtcdClient = EtcdctlClient(
            endpoint,
            self.shells.shell(hop),
            node_endpoint=node.client_url_on_node,
            etcdctl=node.vars.get("etcdctl", "etcdctl"),
            tls=self.connection.node_tls(node),
            timeout=self.connection.timeout,
        )
        return client

    def close(self) -> None:
        self.shells.close_all()
        with self._lock:
            if self._tls is not None:
                from etcdtui.clients.node_certs import discard

                discard(self._tls)
                self._tls = None


class RoutedClient:
    """One member's EtcdClient through SSH; picks its way on first use, and again if the
    node turns out to refuse forwarding."""

    def __init__(
        self,
        routes: SshRoutes,
        endpoint: str,
        node: NodeConfig | None,
        unrouted: bool = False,
    ) -> None:
        self.routes = routes
        self.endpoint = endpoint
        self.timeout = routes.connection.timeout
        self.node = node
        self.unrouted = unrouted
        self._lock = threading.Lock()
        self._delegate: EtcdClient | None = None

    def _current(self) -> EtcdClient:
        if self.unrouted:
            raise EtcdError(
                f"{self.endpoint}: no node in the config has this client URL, so it cannot be "
                "reached through SSH",
                hint="add it to a node's client_urls",
                endpoint=self.endpoint,
            )
        with self._lock:
            if self._delegate is None:
                node = self.node
                if node is not None and not self.routes.forwarding_allowed(
                    node.tunnel_via or node.name
                ):
                    self._delegate = self.routes.etcdctl(self.endpoint, node)
                else:
                    self._delegate = self.routes.gateway(self.endpoint, node)
            return self._delegate

    def _call(self, call: Callable[[EtcdClient], T]) -> T:
        self.routes.check_up(self.node)
        client = self._current()
        try:
            return call(client)
        except ForwardingDenied as exc:
            node = self.node
            if node is None:
                raise
            self.routes.forwarding_denied(node.tunnel_via or node.name, exc.message)
            with self._lock:
                if self._delegate is client:
                    self._delegate = self.routes.etcdctl(self.endpoint, node)
            client.close()
            return call(self._current())

    def status(self) -> MemberStatus:
        return self._call(lambda c: c.status())

    def member_list(self) -> tuple[Member, ...]:
        return self._call(lambda c: c.member_list())

    def alarms(self) -> tuple[Alarm, ...]:
        return self._call(lambda c: c.alarms())

    def linearizable_read(self) -> float:
        return self._call(lambda c: c.linearizable_read())

    def metrics_text(self) -> str:
        return self._call(lambda c: c.metrics_text())

    def version_text(self) -> str:
        return self._call(lambda c: c.version_text())

    def defragment(self, timeout: float) -> None:
        self._call(lambda c: c.defragment(timeout))

    def snapshot_chunks(self, timeout: float) -> Iterator[bytes]:
        """The snapshot stream through the tunnel (not available through etcdctl on a node)."""
        client = self._current()
        if not isinstance(client, GatewayClient):
            raise EtcdError(
                f"{self.endpoint}: its node refuses port forwarding, so the snapshot cannot be "
                "streamed from here",
                hint="take it on the node: snapshot save --on-node NODE",
                endpoint=self.endpoint,
            )
        try:
            yield from client.snapshot_chunks(timeout)
        except ForwardingDenied as exc:
            if self.node is not None:
                self.routes.forwarding_denied(self.node.tunnel_via or self.node.name, exc.message)
            raise EtcdError(
                f"{self.endpoint}: {exc.message}: the snapshot cannot be streamed from here",
                hint="take it on the node: snapshot save --on-node NODE",
                endpoint=self.endpoint,
            ) from None

    def compact(self, revision: int, timeout: float) -> None:
        self._call(lambda c: c.compact(revision, timeout))

    def disarm_alarm(self, member_id: int, alarm: str) -> None:
        self._call(lambda c: c.disarm_alarm(member_id, alarm))

    def move_leader(self, target_id: int, timeout: float) -> None:
        self._call(lambda c: c.move_leader(target_id, timeout))

    def key_count(self) -> int:
        return self._call(lambda c: c.key_count())

    def hashkv(self, revision: int, timeout: float = HASHKV_TIMEOUT) -> KvHash:
        """HashKV through the tunnel, or from etcdctl on the node when the member's gateway
        does not serve it (etcd before 3.5.5)."""
        try:
            return self._call(lambda c: c.hashkv(revision, timeout))
        except NoGatewayHashKV:
            if self.node is None:
                raise
            return self.routes.etcdctl(self.endpoint, self.node).hashkv(revision, timeout)

    def serializable_count(self) -> KeyCount:
        return self._call(lambda c: c.serializable_count())

    def range_page(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int,
        keys_only: bool,
        revision: int = 0,
        timeout: float = PAGE_TIMEOUT,
    ) -> RangePage:
        return self._call(lambda c: c.range_page(start, end, limit=limit, keys_only=keys_only,
                                                 revision=revision, timeout=timeout))  # fmt: skip

    def member_add(self, name: str, peer_urls: tuple[str, ...], is_learner: bool) -> Member:
        return self._call(lambda c: c.member_add(name, peer_urls, is_learner))

    def member_remove(self, member_id: int) -> None:
        self._call(lambda c: c.member_remove(member_id))

    def member_promote(self, member_id: int) -> None:
        self._call(lambda c: c.member_promote(member_id))

    def put(self, key: bytes, value: bytes) -> None:
        self._call(lambda c: c.put(key, value))

    def delete(self, key: bytes) -> None:
        self._call(lambda c: c.delete(key))

    def get(self, key: bytes) -> bytes | None:
        return self._call(lambda c: c.get(key))

    def lease_grant(self, ttl: int) -> int:
        return self._call(lambda c: c.lease_grant(ttl))

    def lease_keepalive(self, lease_id: int) -> int:
        return self._call(lambda c: c.lease_keepalive(lease_id))

    def lease_revoke(self, lease_id: int) -> None:
        self._call(lambda c: c.lease_revoke(lease_id))

    def put_if_absent(self, key: bytes, value: bytes, lease_id: int) -> bytes | None:
        return self._call(lambda c: c.put_if_absent(key, value, lease_id))

    def close(self) -> None:
        with self._lock:
            client, self._delegate = self._delegate, None
        if client is not None:
            client.close()


if TYPE_CHECKING:

    def _is_etcd_client(client: RoutedClient) -> EtcdClient:
        """Never called: mypy checks here that RoutedClient really satisfies EtcdClient."""
        return client
