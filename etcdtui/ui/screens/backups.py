"""Backups: the snapshot catalogue of the cluster's folder, and taking a snapshot now."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, ProgressBar, Static

from etcdtui.clients.cluster import ClusterClient
from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models.units import human_age, human_bytes
from etcdtui.runbooks.audit import AuditLog, new_run_id
from etcdtui.runbooks.catalogue import Catalogue, catalogue, default_snapshot_dir
from etcdtui.ui.format import escape


def snapshot_name(cluster: str, now: float | None = None) -> str:
    """<cluster>-<UTC date and time>.db: sorts by age, never collides within a second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{cluster}-{stamp}.db"


class BackupsScreen(Screen[None]):
    """The catalogue (newest first, with an RPO warning) and `s` to save a snapshot now."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="backups-back"),
        Binding("s", "save", "Save snapshot now", id="backups-save"),
        Binding("r", "rescan", "Rescan", id="backups-rescan"),
    ]

    def __init__(
        self,
        connection: Connection,
        cluster: Callable[[], ClusterClient],
        audit: AuditLog,
    ) -> None:
        super().__init__()
        self.connection = connection
        self.cluster = cluster
        self.audit = audit
        self.folder = Path(connection.snapshot_dir or default_snapshot_dir(connection.cluster))
        self.saving = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="backups-summary")
        with Horizontal(id="backups-options"):
            yield Checkbox("Encrypt new snapshots", id="backups-encrypt")
            yield Input(placeholder="key file (0600): to encrypt, and to verify encrypted ones",
                        id="backups-key")  # fmt: skip
        yield ProgressBar(id="backups-progress", show_eta=False)
        yield Static("", id="backups-status")
        table: DataTable[str] = DataTable(id="backups", cursor_type="row", zebra_stripes=True)
        table.add_columns("FILE", "AGE", "SIZE", "REVISION", "KEYS", "ETCD", "ENCRYPTED",
                          "VERIFIED")  # fmt: skip
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#backups-progress", ProgressBar).display = False
        self.query_one("#backups", DataTable).focus()  # so `s` saves rather than types
        self.action_rescan()

    def _key(self) -> object | None:
        text = self.query_one("#backups-key", Input).value.strip()
        if not text:
            return None
        from etcdtui.clients.snapshot_crypto import SnapshotKey

        return SnapshotKey.from_file(Path(text).expanduser())

    def action_rescan(self) -> None:
        self.query_one("#backups-summary", Static).update(
            f"Snapshots in [b]{escape(str(self.folder))}[/b] · reading…"
        )
        try:
            key = self._key()
        except EtcdtuiError as exc:
            self.notify(escape(str(exc)), title="Key file", severity="error")
            key = None
        self._scan(key)

    @work(thread=True, exclusive=True, group="catalogue", exit_on_error=False)
    def _scan(self, key: object | None) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = catalogue(self.folder, key, self.connection.rpo_hours)  # type: ignore[arg-type]
        self.app.call_from_thread(self._show, found)

    def _show(self, found: Catalogue) -> None:
        table = self.query_one("#backups", DataTable)
        table.clear()
        for item in found.entries:
            status = item.status
            table.add_row(
                Path(item.path).name,
                human_age(found.now - item.modified),
                human_bytes(item.file_size),
                str(status.revision) if status else "?",
                str(status.total_keys) if status else "?",
                status.cluster_version or "?" if status else "?",
                "yes" if item.encrypted else "no",
                "yes" if item.verified else escape(item.problem or "no"),
                key=item.path,
            )
        rpo = f"RPO {found.rpo_hours:g} h"
        warning = found.warning
        line = f"Snapshots in [b]{escape(found.folder)}[/b] · {len(found.entries)} · {rpo}"
        if warning:
            line += f"\n[b $warning]WARNING:[/] {escape(warning)}"
        self.query_one("#backups-summary", Static).update(line)

    def action_save(self) -> None:
        if self.saving:
            self.notify("A snapshot is being saved already.", severity="warning")
            return
        encrypt = self.query_one("#backups-encrypt", Checkbox).value
        try:
            key = self._key() if encrypt else None
        except EtcdtuiError as exc:
            self.notify(escape(str(exc)), title="Key file", severity="error")
            return
        if encrypt and key is None:
            self.notify("Give the key file to encrypt with.", title="Key file", severity="error")
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / snapshot_name(self.connection.cluster)
        self.saving = True
        bar = self.query_one("#backups-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#backups-status", Static).update(f"Saving {escape(str(path))}…")
        self._save(path, key)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, path: Path, key: object | None) -> None:
        from etcdtui.runbooks.backup import SnapshotSaver

        def progress(done: int, total: int | None, seconds: float) -> None:
            self.app.call_from_thread(self._progress, done, total, seconds)

        started = time.monotonic()
        run_id = new_run_id()
        try:
            saver = SnapshotSaver(self.connection, self.cluster())
            result = saver.save(path, None, key, progress)  # type: ignore[arg-type]
        except EtcdtuiError as exc:
            self.audit.record(cluster=self.connection.cluster, runbook="snapshot-save",
                              run_id=run_id, step=1, step_id="save", target="",
                              command=f"snapshot save {path}", exit_code=1,
                              duration=time.monotonic() - started, note=exc.message)  # fmt: skip
            self.app.call_from_thread(self._done, f"[b $error]FAILED[/] {escape(str(exc))}")
            return
        self.audit.record(cluster=self.connection.cluster, runbook="snapshot-save",
                          run_id=run_id, step=1, step_id="save", target=result.member,
                          command=f"snapshot save {result.path} via {result.route}",
                          exit_code=0, duration=result.seconds,
                          note=f"sha256 {result.sha256}")  # fmt: skip
        self.app.call_from_thread(
            self._done,
            f"[b $success]Saved[/] {escape(str(result.path))}: "
            f"{human_bytes(result.snapshot_size)} from {escape(result.member)} in "
            f"{result.seconds:.1f} s ({human_bytes(int(result.rate))}/s, {escape(result.route)})"
            + (", encrypted" if result.encrypted else ""),
        )

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

    def _done(self, message: str) -> None:
        self.saving = False
        self.query_one("#backups-progress", ProgressBar).display = False
        self.query_one("#backups-status", Static).update(message)
        self.action_rescan()
