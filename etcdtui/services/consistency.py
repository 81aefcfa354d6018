"""One consistency reading of a cluster: does every member hold the same data?

etcd's answer to silent corruption is HashKV compared across members at one revision. The
reading asks every member for it at the lowest current revision among them (never below a
compaction: a member that compacted past it answers "compacted", and the reading starts again
at a new revision), and compares hashes only between members that report the same compact
revision. It also compares what cheaper reads show: each member's key count where members
stand at the same revision (a serializable read of its own copy), and the member list as each
member sees it.

The verdict names the minority, or says that no majority agrees (then only a snapshot restore
rebuilds the cluster: `etcdtui repair` needs a majority to copy from).
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from etcdtui.clients.cluster import ClusterClient
from etcdtui.clients.etcd import EtcdClient
from etcdtui.clients.etcd_api import HASHKV_TIMEOUT, KeyCount, KvHash
from etcdtui.errors import EtcdtuiError
from etcdtui.models import ClusterView, MemberView

T = TypeVar("T")

# A member that compacts between choosing the revision and hashing at it makes the reading
# start again; past this many attempts it reports what it has.
ATTEMPTS = 5
# HashKV reads the whole keyspace: on a DB over LARGE_DB the dashboard checks no more often
# than every LARGE_DB_INTERVAL seconds. The interval is off (0) unless configured.
LARGE_DB = 1 << 30
LARGE_DB_INTERVAL = 600.0
# etcd's words when a revision was compacted away (or a compaction is being applied).
_COMPACTED = ("required revision has been compacted", "compacted")


@dataclass(frozen=True)
class MemberHash:
    """One member's part of a reading. `consistent` is None when it could not be compared."""

    name: str
    endpoint: str
    hash: int | None = None
    revision: int = 0  # the revision hashed at
    compact_revision: int = 0
    seconds: float = 0.0
    error: str = ""
    consistent: bool | None = None


@dataclass(frozen=True)
class _Ahead:
    """HashKV of every endpoint known before the first read, at one revision."""

    revision: int
    hashes: dict[str, MemberHash]

    def covers(self, members: list[MemberView]) -> bool:
        return all(m.endpoint in self.hashes for m in members)


@dataclass(frozen=True)
class Reading:
    """A whole reading: the members' hashes, the verdict, and what the cheaper reads found."""

    cluster: str
    members: tuple[MemberHash, ...]
    consistent: bool
    verdict: str
    minority: tuple[str, ...] = ()
    no_majority: bool = False
    revision: int = 0
    attempts: int = 1
    disagreements: tuple[str, ...] = ()
    taken_at: float = field(default_factory=time.time)
    duration: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The JSON `etcdtui check -w json` prints: one object per member, and the verdict."""
        return {
            "cluster": self.cluster,
            "consistent": self.consistent,
            "verdict": self.verdict,
            "revision": self.revision,
            "minority": list(self.minority),
            "disagreements": list(self.disagreements),
            "members": [
                {"name": m.name, "endpoint": m.endpoint, "hash": m.hash, "revision": m.revision,
                 "compact_revision": m.compact_revision, "seconds": round(m.seconds, 3),
                 "consistent": bool(m.consistent), "error": m.error}
                for m in self.members
            ],
        }  # fmt: skip


class ConsistencyCheck:
    """Takes consistency readings of one cluster through its ClusterClient."""

    def __init__(self, cluster: ClusterClient, hash_timeout: float = HASHKV_TIMEOUT) -> None:
        self.cluster = cluster
        self.hash_timeout = hash_timeout

    def read(self) -> Reading:
        """One reading. Never raises for a member that fails: it is named in the verdict.

        Where the members can be asked HashKV directly (`hash_ahead_clients`), they hash
        while the first read runs; those hashes serve if they cover every member it finds.
        """
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=1) as early:
            ahead_clients = self.cluster.hash_ahead_clients()
            ahead = early.submit(self._hash_ahead, ahead_clients) if ahead_clients else None
            view = self.cluster.read(metrics=False, health=False)
            members = [m for m in view.members if m.endpoint and m.member_id is not None]
            if not members:
                why = view.error or "no member answered"
                return Reading(view.cluster, (), False, f"no reading: {why}")
            # The cheap comparisons run while the members hash: they cost a round trip each.
            with ThreadPoolExecutor(max_workers=2) as side:
                counts = side.submit(self._counts, members)
                listed = side.submit(self._membership, members)
                hashes, revision, attempts = self._hashes(
                    members, ahead.result() if ahead is not None else None
                )
                disagreements = (*counts.result(), *listed.result())
        reading = judge(view, hashes, revision, attempts, disagreements)
        return replace(reading, duration=time.perf_counter() - started)

    def _hash_ahead(self, clients: dict[str, EtcdClient]) -> _Ahead | None:
        """Every endpoint's HashKV at the lowest of their current revisions, asked before the
        member list is known. None if an endpoint does not answer its status: the reading
        then hashes after the first read, as without these clients."""

        def revision_of(client: EtcdClient) -> int | None:
            try:
                return client.status().revision
            except EtcdtuiError:
                return None

        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            revisions = list(pool.map(revision_of, clients.values()))
            if None in revisions:
                return None
            revision = min(r for r in revisions if r is not None)
            hashes = pool.map(
                lambda item: self._hash_with(item[1], item[0], revision), clients.items()
            )
            return _Ahead(revision, {h.endpoint: h for h in hashes})

    def _hashes(
        self, members: list[MemberView], ahead: _Ahead | None
    ) -> tuple[list[MemberHash], int, int]:
        """Every member's HashKV at one revision; again at a new one after a compaction.

        The first attempt is the hashes asked ahead when they cover every member, else one
        at the lowest revision the first read saw."""
        hashes: list[MemberHash] = []
        revision = min((m.status.revision for m in members if m.status), default=0)
        for attempt in range(1, ATTEMPTS + 1):
            if attempt == 1 and ahead is not None and ahead.covers(members):
                revision = ahead.revision
                hashes = [replace(ahead.hashes[m.endpoint], name=m.name) for m in members]
            else:
                if attempt > 1 or revision <= 0:
                    revision = self._common_revision(members)
                hashes = self._parallel(members, functools.partial(self._hash, revision=revision))
            compacted = any(_is_compacted(h.error) for h in hashes)
            answered = {h.compact_revision for h in hashes if h.hash is not None}
            if not compacted and len(answered) <= 1:
                return hashes, revision, attempt
        return hashes, revision, ATTEMPTS

    def _common_revision(self, members: list[MemberView]) -> int:
        """The lowest current revision among the members that answer a status read."""
        statuses = self._parallel(members, lambda m: self._client(m).status().revision)
        found = [r for r in statuses if isinstance(r, int)]
        return min(found) if found else 0

    def _hash(self, member: MemberView, revision: int) -> MemberHash:
        return replace(self._hash_with(self._client(member), member.endpoint, revision),
                       name=member.name)  # fmt: skip

    def _hash_with(self, client: EtcdClient, endpoint: str, revision: int) -> MemberHash:
        """One HashKV; a failure is the MemberHash's error (its name is the caller's to set)."""
        started = time.perf_counter()
        try:
            answer: KvHash = client.hashkv(revision, self.hash_timeout)
        except EtcdtuiError as exc:
            return MemberHash("", endpoint, error=exc.message)
        return MemberHash(
            name="",
            endpoint=endpoint,
            hash=answer.hash,
            revision=revision,
            compact_revision=answer.compact_revision,
            seconds=time.perf_counter() - started,
        )

    def _counts(self, members: list[MemberView]) -> list[str]:
        """Members at the same revision holding a different number of keys."""
        counts = self._parallel(members, lambda m: self._client(m).serializable_count())
        by_revision: dict[int, dict[str, int]] = {}
        for member, count in zip(members, counts, strict=True):
            if isinstance(count, KeyCount):
                by_revision.setdefault(count.revision, {})[member.name] = count.count
        found = []
        for revision, named in sorted(by_revision.items()):
            if len(set(named.values())) > 1:
                said = ", ".join(f"{name} {n}" for name, n in sorted(named.items()))
                found.append(f"key counts differ at revision {revision}: {said}")
        return found

    def _membership(self, members: list[MemberView]) -> list[str]:
        """Members whose member list differs from what most members list."""
        lists = self._parallel(members, lambda m: self._client(m).member_list())
        seen: dict[str, frozenset[tuple[int, tuple[str, ...], bool]]] = {}
        for member, listed in zip(members, lists, strict=True):
            if isinstance(listed, tuple):
                seen[member.name] = frozenset(
                    (m.id, tuple(sorted(m.peer_urls)), m.is_learner) for m in listed
                )
        if len(set(seen.values())) <= 1:
            return []
        common, _ = Counter(seen.values()).most_common(1)[0]
        return [
            f"{name} lists different members ({len(listed)}: "
            f"{', '.join(f'{i:x}' for i, _, _ in sorted(listed))})"
            for name, listed in sorted(seen.items())
            if listed != common
        ]

    def _client(self, member: MemberView) -> EtcdClient:
        return self.cluster.client(member.endpoint)

    def _parallel(self, members: list[MemberView], call: Callable[[MemberView], T]) -> list[Any]:
        """`call` for every member at once: its result, or for a failure a MemberHash (for
        HashKV) or the error's text."""

        def one(member: MemberView) -> Any:
            try:
                return call(member)
            except EtcdtuiError as exc:
                return MemberHash(member.name, member.endpoint, error=exc.message)

        with ThreadPoolExecutor(max_workers=max(1, len(members))) as pool:
            return list(pool.map(one, members))


def check_interval(configured: float, view: ClusterView) -> float:
    """Seconds between the dashboard's automatic checks: 0 (off) unless configured, and never
    under LARGE_DB_INTERVAL while a member's DB is over LARGE_DB."""
    if configured <= 0:
        return 0.0
    largest = max((m.status.db_size for m in view.members if m.status), default=0)
    return max(configured, LARGE_DB_INTERVAL) if largest > LARGE_DB else configured


def judge(
    view: ClusterView,
    hashes: list[MemberHash],
    revision: int,
    attempts: int,
    disagreements: tuple[str, ...],
) -> Reading:
    """The verdict on one set of hashes: the majority's hash, and who differs from it.

    Members are compared only with those of the same compact revision: the largest such group
    is compared (any other could not be, and is named). A majority is more than half of all
    members read, answering or not.
    """
    answered = [h for h in hashes if h.hash is not None]
    groups = Counter(h.compact_revision for h in answered)
    compact = groups.most_common(1)[0][0] if groups else 0
    compared = [h for h in answered if h.compact_revision == compact]
    tally = Counter(h.hash for h in compared)
    top, votes = tally.most_common(1)[0] if tally else (None, 0)
    majority = top if votes > len(hashes) // 2 else None
    marked = tuple(_mark(h, majority, compact) for h in hashes)
    minority = tuple(h.name for h in marked if h.consistent is False and h.hash is not None)
    silent = [h.name for h in marked if h.hash is None]
    if majority is None:
        verdict = "no majority agrees on the hash: restore from a snapshot"
        if silent:
            verdict += f" ({', '.join(silent)} did not answer)"
    elif minority:
        verdict = (
            f"{', '.join(minority)} differ{'s' if len(minority) == 1 else ''} from the majority"
        )
    elif silent:
        verdict = f"the members that answered agree; {', '.join(silent)} did not answer"
    else:
        verdict = "consistent: every member's hash agrees"
    consistent = majority is not None and not minority and not silent and not disagreements
    if consistent is False and majority is not None and not minority and not silent:
        verdict = "hashes agree, but " + "; ".join(disagreements)
    return Reading(view.cluster, marked, consistent, verdict, minority, majority is None,
                   revision, attempts, disagreements)  # fmt: skip


def _mark(found: MemberHash, majority: int | None, compact: int) -> MemberHash:
    if found.hash is None or majority is None:
        return replace(found, consistent=False if found.hash is None else None)
    if found.compact_revision != compact:
        return replace(found, consistent=None, error="not compared: another compact revision")
    return replace(found, consistent=found.hash == majority)


def _is_compacted(error: str) -> bool:
    return any(word in error for word in _COMPACTED)
