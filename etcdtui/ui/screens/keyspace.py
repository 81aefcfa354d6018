"""Keyspace: what fills the database, the biggest groups first with a bar of their bytes.

`l` scans a follower live (keys only, paged, rate-bounded; `x` stops it and keeps what it
counted); `s` reads the newest snapshot of the catalogue offline, with its history and
tombstones. Enter shows what is inside the selected group, one level down; backspace goes
back up. Reading runs in a thread worker; the table is filled from its result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models.units import human_bytes
from etcdtui.services.keyspace import KeyspaceReport, drill_down, grouper, snapshot_report
from etcdtui.services.keyspace_render import bar
from etcdtui.ui.actions import Where, bindings_for
from etcdtui.ui.format import NEWLINE, markup, plain
from etcdtui.ui.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from etcdtui.clients.cluster import ClusterClient
    from etcdtui.snapshots.crypto import SnapshotKey

BAR_CELLS = 16
LIVE, SNAPSHOT = "live", "snapshot"


@dataclass(frozen=True)
class Level:
    """Where the screen is in the keyspace: a prefix and a grouping depth (None: default)."""

    prefix: str = ""
    depth: int | None = None


def newest_snapshot(folder: Path) -> Path | None:
    """The newest snapshot of the catalogue folder that is not known to be bad."""
    from etcdtui.snapshots.catalogue import snapshot_files

    try:
        files = snapshot_files(folder)
    except EtcdtuiError:
        return None
    return files[0] if files else None


class KeyspaceScreen(Screen[None]):
    """The top groups of the keyspace, from a live scan or the latest snapshot."""

    BINDINGS = bindings_for(Where.KEYSPACE)

    def __init__(
        self,
        connection: Connection,
        folder: Path,
        cluster: Callable[[], ClusterClient] | None = None,
        source: str = SNAPSHOT,
    ) -> None:
        """`folder`: the snapshot catalogue; `cluster` gives the client a live scan asks
        which member is a follower (None: live scans are not offered)."""
        super().__init__()
        self.connection = connection
        self.folder = folder
        self.cluster = cluster
        self.source = source
        self.levels: list[Level] = [Level()]
        self.report: KeyspaceReport | None = None
        self.stop = threading.Event()
        self.scanning = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="keyspace-summary")
        yield Input(placeholder="key file (0600): to read encrypted snapshots", id="keyspace-key")
        yield Static("", id="keyspace-status")
        table: DataTable[object] = DataTable(id="keyspace", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="keyspace-checks")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#keyspace", DataTable).focus()
        self._read()

    def on_unmount(self) -> None:
        self.stop.set()  # a live scan ends at its next page

    # --- reading ---------------------------------------------------------------------------

    def _key(self) -> SnapshotKey | None:
        text = self.query_one("#keyspace-key", Input).value.strip()
        if not text:
            return None
        from etcdtui.snapshots.crypto import SnapshotKey

        return SnapshotKey.from_file(Path(text).expanduser())

    def _read(self) -> None:
        level = self.levels[-1]
        self.stop = threading.Event()
        self.scanning = True
        self.refresh_bindings()
        where = f" under {level.prefix}" if level.prefix else ""
        self._status(f"reading the {'cluster' if self.source == LIVE else 'snapshot'}{where}…")
        try:
            key = self._key() if self.source == SNAPSHOT else None
        except EtcdtuiError as exc:
            self._finish(None, exc.message)
            return
        self._worker(self.source, level, key, self.stop)

    @work(thread=True, exclusive=True, group="keyspace", exit_on_error=False)
    def _worker(
        self, source: str, level: Level, key: SnapshotKey | None, stop: threading.Event
    ) -> None:
        try:
            report = self._live(level, stop) if source == LIVE else self._snapshot(level, key)
        except EtcdtuiError as exc:
            self.app.call_from_thread(self._finish, None, exc.message)
            return
        self.app.call_from_thread(self._finish, report, "")

    def _snapshot(self, level: Level, key: SnapshotKey | None) -> KeyspaceReport:
        from etcdtui.snapshots.keyspace import snapshot_keyspace

        path = newest_snapshot(self.folder)
        if path is None:
            raise EtcdtuiError(f"no snapshot in {self.folder}: save one (Backups, s)")
        group_of = grouper(level.depth)
        found = snapshot_keyspace(path, key, group_of, level.prefix.encode())
        return snapshot_report(found, level.prefix)

    def _live(self, level: Level, stop: threading.Event) -> KeyspaceReport:
        from etcdtui.services.keyspace_live import ScanOptions, run_scan, scan_client

        if self.cluster is None:
            raise EtcdtuiError("no cluster to scan: read the latest snapshot (s) instead")
        scanner = scan_client(self.cluster())  # the cluster owns it: not closed here
        endpoint = scanner.endpoint

        def progress(keys: int, rate: float) -> None:
            self.app.call_from_thread(
                self._status, f"scanning {endpoint}: {keys:,} keys, {rate:,.0f} keys/s (x stops)"
            )

        options = ScanOptions(prefix=level.prefix.encode())
        return run_scan(scanner, grouper(level.depth), options, stop=stop, progress=progress)

    # --- showing ---------------------------------------------------------------------------

    def _status(self, text: str) -> None:
        self.query_one("#keyspace-status", Static).update(markup("$text", text=text))

    def _finish(self, report: KeyspaceReport | None, error: str) -> None:
        self.scanning = False
        self.refresh_bindings()
        if report is None:
            self._status("")
            self.query_one("#keyspace-status", Static).update(
                markup("[b $error]Cannot read the keyspace:[/] $why", why=error)
            )
            return
        self.report = report
        self._fill(report)

    def _summary(self, report: KeyspaceReport) -> str:
        total = report.total
        text = (f"{report.mode} · {report.source} · revision {report.revision} · "
                f"{total.keys:,} keys, {human_bytes(total.bytes)}")  # fmt: skip
        if report.live is not None:
            live = report.live
            sizes = ("exact sizes" if live.sample_size is None
                     else f"sizes from {live.sample_size} values per group")  # fmt: skip
            state = "" if live.complete else " · STOPPED: partial"
            rate = f"{live.keys_per_second:,.0f} keys/s (limit {live.rate_limit:,.0f})"
            text += f" · {rate} · {sizes}{state}"
        if report.snapshot is not None:
            snap = report.snapshot
            text += (f" · history {human_bytes(total.history_bytes or 0)} · "
                     f"{snap.leases} leases ({snap.leases_without_keys} without keys)")  # fmt: skip
        return text

    def _fill(self, report: KeyspaceReport) -> None:
        level = self.levels[-1]
        where = level.prefix or "the whole keyspace"
        self.query_one("#keyspace-summary", Static).update(markup(
            "[b]$where[/b] · $summary\nl live scan · s latest snapshot · Enter drills down · "
            "backspace goes up", where=where, summary=self._summary(report),
        ))  # fmt: skip
        self._status("")
        table = self.query_one("#keyspace", DataTable)
        table.clear(columns=True)
        columns = ["GROUP", "KEYS", "BYTES", "OF ALL", ""]
        if report.snapshot is not None:
            columns += ["HISTORY REVS", "HISTORY BYTES", "TOMBSTONES"]
        table.add_columns(*columns)
        total = report.total.bytes
        biggest = report.groups[0].bytes if report.groups else 0  # bars are scaled to it
        for row in report.groups:
            cells: list[object] = [
                plain(row.prefix or "(no prefix)"),
                f"{row.keys:,}",
                human_bytes(row.bytes),
                f"{row.bytes / total:.1%}" if total else "-",
                bar(row.bytes, biggest, BAR_CELLS),
            ]
            if report.snapshot is not None:
                cells += [f"{row.history_revisions or 0:,}", human_bytes(row.history_bytes or 0),
                          f"{row.tombstones or 0:,}"]  # fmt: skip
            table.add_row(*cells, key=row.prefix)
        checks = [markup("[b]$tag[/b] $message · fix: $fix", tag=f.severity.tag,
                         message=f.message, fix=f.fix) for f in report.findings]  # fmt: skip
        self.query_one("#keyspace-checks", Static).update(NEWLINE.join(checks))

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_scan":
            return self.scanning and self.source == LIVE
        if action == "go_up":
            return len(self.levels) > 1
        if action == "scan_live":
            return self.cluster is not None
        return True

    def action_scan_live(self) -> None:
        self.source = LIVE
        self._read()

    def action_read_snapshot(self) -> None:
        self.source = SNAPSHOT
        self._read()

    def action_stop_scan(self) -> None:
        self.stop.set()

    def action_drill_down(self) -> None:
        table = self.query_one("#keyspace", DataTable)
        if not table.row_count or self.scanning:
            return
        prefix = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        level = self.levels[-1]
        if prefix == level.prefix:
            self.notify("Nothing further down: these are the group's keys.", markup=False)
            return
        self.levels.append(Level(*drill_down(prefix, level.depth)))
        self._read()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_drill_down()  # a click, or Enter where the table takes it first

    def action_go_up(self) -> None:
        if len(self.levels) > 1:
            self.levels.pop()
            self._read()
