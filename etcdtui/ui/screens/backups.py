"""Backups: the snapshot catalogue of the cluster's folder, and taking a snapshot now."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Header, Input, ProgressBar, Static

from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models.text import printable
from etcdtui.models.units import human_age, human_bytes
from etcdtui.runbooks.audit import AuditLog, AuditLogError
from etcdtui.snapshots.catalogue import Catalogue, catalogue, legacy_snapshot_dir, snapshot_dir
from etcdtui.ui.actions import Where, bindings_for
from etcdtui.ui.format import markup, plain
from etcdtui.ui.widgets.footer import KeyFooter
from etcdtui.ui.widgets.tickbox import TickBox

if TYPE_CHECKING:
    from etcdtui.runbooks.restore.runbook import RestoreState
    from etcdtui.snapshots.crypto import SnapshotKey
    from etcdtui.ui.launcher import Launcher


def snapshot_name(cluster: str, now: float | None = None) -> str:
    """<cluster>-<UTC date and time>.db: sorts by age, never collides within a second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{cluster}-{stamp}.db"


class BackupsScreen(Screen[None]):
    """The catalogue (newest first, with an RPO warning) and `s` to save a snapshot now."""

    BINDINGS = bindings_for(Where.BACKUPS)

    def __init__(self, connection: Connection, launcher: Launcher, audit: AuditLog) -> None:
        """`launcher` gives the client a save reads from and opens the restore screens."""
        super().__init__()
        self.connection = connection
        self.launcher = launcher
        self.audit = audit
        # Keyed by the cluster's identity: two clusters named `lab` never share snapshots.
        self.folder = snapshot_dir(connection)
        self.saving = False
        self.pending: RestoreState | None = None  # a restore that stopped halfway
        self.legacy: Path | None = None  # the name-only folder of older etcdtui versions

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="backups-summary")
        with Horizontal(id="backups-options"):
            yield TickBox("Encrypt new snapshots", id="backups-encrypt")  # [x] without colour
            yield Input(placeholder="key file (0600): to encrypt, and to verify encrypted ones",
                        id="backups-key")  # fmt: skip
        yield ProgressBar(id="backups-progress", show_eta=False)
        yield Static("", id="backups-status")
        table: DataTable[str] = DataTable(id="backups", cursor_type="row", zebra_stripes=True)
        # TOTAL KEYS as `etcdctl snapshot status` counts them: every bucket's items, more
        # than the live keys a cluster or the restore counts (the summary says so).
        table.add_columns("FILE", "AGE", "SIZE", "REVISION", "TOTAL KEYS", "ETCD", "ENCRYPTED",
                          "VERIFIED")  # fmt: skip
        yield table
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#backups-progress", ProgressBar).display = False
        self.query_one("#backups", DataTable).focus()  # so `s` saves rather than types
        self.action_rescan()

    def _key(self) -> SnapshotKey | None:
        text = self.query_one("#backups-key", Input).value.strip()
        if not text:
            return None
        from etcdtui.snapshots.crypto import SnapshotKey

        return SnapshotKey.from_file(Path(text).expanduser())

    def action_rescan(self) -> None:
        self.query_one("#backups-summary", Static).update(
            markup("Snapshots in [b]$folder[/b] · reading…", folder=self.folder)
        )
        try:
            key = self._key()
        except EtcdtuiError as exc:
            self.notify(printable(str(exc)), title="Key file", severity="error", markup=False)
            key = None
        self._scan(key)

    @work(thread=True, exclusive=True, group="catalogue", exit_on_error=False)
    def _scan(self, key: SnapshotKey | None) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = catalogue(self.folder, key, self.connection.rpo_hours)
        pending = self._pending()
        self.legacy = legacy_snapshot_dir(self.connection)
        self.app.call_from_thread(self._show, found, pending)

    def _pending(self) -> RestoreState | None:
        from etcdtui.runbooks.restore.runbook import pending_restore

        try:
            return pending_restore(self.connection)
        except EtcdtuiError:
            return None

    def _show(self, found: Catalogue, pending: RestoreState | None = None) -> None:
        table = self.query_one("#backups", DataTable)
        table.clear()
        for item in found.entries:
            status = item.status
            table.add_row(
                plain(Path(item.path).name),
                human_age(found.now - item.modified),
                human_bytes(item.file_size),
                str(status.revision) if status else "?",
                str(status.total_keys) if status else "?",
                plain(status.cluster_version or "?" if status else "?"),
                "yes" if item.encrypted else "no",
                "yes" if item.verified else plain(item.problem or "no"),
                key=item.path,
            )
        rpo = f"RPO {found.rpo_hours:g} h"
        warning = found.warning
        template = (
            "Snapshots in [b]$folder[/b] · $count · $rpo\n"
            "TOTAL KEYS: every bucket's items (etcdctl); the cluster counts live keys"
        )
        if self.legacy is not None:
            template += ("\n[b]Older snapshots[/b] in $legacy (shared by every cluster named "
                         "$name): move this cluster's here")  # fmt: skip
        if warning:
            template += "\n[b $warning]WARNING:[/] $note"
        self.pending = pending
        if pending is not None:
            template += ("\n[b $error]A restore stopped halfway[/] (run $run, $state): "
                         "C continues it, B rolls it back")  # fmt: skip
        self.query_one("#backups-summary", Static).update(markup(
            template, folder=found.folder, count=len(found.entries), rpo=rpo, note=warning,
            run=pending.run if pending else "", state=pending.shown_status if pending else "",
            legacy=self.legacy or "", name=self.connection.cluster,
        ))  # fmt: skip
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        read_only = bool(getattr(self.app, "read_only", False))
        if action == "restore":
            return not read_only
        if action in ("resume", "rollback"):
            return not read_only and self.pending is not None
        return True

    # --- restore ----------------------------------------------------------------------------

    def _can_restore(self) -> bool:
        if not self.connection.nodes:
            self.notify("Restore needs the cluster's nodes in the config.", severity="error")
        return bool(self.connection.nodes)

    def _rescan_after(self, _: None) -> None:
        self.action_rescan()

    def action_restore(self) -> None:
        if self.pending is not None:
            self.notify("A restore stopped halfway: continue it (C) or roll it back (B) first.",
                        severity="warning")  # fmt: skip
            return
        table = self.query_one("#backups", DataTable)
        if not table.row_count:
            self.notify("No snapshot to restore from.", severity="warning")
            return
        path = Path(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))
        try:
            key = self._key()
        except EtcdtuiError as exc:
            self.notify(printable(str(exc)), title="Key file", severity="error", markup=False)
            return
        if self._can_restore():
            self.launcher.restore(path, key, self._rescan_after)

    def action_resume(self) -> None:
        pending = self.pending
        if pending is None:
            return
        key = None
        with contextlib.suppress(EtcdtuiError):
            key = self._key()
        if self._can_restore():
            self.launcher.resume_restore(pending, key, self._rescan_after)

    def action_rollback(self) -> None:
        if self.pending is not None and self._can_restore():
            self.launcher.rollback_restore(self.pending, self._rescan_after)

    def action_save(self) -> None:
        if self.saving:
            self.notify("A snapshot is being saved already.", severity="warning")
            return
        encrypt = self.query_one("#backups-encrypt", Checkbox).value
        try:
            key = self._key() if encrypt else None
        except EtcdtuiError as exc:
            self.notify(printable(str(exc)), title="Key file", severity="error", markup=False)
            return
        if encrypt and key is None:
            self.notify("Give the key file to encrypt with.", title="Key file", severity="error")
            return
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            reason = printable(f"cannot make {self.folder}: {exc.strerror or exc}")
            self.notify(reason, markup=False, title="Snapshot not saved", severity="error")
            return
        path = self.folder / snapshot_name(self.connection.cluster)
        self.saving = True
        bar = self.query_one("#backups-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#backups-status", Static).update(markup("Saving $path…", path=path))
        self._save(path, key)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, path: Path, key: SnapshotKey | None) -> None:
        from etcdtui.runbooks.snapshot_save import save_recorded
        from etcdtui.snapshots.save import SnapshotSaver

        def progress(done: int, total: int | None, seconds: float) -> None:
            self.app.call_from_thread(self._progress, done, total, seconds)

        # Whatever happens, the screen leaves "saving": _done runs on every path below.
        try:
            saver = SnapshotSaver(self.connection, self.launcher.cluster())
            # The same entry point as `etcdtui snapshot save`: "started" is journaled before
            # the first byte is read, and a log that cannot record it means no save at all.
            result = save_recorded(saver, self.audit, path, key=key, on_progress=progress)
        except AuditLogError as exc:  # before the save (nothing made) or after it (file kept)
            saved = path.exists()
            word = "[b $warning]Saved, not recorded[/]" if saved else "[b $error]Not saved[/]"
            self.app.call_from_thread(self._done, word, str(exc))
            return
        except EtcdtuiError as exc:
            self.app.call_from_thread(self._done, "[b $error]FAILED[/]", str(exc))
            return
        except Exception as exc:  # a bug must not leave the screen "saving" for ever
            self.app.call_from_thread(
                self._done, "[b $error]FAILED[/]", f"unexpected error: {type(exc).__name__}: {exc}"
            )
            return
        self.app.call_from_thread(
            self._done,
            markup(
                "[b $success]Saved[/] $path: $size from $member in $took ($rate, $route)$enc",
                path=result.path, size=human_bytes(result.snapshot_size), member=result.member,
                took=f"{result.seconds:.1f} s", rate=f"{human_bytes(int(result.rate))}/s",
                route=result.route, enc=", encrypted" if result.encrypted else "",
            ),
        )  # fmt: skip

    def _progress(self, done: int, total: int | None, seconds: float) -> None:
        bar = self.query_one("#backups-progress", ProgressBar)
        if total:
            bar.update(total=max(total, done), progress=done)
        rate = human_bytes(int(done / seconds)) + "/s" if seconds > 0 else ""
        self.query_one("#backups-status", Static).update(
            f"Saving… {human_bytes(done)}"
            + (f" of ~{human_bytes(total)}" if total else "")
            + f" · {rate}"
        )

    def _done(self, message: str | Content, error: str = "") -> None:
        """Leave "saving"; `error` (plain text, from outside) goes to the status line and to
        one notification."""
        self.saving = False
        self.query_one("#backups-progress", ProgressBar).display = False
        # With an error, `message` is our own markup word ("[b $error]FAILED[/]").
        line = markup(f"{message}: $reason", reason=error) if error else message
        self.query_one("#backups-status", Static).update(line)
        if error:
            self.notify(printable(error), title="Snapshot save", severity="error", markup=False)
        self.action_rescan()
