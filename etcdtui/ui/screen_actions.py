"""What the app's keys open: help, member detail, the audit log, backups, Kubernetes and the
runbook screens.

`EtcdtuiApp` (ui/app.py) inherits these actions; every key is declared in the action table
(ui/actions.py). Each screen is imported when its key is first pressed, so none of them is
loaded before the dashboard's first paint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import App
from textual.screen import Screen

from etcdtui.models import ClusterView, MemberView
from etcdtui.ui import actions
from etcdtui.ui.screens.dashboard import DashboardScreen

if TYPE_CHECKING:
    from etcdtui.runbooks.audit import AuditLog
    from etcdtui.ui.launcher import Launcher
    from etcdtui.ui.poller import Poller


class ScreenActions(App[int]):
    """The actions that push a screen; the app supplies what they read."""

    read_only: bool
    poller: Poller
    launcher: Launcher
    audit: AuditLog

    @property
    def view(self) -> ClusterView | None:
        """The latest live view of the cluster (None before the first refresh)."""
        return self.poller.view

    @property
    def dashboard(self) -> DashboardScreen | None:
        """The dashboard, unless the app is shutting down and has popped it already."""
        return next((s for s in self.screen_stack if isinstance(s, DashboardScreen)), None)

    def refused(self, action_id: str, screen: Screen[object] | None = None) -> bool:
        """True, with a notification saying why, when the action cannot run now."""
        return actions.refuse(screen or self.screen, action_id)

    def action_help(self) -> None:
        from etcdtui.ui.poller import MAX_BACKOFF
        from etcdtui.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        where, interval = actions.where_of(self.screen), self.poller.interval
        self.push_screen(HelpScreen(where, read_only=self.read_only, interval=interval,
                                    backoff=MAX_BACKOFF))  # fmt: skip

    def action_member_detail(self) -> None:
        from etcdtui.ui.screens.detail import MemberDetailScreen

        dashboard = self.dashboard
        key = dashboard.selected_member_key() if dashboard else None
        if dashboard is not None and dashboard.stale:
            self.notify("This is the cached view: a member's detail opens once the first "
                        "refresh is in.", severity="warning")  # fmt: skip
            return
        if key is None or self.view is None:
            self.notify("No member is selected.", severity="warning")
            return
        self.push_screen(MemberDetailScreen(key, self.view, self.poller.history))

    def copy_member_id(self, member: MemberView | None) -> None:
        """`y`: the member's ID in hex, as etcdctl prints it, to the clipboard (OSC 52)."""
        if member is None:
            self.notify("No member is selected.", severity="warning")
            return
        if member.member_id is None:
            self.notify(f"{member.name} has no member ID: it is not in the member list.",
                        severity="warning", markup=False)  # fmt: skip
            return
        member_id = format(member.member_id, "x")
        self.copy_to_clipboard(member_id)
        self.notify(f"Copied {member.name}'s member ID {member_id} to the clipboard.",
                    title="Copied", markup=False)  # fmt: skip

    def action_replace_member(self, member: str) -> None:
        if not self.refused("replace-member"):
            self.launcher.replace_member(member, self.view)

    def action_remove_stuck_member(self, member_id: int) -> None:
        """Remove a member added but never started (it counts toward quorum)."""
        if not self.refused("remove-unstarted"):
            self.launcher.remove_stuck_member(member_id)

    def action_add_member(self) -> None:
        if not self.refused("add-member"):
            self.launcher.add_member(self.view)

    def action_defrag(self) -> None:
        if not self.refused("defrag"):
            self.launcher.defrag()

    def action_recover_nospace(self) -> None:
        if not self.refused("recover-nospace"):
            self.launcher.recover_nospace()

    def action_audit_log(self) -> None:
        from etcdtui.ui.screens.audit import AuditScreen

        self.push_screen(AuditScreen(self.audit))

    def action_snapshot(self) -> None:
        self.launcher.backups()

    def action_kubernetes(self) -> None:
        self.launcher.kubernetes(lambda: self.view)
