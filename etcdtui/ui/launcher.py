"""How runbook screens are opened: each runbook built on one cluster session, its screen
pushed on the app.

The dashboard's poll has a client of its own; runbooks (and the Backups and Kubernetes
screens) share a second one, with the SSH connections their node-side steps run over, so a
defrag never waits behind a dashboard poll. That session opens on first use and lasts until
the app ends or moves to another connection (`close`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from etcdtui.config import Connection
from etcdtui.models import ClusterView

if TYPE_CHECKING:
    from etcdtui.clients.cluster import ClusterClient
    from etcdtui.clients.session import ClusterSession
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.runbooks.audit import AuditLog
    from etcdtui.runbooks.engine import Runbook
    from etcdtui.runbooks.restore.runbook import RestoreState
    from etcdtui.snapshots.crypto import SnapshotKey
    from etcdtui.ui.screens.runbook import RunbookScreen

# The runbook modules and screens are imported in the methods below: they pull in paramiko and
# the runbook screen's widgets, which the dashboard's first paint need not wait for.


class Launcher:
    """Opens the runbook screens of one connection on `app`, journaling to `audit`."""

    def __init__(self, app: App[Any], connection: Connection, audit: AuditLog) -> None:
        self.app = app
        self.connection = connection
        self.audit = audit
        self._session: ClusterSession | None = None

    # --- the session runbooks share --------------------------------------------------------

    def _opened(self) -> ClusterSession:
        if self._session is None:
            from etcdtui.clients.session import open_session

            # On the UI thread, with no I/O: SSH connects on first use, in a worker.
            self._session = open_session(self.connection, nodes=True)
        return self._session

    def cluster(self) -> ClusterClient:
        """The runbooks' client (not the dashboard's)."""
        return self._opened().client

    def shells(self) -> ShellPool:
        """The SSH connections to the nodes the runbooks share."""
        shells = self._opened().shells
        assert shells is not None  # open_session(nodes=True) always makes them
        return shells

    def close(self) -> None:
        """Close the session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- opening screens -------------------------------------------------------------------

    def open(
        self,
        title: str,
        build: Callable[[RunbookScreen], Runbook],
        *,
        options: bool = False,
        done: Callable[[None], None] | None = None,
    ) -> None:
        """Push the runbook screen; `build` makes the runbook when the screen plans."""
        from etcdtui.ui.screens.runbook import RunbookScreen

        self.app.push_screen(RunbookScreen(title, build, self.audit, options=options), done)

    def defrag(self) -> None:
        """The defrag screen, with its options form (rule, compact, move leader)."""
        from etcdtui.runbooks.defrag.options import from_form
        from etcdtui.runbooks.defrag.runbook import DefragRunbook

        def build(screen: RunbookScreen) -> DefragRunbook:
            options = from_form(screen.option_values())  # RuleError: the screen shows it
            return DefragRunbook(self.connection, self.cluster(), options)

        title = f"Defragmentation · {self.connection.cluster} · followers first, leader last"
        self.open(title, build, options=True)

    def recover_nospace(self) -> None:
        from etcdtui.runbooks.defrag.runbook import NospaceRecovery

        title = f"NOSPACE recovery · {self.connection.cluster} · compact, defrag all, disarm"
        self.open(title, lambda screen: NospaceRecovery(self.connection, self.cluster()))

    def replace_member(self, member: str, view: ClusterView | None) -> None:
        title = f"Replace member {member} · {self.connection.cluster} · learner first"
        self._member_change(title, member, view)

    def add_member(self, view: ClusterView | None) -> None:
        self._member_change(f"Add a member · {self.connection.cluster} · learner first", "", view)

    def _member_change(self, title: str, old_member: str, view: ClusterView | None) -> None:
        """Ask which free node, then open the member change (a replace of `old_member`, or an
        add when it is empty) on it."""
        from etcdtui.runbooks.membership.runbook import MemberChangeRunbook

        # Nodes of the config that run no member now: where a member can be added.
        members = {m.name for m in view.members} if view is not None else set[str]()
        free = [n.name for n in self.connection.nodes
                if n.member_name not in members and n.peer_urls and n.client_urls]  # fmt: skip
        if not free:
            self.app.notify("No node of the config is free (a node with peer and client URLs "
                            "that runs no member): add one to the config.",
                            severity="warning")  # fmt: skip
            return

        def chosen(node: str | None) -> None:
            if node is None:
                return

            def build(screen: RunbookScreen) -> MemberChangeRunbook:
                return MemberChangeRunbook(self.connection, self.cluster(), self.shells(), node,
                                           old_member=old_member)  # fmt: skip

            self.open(f"{title} · {node}", build)

        from etcdtui.ui.screens.picker import ChoicePicker

        question = f"Replace {old_member} with which node?" if old_member else "Add which node?"
        self.app.push_screen(ChoicePicker(question, free), chosen)

    def remove_stuck_member(self, member_id: int) -> None:
        from etcdtui.runbooks.membership.stuck_member import StuckMemberRemoval

        title = f"Remove never-started member {member_id:x} · {self.connection.cluster}"
        self.open(title, lambda screen: StuckMemberRemoval(self.connection, self.cluster(),
                                                           member_id))  # fmt: skip

    # --- screens over the same session --------------------------------------------------

    def upgrade(self) -> None:
        """The rolling upgrade to the etcd the nodes' vars name (upgrade_etcd, upgrade_image)."""
        from etcdtui.runbooks.upgrade.runbook import UpgradeOptions, UpgradeRunbook

        title = f"Upgrade · {self.connection.cluster} · snapshot first, followers, leader last"
        self.open(title, lambda screen: UpgradeRunbook(
            self.connection, self.cluster(), UpgradeOptions(to=""), self.shells()))  # fmt: skip

    def repair_member(self, member: str) -> None:
        """Rebuild `member` from the majority that a consistency check found agreeing."""
        from etcdtui.runbooks.repair.runbook import RepairRunbook
        from etcdtui.services.consistency import ConsistencyCheck

        title = f"Repair member {member} · {self.connection.cluster} · from the majority"
        self.open(title, lambda screen: RepairRunbook(
            self.connection, self.cluster(), self.shells(), member,
            read_consistency=ConsistencyCheck(self.cluster()).read,
            audit_path=self.audit.path))  # fmt: skip

    def backups(self) -> None:
        """The catalogue, and saving a snapshot (a read: allowed with --read-only)."""
        from etcdtui.ui.screens.backups import BackupsScreen

        self.app.push_screen(BackupsScreen(self.connection, self, self.audit))

    def keyspace(self) -> None:
        """What fills the database: a live scan of a follower, or the newest snapshot."""
        from etcdtui.snapshots.catalogue import snapshot_dir
        from etcdtui.ui.screens.keyspace import KeyspaceScreen

        self.app.push_screen(KeyspaceScreen(self.connection, snapshot_dir(self.connection),
                                            self.cluster))  # fmt: skip

    def kubernetes(self, view: Callable[[], ClusterView | None]) -> None:
        """API server wiring, certificates and security checks, read from the nodes over SSH;
        `view` gives the dashboard's latest view."""
        from etcdtui.ui.screens.kube import KubeScreen, live_reader

        # Made here, on the UI thread (no I/O yet); the screen's worker does the reading.
        reader = live_reader(self.connection, self.cluster(), self.shells(), view)
        self.app.push_screen(KubeScreen(self.connection, reader))

    # --- restore (from the Backups screen) -------------------------------------------------

    def restore(self, path: Path, key: SnapshotKey | None, done: Callable[[None], None]) -> None:
        from etcdtui.runbooks.restore.runbook import RestoreRunbook

        def build(screen: RunbookScreen) -> RestoreRunbook:
            return RestoreRunbook(self.connection, path, key, self.shells(), client=self.cluster())

        title = f"Restore · {self.connection.cluster} · every member from {path.name}"
        self.open(title, build, done=done)

    def resume_restore(
        self, pending: RestoreState, key: SnapshotKey | None, done: Callable[[None], None]
    ) -> None:
        from etcdtui.runbooks.restore.runbook import RestoreRunbook

        def build(screen: RunbookScreen) -> RestoreRunbook:
            return RestoreRunbook.resume(pending, self.connection, self.shells(), key=key,
                                         client=self.cluster())  # fmt: skip

        self.open(f"Restore · {self.connection.cluster} · continue run {pending.run}", build,
                  done=done)  # fmt: skip

    def rollback_restore(self, pending: RestoreState, done: Callable[[None], None]) -> None:
        from etcdtui.runbooks.restore.runbook import RestoreRunbook

        def build(screen: RunbookScreen) -> RestoreRunbook:
            return RestoreRunbook.rollback(pending, self.connection, self.shells(),
                                           client=self.cluster())  # fmt: skip

        self.open(f"Restore · {self.connection.cluster} · roll back run {pending.run}", build,
                  done=done)  # fmt: skip
