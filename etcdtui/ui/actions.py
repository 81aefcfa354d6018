"""The one table of UI actions: the footer, the command palette, the `?` help, `--read-only`
and per-screen availability are all generated from it.

An entry's `action` is a Textual action string run on the screen it is bound to
(`app.defrag` runs on the app). Screens call `bindings_for(Where.X)` for their BINDINGS; the
palette (`ActionCommands`) and the help (`key_rows`) read the same entries. Whether an action
is refused right now, and why, is asked of the screen and the app (`refusal`): a refused key
is left out of the footer and says why when pressed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from textual.actions import parse
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.dom import DOMNode
from textual.screen import Screen


class Where(StrEnum):
    """The screens that have keys of their own, named as the help names them."""

    DASHBOARD = "dashboard"
    DETAIL = "member detail"
    RUNBOOK = "runbook screens"
    BACKUPS = "backups"
    KUBE = "Kubernetes"
    AUDIT = "audit log"
    KEYSPACE = "keyspace"


EVERYWHERE = frozenset(Where)
_D, _DD = frozenset({Where.DASHBOARD}), frozenset({Where.DASHBOARD, Where.DETAIL})


@dataclass(frozen=True)
class UiAction:
    """One thing a person can do: its key, its action, and how it is named everywhere."""

    id: str  # the binding id: stable, so keys can be remapped (App.set_keymap)
    key: str  # Textual key names, comma-separated for several
    action: str  # run on the screen it is bound to; `app.` runs it on the app
    title: str  # short: the footer's label
    help: str  # one line: the palette's help and the help screen's explanation
    changes_cluster: bool
    screens: frozenset[Where]
    footer: bool = True  # shown in the footer (when it fits)
    palette_title: str = ""  # longer name in the palette and help (default: title)

    @property
    def name(self) -> str:
        """How the palette and the help name it."""
        return self.palette_title or self.title

    @property
    def key_display(self) -> str:
        """The key as a person types it: `?`, `/`, `^r`, `esc`, `1`; several joined by `/`."""
        return "/".join(_KEY_NAMES.get(k, k) for k in self.key.split(","))


_KEY_NAMES = {
    "question_mark": "?",
    "colon": ":",
    "slash": "/",
    "escape": "esc",
    "ctrl+r": "^r",
    "ctrl+p": "^p",
}


def _a(id: str, key: str, action: str, title: str, help: str, screens: frozenset[Where], *,
       changes: bool = False, footer: bool = True, palette: str = "") -> UiAction:  # fmt: skip
    return UiAction(id, key, action, title, help, changes, screens, footer, palette)


# In footer order: a footer shows the first that fit, so `?` and the runbooks come first.
ACTIONS: tuple[UiAction, ...] = (
    _a("help", "question_mark", "app.help", "Help",
       "every key of this screen, then what each pane and threshold means", EVERYWHERE),
    _a("back", "escape", "app.pop_screen", "Back", "back to the dashboard",
       frozenset({Where.DETAIL}), palette="Back to the dashboard"),
    _a("recover-nospace", "n", "app.recover_nospace", "NOSPACE",
       "while a NOSPACE alarm is active: compact, defragment every member, disarm the alarm",
       _D, changes=True, palette="NOSPACE recovery…"),
    _a("defrag", "d", "app.defrag", "Defrag",
       "defragment members chosen by a rule: followers first, leader last",
       _DD, changes=True, palette="Defragment…"),
    _a("upgrade", "u", "upgrade", "Upgrade",
       "rolling upgrade of etcd to the binary (or image) the nodes' vars name: a snapshot "
       "first, followers first, leader last", _D, changes=True, footer=False,
       palette="Upgrade etcd…"),
    _a("consistency-check", "h", "check_consistency", "Check",
       "compare every member's data: HashKV at one revision (reads the whole keyspace)",
       _D, footer=False, palette="Check consistency now"),
    _a("snapshot", "s", "app.snapshot", "Backups",
       "save a snapshot now; the snapshot catalogue, restore from it", _DD,
       palette="Backups…"),
    _a("kubernetes", "k", "app.kubernetes", "Kube",
       "kube-apiserver --etcd-servers against the member list, certificate expiry, security",
       _D, palette="Kubernetes…"),
    _a("replace-member", "R", "replace", "Replace",
       "replace this member with a free node of the config, learner first",
       frozenset({Where.DETAIL}), changes=True, palette="Replace this member…"),
    _a("remove-unstarted", "X", "remove_stuck", "Remove",
       "remove a member added but never started (it counts toward quorum)",
       frozenset({Where.DETAIL}), changes=True, palette="Remove this never-started member…"),
    _a("repair-member", "F", "repair", "Repair",
       "rebuild this member from the majority when a consistency check found it diverged",
       frozenset({Where.DETAIL}), changes=True, footer=False, palette="Repair this member…"),
    _a("filter", "slash", "filter", "Filter",
       "filter the members by name, URL or ID (esc clears)", _D, palette="Filter members"),
    _a("refresh", "r", "app.refresh_now", "Refresh", "poll every member now", _D,
       palette="Refresh now"),
    _a("pause", "p", "app.toggle_pause", "Pause", "stop or restart the automatic refresh", _D,
       palette="Pause / resume refresh"),
    _a("cluster", "c", "app.switch_cluster", "Cluster", "switch to another cluster of the config",
       _D, palette="Switch cluster…"),
    # Bound here, Textual adds no ctrl+p of its own: both keys are this entry's.
    _a("palette", "colon,ctrl+p", "app.command_palette", "Palette",
       "every action by name: type a word of it", EVERYWHERE, palette="Command palette"),
    _a("quit", "q", "app.quit", "Quit", "leave etcdtui (not while a runbook runs)", EVERYWHERE),
    _a("add-member", "a", "app.add_member", "Add",
       "scale out: add a free node of the config as a member, learner first, one at a time",
       _D, changes=True, palette="Add a member…"),
    _a("keyspace", "K", "keyspace", "Keyspace",
       "what fills the database: keys and bytes by resource and namespace", _D,
       footer=False, palette="Keyspace…"),
    _a("audit-log", "l", "app.audit_log", "Audit", "every runbook step executed, newest first",
       _D, palette="Audit log"),
    _a("copy-id", "y", "copy_id", "Copy ID",
       "copy the member's ID (hex) to the clipboard", _DD, palette="Copy member ID"),
    _a("sort", "S", "sort", "Sort",
       "sort the members by the next column (a click on a header sorts by it, again reverses)",
       _D, palette="Sort members by the next column"),
    _a("member-detail", "enter", "app.member_detail", "Detail",
       "every field of the selected member (or a double click on its row)", _D, footer=False,
       palette="Member detail"),
    _a("interval", "i", "app.cycle_interval", "Interval",
       "change the refresh interval (0.5 s … 30 s)", _D, palette="Change refresh interval"),
    _a("reload-config", "ctrl+r", "app.reload_config", "Reload",
       "re-read the config file (also done when the file changes)", _D,
       palette="Reload the config file"),
    _a("clear-filter", "escape", "clear_filter", "Clear filter",
       "clear the members filter", _D, footer=False),
    _a("pane-members", "1", "focus_pane('members')", "Members", "jump to the Members pane", _D,
       footer=False, palette="Go to Members"),
    _a("pane-health", "2", "focus_pane('health')", "Health",
       "jump to the Leader & health pane", _D, footer=False, palette="Go to Leader & health"),
    _a("pane-quota", "3", "focus_pane('quota')", "Quota", "jump to the DB size vs quota pane",
       _D, footer=False, palette="Go to DB size vs quota"),
    _a("pane-disk", "4", "focus_pane('disk')", "Disk", "jump to the Disk & network pane", _D,
       footer=False, palette="Go to Disk & network"),
    # The screens below bind their own keys; tests/ui/test_ui_actions.py checks they match.
    _a("runbook-back", "escape", "leave", "Back", "back (not while a step runs)",
       frozenset({Where.RUNBOOK}), palette="Leave the runbook"),
    _a("runbook-plan", "p", "plan", "Re-plan", "check again and plan again (read-only)",
       frozenset({Where.RUNBOOK}), palette="Plan again"),
    _a("runbook-execute", "x", "execute", "Execute",
       "run the plan, step by step, after a confirmation", frozenset({Where.RUNBOOK}),
       palette="Execute the plan…"),
    _a("runbook-abort", "a", "abort", "Abort", "stop before the next step",
       frozenset({Where.RUNBOOK}), palette="Abort after this step"),
    _a("backups-back", "escape", "app.pop_screen", "Back", "back to the dashboard",
       frozenset({Where.BACKUPS}), palette="Leave the backups"),
    _a("backups-save", "s", "save", "Save snapshot now",
       "save a snapshot from a follower (a read: allowed with --read-only)",
       frozenset({Where.BACKUPS}), palette="Save a snapshot now"),
    _a("backups-rescan", "r", "rescan", "Rescan", "read the snapshot folder again",
       frozenset({Where.BACKUPS}), palette="Rescan the snapshot folder"),
    _a("backups-restore", "R", "restore", "Restore from this",
       "restore every member from the selected snapshot", frozenset({Where.BACKUPS}),
       changes=True, palette="Restore from the selected snapshot…"),
    _a("backups-resume", "C", "resume", "Continue the restore",
       "continue a restore that stopped halfway", frozenset({Where.BACKUPS}), changes=True),
    _a("backups-rollback", "B", "rollback", "Roll the restore back",
       "roll back a restore that stopped halfway", frozenset({Where.BACKUPS}), changes=True),
    _a("kube-back", "escape,q", "app.pop_screen", "Back", "back to the dashboard",
       frozenset({Where.KUBE}), palette="Leave the Kubernetes checks"),
    _a("kube-reread", "r", "reread", "Re-read", "read every node again over SSH",
       frozenset({Where.KUBE}), palette="Re-read the nodes"),
    _a("audit-back", "escape", "app.pop_screen", "Back", "back to the dashboard",
       frozenset({Where.AUDIT}), palette="Leave the audit log"),
    _a("audit-open", "enter", "open_step", "Step & output",
       "the selected step: when it started and ended, and its output",
       frozenset({Where.AUDIT}), palette="Open the selected step"),
    _a("keyspace-back", "escape", "app.pop_screen", "Back", "back to the dashboard",
       frozenset({Where.KEYSPACE}), palette="Leave the keyspace"),
    _a("keyspace-live", "l", "scan_live", "Live scan",
       "count a follower's keys: keys only, paged, rate-bounded", frozenset({Where.KEYSPACE}),
       palette="Scan the keyspace live"),
    _a("keyspace-snapshot", "s", "read_snapshot", "Latest snapshot",
       "read the newest snapshot of the catalogue offline, with history and tombstones",
       frozenset({Where.KEYSPACE}), palette="Read the latest snapshot"),
    _a("keyspace-open", "enter", "drill_down", "Drill down",
       "what is inside the selected group, one level down", frozenset({Where.KEYSPACE}),
       palette="Drill into the selected group"),
    _a("keyspace-up", "backspace", "go_up", "Up", "back up one level",
       frozenset({Where.KEYSPACE}), palette="Up one level"),
    _a("keyspace-stop", "x", "stop_scan", "Stop scan",
       "stop the live scan, keeping what it has counted", frozenset({Where.KEYSPACE}),
       palette="Stop the live scan"),
)  # fmt: skip

BY_ID = {entry.id: entry for entry in ACTIONS}
GLOBAL = tuple(e for e in ACTIONS if e.screens == EVERYWHERE)
# Screens whose modules this table cannot import (they import it): matched by class name.
_SCREEN_CLASSES = {
    "DashboardScreen": Where.DASHBOARD,
    "MemberDetailScreen": Where.DETAIL,
    "RunbookScreen": Where.RUNBOOK,
    "BackupsScreen": Where.BACKUPS,
    "KubeScreen": Where.KUBE,
    "AuditScreen": Where.AUDIT,
    "KeyspaceScreen": Where.KEYSPACE,
}


def entries_for(where: Where | None) -> list[UiAction]:
    """The actions of one screen (and those of every screen), in table order."""
    return [e for e in ACTIONS if where in e.screens or e.screens == EVERYWHERE]


def binding(entry: UiAction, show: bool = True) -> Binding:
    return Binding(entry.key, entry.action, entry.title, show=show and entry.footer,
                   key_display=entry.key_display, id=entry.id)  # fmt: skip


def bindings_for(where: Where) -> list[BindingType]:
    """A screen's BINDINGS: its own actions and the global ones, in footer order."""
    return [binding(e) for e in entries_for(where)]


def global_bindings() -> list[BindingType]:
    """The app's BINDINGS: help, palette and quit work on every screen.

    Textual's own footer shows the palette's key docked on the right: not twice.
    """
    return [binding(e, show=e.id != "palette") for e in GLOBAL]


def where_of(screen: Screen[Any]) -> Where | None:
    """Which of the table's screens this is (None for a dialog)."""
    for cls in type(screen).__mro__:
        if cls.__name__ in _SCREEN_CLASSES:
            return _SCREEN_CLASSES[cls.__name__]
    return None


READ_ONLY = (
    "etcdtui runs read-only (--read-only): nothing that changes the cluster runs. "
    "Restart it without --read-only to do this."
)


def refusal(screen: Screen[Any], entry: UiAction) -> str | None:
    """Why `entry` cannot run now, asked of the screen then the app; None if it can."""
    for node in (screen, screen.app):
        ask = getattr(node, "refusal", None)
        if ask is not None and (reason := ask(entry)):
            return str(reason)
    return None


def refuse(screen: Screen[Any], action_id: str) -> bool:
    """True, with a notification saying why, when the action cannot run now on `screen`."""
    entry = BY_ID[action_id]
    reason = refusal(screen, entry)
    if reason:
        screen.app.notify(reason, title=f"{entry.key_display} {entry.name}: not now",
                          severity="warning", markup=False)  # fmt: skip
    return reason is not None


def _target(screen: Screen[Any], entry: UiAction) -> tuple[DOMNode, str, tuple[object, ...]]:
    namespace, name, params = parse(entry.action)
    return (screen.app if namespace == "app" else screen), name, params


def available(screen: Screen[Any], entry: UiAction) -> bool:
    """Bound on this screen, and its node's check_action lets it run now."""
    if entry.screens != EVERYWHERE and where_of(screen) not in entry.screens:
        return False
    node, name, params = _target(screen, entry)
    return bool(node.check_action(name, params))


def hidden(screen: Screen[Any], entry: UiAction) -> bool:
    """Left out of the palette: not on this screen, or changing the cluster in read-only."""
    if not available(screen, entry):
        return True
    return entry.changes_cluster and bool(getattr(screen.app, "read_only", False))


def palette_entries(screen: Screen[Any]) -> Iterator[tuple[UiAction, str | None]]:
    """(entry, why it is refused now or None) for every action the palette offers here."""
    for entry in entries_for(where_of(screen)):
        if not hidden(screen, entry):
            yield entry, refusal(screen, entry)


def _prompt(entry: UiAction, title: Content) -> Content:
    return Content.assemble(title, ("  " + entry.key_display, "dim"))


def _help(entry: UiAction, why: str | None) -> str:
    return f"{entry.help} (not now: {why})" if why else entry.help


class ActionCommands(Provider):
    """The command palette's entries: the action table, for the screen it opened on."""

    def _run(self, entry: UiAction) -> None:
        screen = self.screen
        screen.app.call_later(screen.app.run_action, entry.action, screen)

    async def discover(self) -> Hits:
        for entry, why in palette_entries(self.screen):
            yield DiscoveryHit(_prompt(entry, Content(entry.name)), partial(self._run, entry),
                               text=entry.name, help=_help(entry, why))  # fmt: skip

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry, why in palette_entries(self.screen):
            score = matcher.match(entry.name)
            if score > 0:
                yield Hit(score, _prompt(entry, matcher.highlight(entry.name)),
                          partial(self._run, entry), text=entry.name,
                          help=_help(entry, why))  # fmt: skip


CHANGES_MARK = "✱"


def key_rows(where: Where) -> Iterable[tuple[str, str, str]]:
    """(key, name, what it does) for the help's key table of one screen; the name of an
    action that changes the cluster carries CHANGES_MARK."""
    for entry in entries_for(where):
        mark = f" {CHANGES_MARK}" if entry.changes_cluster else ""
        yield entry.key_display, entry.name + mark, entry.help
