"""Which cluster of the config the app shows: switching to another, and following the file.

A runbook that replaces or adds a member writes the config file; the app notices (one stat
after every refresh, no read) and polls what the file says now, so a replaced member leaves
the dashboard instead of staying as an unreachable ghost.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from etcdtui.config import Connection, cluster_names, load_connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models.text import printable
from etcdtui.ui.screens.picker import ClusterPicker

if TYPE_CHECKING:
    from etcdtui.ui.app import EtcdtuiApp


class ConfigWatch:
    """The file `connection` came from (none with --endpoints), and when it last changed."""

    def __init__(self, connection: Connection) -> None:
        source = connection.source
        self.path = None if not source or source == "flags" else Path(source)
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> int | None:
        if self.path is None:
            return None
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def changed(self) -> bool:
        """True when the file changed since it was last read (always False without one)."""
        return self.path is not None and self._read_stamp() != self._stamp

    def read(self, cluster: str) -> tuple[Connection, list[str]]:
        """`cluster` as the file says now, and every cluster it names. Raises EtcdtuiError;
        a broken file counts as read, so that it is reported once, not after every poll."""
        assert self.path is not None
        self._stamp = self._read_stamp()
        return load_connection(self.path, cluster), cluster_names(self.path)


class ClusterSwitch:
    """The clusters of the config file the app was started with, and the file of the
    cluster shown now (`watch`, renewed by `follow` whenever the app moves to another)."""

    def __init__(self, app: EtcdtuiApp, config_path: Path | None, clusters: list[str]) -> None:
        self.app = app
        self.config_path = config_path
        self.clusters = clusters
        self.watch = ConfigWatch(app.connection)

    def follow(self, connection: Connection) -> None:
        """Watch the file `connection` was read from from now on."""
        self.watch = ConfigWatch(connection)

    def refusal(self, action_id: str) -> str | None:
        """Why switching or reloading does nothing now (None when it works, or for others)."""
        if action_id == "cluster" and len(self.clusters) < 2:
            if self.clusters:
                return "only one cluster is configured"
            return "no config file with several clusters (started with --endpoints)"
        if action_id == "reload-config" and self.watch.path is None:
            return "this cluster was not read from a config file (--endpoints)"
        return None

    def choose(self, first: bool) -> None:
        """Ask which cluster to show; `first`: none is shown yet, so no choice quits."""
        if not self.clusters:
            return

        def chosen(name: str | None) -> None:
            if name is None:
                if first:
                    self.app.exit(0)
                return
            self.use(name)

        current = self.app.connection.cluster or None
        self.app.push_screen(ClusterPicker(self.clusters, current), chosen)

    def use(self, name: str) -> None:
        """Switch to another cluster of the config, leaving nothing of the old one on screen."""
        assert self.config_path is not None
        try:
            connection = load_connection(self.config_path, name)
        except EtcdtuiError as exc:
            self.app.notify(printable(str(exc), newlines=True), title="Cannot use this cluster",
                            severity="error", markup=False)  # fmt: skip
            return
        self.app.use(connection, reset=f"Connecting to {connection.cluster}…")

    def check(self) -> None:
        """Reload the config when its file changed (a runbook wrote it: replace, add member)."""
        if self.watch.changed():
            self.reload(changed=True)

    def reload(self, changed: bool = False) -> None:
        """Read the config file again and poll what it says now."""
        path = self.watch.path
        if path is None:
            return
        app = self.app
        try:
            connection, names = self.watch.read(app.connection.cluster)
        except EtcdtuiError as exc:
            app.notify(printable(str(exc), newlines=True), title="Config not reloaded",
                       severity="error", markup=False)  # fmt: skip
            return
        if self.config_path is not None and path.resolve() == self.config_path.resolve():
            self.clusters = names
        if connection == app.connection:
            if not changed:
                app.notify("The config file says nothing new for this cluster.",
                           title="Config reloaded")  # fmt: skip
            return
        app.use(connection)
        app.notify(printable(f"{path}: {connection.cluster} now has endpoints "
                             f"{', '.join(connection.endpoints)}"),
                   title="Config file changed: reloaded", markup=False)  # fmt: skip
        app.refresh_bindings()
