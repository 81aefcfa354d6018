"""Reading a whole cluster at once: every member in parallel, each call with its own timeout.

A frozen member (its process stopped, its sockets still accepting) costs one timeout for the
whole refresh, not one per call or per member: every call is submitted at once, and the
refresh stops waiting at a hard deadline.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from etcdtui.clients.etcd import EtcdClient, GatewayClient, explain_client_cert
from etcdtui.clients.local_shell import etcdctl_here
from etcdtui.clients.metrics import parse_metrics
from etcdtui.config import Connection
from etcdtui.errors import EtcdError, EtcdtuiError
from etcdtui.models import (
    Alarm,
    ClusterView,
    Member,
    MemberHealth,
    MemberMetrics,
    MemberStatus,
    MemberView,
)

ClientFactory = Callable[[str], EtcdClient]
# Slack on top of the per-call timeout before a refresh gives up on a call that never returned.
_DEADLINE_SLACK = 0.25


@dataclass
class _Probe:
    """The calls made to one endpoint during one refresh."""

    endpoint: str
    status: Future[MemberStatus]
    read: Future[float] | None
    metrics: Future[MemberMetrics] | None


def _error_text(
    exc: BaseException | None, endpoint: str, timeout: float, cert_file: str = ""
) -> str:
    if exc is None:
        return f"{endpoint}: timed out after {timeout:.1f} s"
    if isinstance(exc, EtcdError):
        # A member that refuses our handshake says only "bad certificate" (3.5) or hangs up
        # (3.4): an expired or not yet valid client certificate is named here instead.
        return explain_client_cert(exc, cert_file).message
    if isinstance(exc, EtcdtuiError):
        return exc.message
    return f"{endpoint}: {type(exc).__name__}: {exc}"


def _result(future: Future[Any] | None) -> tuple[Any, BaseException | None]:
    """(value, None), (None, error), or (None, None) when it is still running."""
    if future is None or not future.done():
        return None, None
    exc = future.exception()
    return (None, exc) if exc is not None else (future.result(), None)


class Routes(Protocol):
    """How members are reached when not directly (through SSH: clients/via_ssh.py)."""

    def client(self, endpoint: str) -> EtcdClient: ...

    def routable(self, endpoint: str) -> bool:
        """Whether a client URL learned from the member list can be reached this way."""
        ...

    def notes(self) -> tuple[str, ...]: ...

    def connect(self, endpoints: Iterable[str]) -> None:
        """Open what reaching `endpoints` needs (SSH connections, certificate copies) within
        its own timeouts, before a refresh starts its clock; a way that fails is remembered
        for this refresh, and its members' calls fail at once with its error."""
        ...

    def close(self) -> None: ...


class ClusterSource(Protocol):
    """Where a dashboard gets its refreshes from (a live cluster, or fixed data)."""

    def read(self, metrics: bool = True, health: bool = True) -> ClusterView: ...

    def close(self) -> None: ...


class ClusterClient:
    """Reads status, members, alarms, health and metrics of every member of one cluster."""

    def __init__(
        self,
        connection: Connection,
        client_factory: ClientFactory | None = None,
        routes: Routes | None = None,
    ) -> None:
        self.connection = connection
        self.timeout = connection.timeout
        self.routes = routes
        self._custom_factory = client_factory is not None
        self._factory: ClientFactory = (
            client_factory
            or (routes.client if routes is not None else None)
            or (lambda url: GatewayClient(url, connection.tls, connection.timeout))
        )
        self._clients: dict[str, EtcdClient] = {}
        self._lock = threading.Lock()
        # Client URLs learned from member lists, so members missing from the configured
        # endpoints are shown too (like `etcdctl --cluster`).
        self._learned: list[str] = []
        self._preferred = connection.endpoints[0] if connection.endpoints else ""
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="etcd")
        # The client certificate, when it is a file here (with certs_on_node it is the node's).
        self._cert_file = "" if connection.certs_on_node else (connection.tls.cert or "")

    def client(self, endpoint: str) -> EtcdClient:
        with self._lock:
            if endpoint not in self._clients:
                self._clients[endpoint] = self._factory(endpoint)
            return self._clients[endpoint]

    def local_etcdctl(self, endpoint: str) -> EtcdClient | None:
        """etcdctl on this machine for the member at `endpoint`, over gRPC, with the TLS files
        found here; None where something stands between this machine and the members (SSH
        routes, the nodes' own certificates, a client factory of the caller's) or etcdctl is
        not installed. It needs neither etcd3-py nor requests loaded, serves HashKV on every
        supported etcd (gateway or not), and range pages far cheaper than the gateway's JSON.
        """
        etcdctl = self._etcdctl_here()
        if etcdctl is None:
            return None
        return etcdctl_here(endpoint, etcdctl, self.connection.tls, self.timeout)

    def hash_ahead_clients(self) -> dict[str, EtcdClient]:
        """`local_etcdctl` of every known endpoint, for a consistency reading to start hashing
        while the first read still imports etcd3-py; empty where there is none."""
        etcdctl = self._etcdctl_here()
        if etcdctl is None:
            return {}
        tls, timeout = self.connection.tls, self.timeout
        return {e: etcdctl_here(e, etcdctl, tls, timeout) for e in self.endpoints}

    def _etcdctl_here(self) -> str | None:
        """etcdctl's path on this machine, when it may ask the members itself."""
        if self.routes is not None or self._custom_factory or self.connection.certs_on_node:
            return None
        return shutil.which("etcdctl")

    @property
    def endpoints(self) -> tuple[str, ...]:
        seen = dict.fromkeys([*self.connection.endpoints, *self._learned])
        return tuple(seen)

    def _probe(self, endpoint: str, metrics: bool, health: bool) -> _Probe:
        client = self.client(endpoint)
        return _Probe(
            endpoint=endpoint,
            status=self._pool.submit(client.status),
            read=self._pool.submit(client.linearizable_read) if health else None,
            metrics=self._pool.submit(self._scrape, endpoint) if metrics else None,
        )

    def _scrape(self, endpoint: str) -> MemberMetrics:
        return parse_metrics(self.client(endpoint).metrics_text(), endpoint)

    def read(self, metrics: bool = True, health: bool = True) -> ClusterView:
        """One full refresh. Never raises for an unreachable member: it is shown as such.

        `health` adds a linearizable read per member (`etcdctl endpoint health`); without it
        a reachable member counts as healthy when it has a leader and no alarm.
        """
        started = time.perf_counter()
        if self.routes is not None:
            # SSH handshakes have their own timeout: the members' clock starts after them.
            self.routes.connect(self.endpoints)
        deadline = time.perf_counter() + self.timeout + _DEADLINE_SLACK
        probes = {e: self._probe(e, metrics, health) for e in self.endpoints}
        members_f, alarms_f = self._cluster_calls(probes, deadline)
        members, members_err = _result(members_f)
        alarms, _ = _result(alarms_f)
        if members is not None:
            new = [
                u
                for m in members
                for u in m.client_urls
                if u not in probes and (self.routes is None or self.routes.routable(u))
            ]
            if new:
                self._learned = list(dict.fromkeys([*self._learned, *new]))
                # A second wave for members we did not know about; its own deadline.
                wave_deadline = time.perf_counter() + self.timeout + _DEADLINE_SLACK
                probes.update({e: self._probe(e, metrics, health) for e in new})
                deadline = max(deadline, wave_deadline)
        self._wait(
            [f for p in probes.values() for f in (p.status, p.read, p.metrics) if f is not None],
            deadline,
        )
        views = self._assemble(probes, members or (), alarms or ())
        error = ""
        if not any(v.reachable for v in views):
            first = next((v.error for v in views if v.error), "")
            error = f"no endpoint answered ({first})" if first else "no endpoint answered"
        elif members is None and members_err is not None:
            why = _error_text(members_err, "", self.timeout, self._cert_file)
            error = f"member list failed: {why}"
        return ClusterView(
            cluster=self.connection.cluster,
            members=views,
            alarms=alarms or (),
            taken_at=time.time(),
            duration=time.perf_counter() - started,
            error=error,
            via=self.connection.via,
            notes=self.routes.notes() if self.routes is not None else (),
        )

    def metrics(self) -> dict[str, MemberMetrics | EtcdtuiError]:
        """Scrape and parse every known member's /metrics in parallel."""
        futures = {e: self._pool.submit(self._scrape, e) for e in self.endpoints}
        self._wait(futures.values(), time.perf_counter() + self.timeout + _DEADLINE_SLACK)
        result: dict[str, MemberMetrics | EtcdtuiError] = {}
        for endpoint, future in futures.items():
            value, exc = _result(future)
            result[endpoint] = (
                value
                if value is not None
                else EtcdError(
                    _error_text(exc, endpoint, self.timeout, self._cert_file), endpoint=endpoint
                )
            )
        return result

    def _cluster_calls(
        self, probes: dict[str, _Probe], deadline: float
    ) -> tuple[Future[tuple[Member, ...]] | None, Future[tuple[Alarm, ...]] | None]:
        """Member list and alarms from one member: the one that answered last time, asked at
        once; if it does not answer, the first other endpoint whose status comes back."""
        calls: dict[str, tuple[Future[tuple[Member, ...]], Future[tuple[Alarm, ...]]]] = {}

        def ask(endpoint: str) -> tuple[Future[tuple[Member, ...]], Future[tuple[Alarm, ...]]]:
            if endpoint not in calls:
                client = self.client(endpoint)
                calls[endpoint] = (
                    self._pool.submit(client.member_list),
                    self._pool.submit(client.alarms),
                )
            return calls[endpoint]

        if self._preferred in probes:
            ask(self._preferred)
        pending: set[Future[MemberStatus]] = {p.status for p in probes.values()}
        by_future = {p.status: p.endpoint for p in probes.values()}
        while pending:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is not None:
                    continue
                endpoint = by_future[future]
                members_f, alarms_f = ask(endpoint)
                self._wait([members_f, alarms_f], deadline)
                if members_f.done() and members_f.exception() is None:
                    self._preferred = endpoint
                    return members_f, alarms_f
        return None, None

    @staticmethod
    def _wait(futures: Iterable[Future[Any]], deadline: float) -> None:
        remaining = deadline - time.perf_counter()
        if remaining > 0:
            wait(list(futures), timeout=remaining)

    def _assemble(
        self,
        probes: dict[str, _Probe],
        members: tuple[Member, ...],
        alarms: tuple[Alarm, ...],
    ) -> tuple[MemberView, ...]:
        by_id = {m.id: m for m in members}
        by_url = {u: m for m in members for u in m.client_urls}
        views: list[MemberView] = []
        shown: set[int] = set()
        for endpoint, probe in probes.items():
            status, status_err = _result(probe.status)
            member = by_id.get(status.member_id) if status else by_url.get(endpoint)
            if member is not None:
                if member.id in shown:
                    continue  # two endpoints of one member: show it once
                shown.add(member.id)
            views.append(self._view(endpoint, probe, member, status, status_err, alarms))
        for member in members:
            if member.id not in shown:
                if not member.started:
                    reason = "unstarted: added but never started"
                elif self.routes is not None and member.client_urls:
                    reason = "no node in the config lists its client URL, to reach it through"
                else:
                    reason = "no client URL to reach it"
                views.append(MemberView(endpoint="", member=member, error=reason))
        return tuple(views)

    def _view(
        self,
        endpoint: str,
        probe: _Probe,
        member: Member | None,
        status: MemberStatus | None,
        status_err: BaseException | None,
        alarms: tuple[Alarm, ...],
    ) -> MemberView:
        if status is None:
            return MemberView(
                endpoint=endpoint,
                member=member,
                error=_error_text(status_err, endpoint, self.timeout, self._cert_file),
            )
        took, read_err = _result(probe.read) if probe.read is not None else (0.0, None)
        own_alarms = [a.kind for a in alarms if a.member_id == status.member_id]
        if probe.read is None and status.leader_id == 0:
            health = MemberHealth(endpoint, False, 0.0, "no leader", read_ok=False)
        elif took is None:
            error = _error_text(read_err, endpoint, self.timeout, self._cert_file)
            health = MemberHealth(endpoint, False, 0.0, error, read_ok=False)
        elif own_alarms:
            health = MemberHealth(endpoint, False, took, "active alarm: " + ", ".join(own_alarms))
        else:
            health = MemberHealth(endpoint, True, took)
        metrics, _ = _result(probe.metrics)
        return MemberView(
            endpoint=endpoint, member=member, status=status, health=health, metrics=metrics
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for client in self._clients.values():
                with contextlib.suppress(EtcdError):
                    client.close()
            self._clients.clear()
        if self.routes is not None:
            self.routes.close()
