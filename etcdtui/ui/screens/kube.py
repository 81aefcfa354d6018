"""`k`: the Kubernetes view: which members each kube-apiserver uses, certificate expiry, and
the security checks, read from the nodes over SSH in a worker thread."""

from __future__ import annotations

import math
import posixpath
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker, WorkerState, get_current_worker

from etcdtui.config import Connection
from etcdtui.errors import EtcdtuiError
from etcdtui.models.severity import Severity, worst
from etcdtui.models.text import printable
from etcdtui.services.kube.certs import CertStatus
from etcdtui.services.kube.report import KubeReport
from etcdtui.services.kube.settings import ApiserverSettings
from etcdtui.services.kube.wiring import KubeFinding
from etcdtui.ui.actions import Where, bindings_for
from etcdtui.ui.format import markup, severity_var
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from etcdtui.clients.cluster import ClusterClient
    from etcdtui.clients.ssh.shell import ShellPool
    from etcdtui.models import ClusterView, Member

Reader = Callable[[], KubeReport]

NARROW = 110  # screen columns
_MIN_WRAP = 24  # the message column never gets narrower than this; the table scrolls instead


def live_reader(
    connection: Connection,
    cluster: ClusterClient,
    shells: ShellPool,
    view: Callable[[], ClusterView | None],
) -> Reader:
    """What the app passes: reads the nodes through `shells`, probes through `cluster`'s routes.

    Members come from the dashboard's latest view, else from `member list`. Blocking: call it
    in a worker.
    """

    def read() -> KubeReport:
        from etcdtui.services.kube.report import cluster_report

        latest = view()
        members: Sequence[Member] = [
            m.member for m in (latest.members if latest else ()) if m.member is not None
        ]
        return cluster_report(cluster, shells.shell, members)

    return read


class SeverityTable(DataTable[Text]):
    """A read-only table whose severity colours come from kube.tcss (theme variables).

    Cells are Text, never markup: paths, URLs and errors come from the nodes' files. Each
    value is made printable on its own, so the line breaks that stack values in a cell stay.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "severity--ok",
        "severity--warn",
        "severity--critical",
        "severity--dim",
    }

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, show_cursor=False)
        self.border_title = title
        self.can_focus = False  # the scroll around the tables takes the keys

    def word(self, severity: Severity, text: str | None = None) -> Text:
        """The severity's word (or `text`) in its colour: never colour alone."""
        style = self.get_component_rich_style(f"severity--{severity.value}", partial=True)
        word = text if text is not None else severity.tag
        return Text(printable(word, newlines=True), style=style)

    def dim(self, text: str) -> Text:
        """`text` (outside text welcome) dimmed, its own line breaks kept."""
        style = self.get_component_rich_style("severity--dim", partial=True)
        return Text(printable(text, newlines=True), style=style)

    def fill(self, headers: Sequence[str], rows: Iterable[Sequence[Text]], wrap: int) -> None:
        """Replace columns and rows; column `wrap` takes the width left and wraps its text."""
        rows = list(rows)
        widths = [max([cell_len(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        # The room inside the scroll around the tables, less this table's border.
        parent = self.parent
        outer = parent.scrollable_content_region.width if isinstance(parent, Widget) else 0
        room = (outer or self.app.size.width - 2) - 2
        others = sum(w + 2 for i, w in enumerate(widths) if i != wrap)
        widths[wrap] = max(_MIN_WRAP, min(widths[wrap], room - others - 3))
        self.clear(columns=True)
        for header, width in zip(headers, widths, strict=True):
            self.add_column(header, width=width)
        for row in rows:
            self.add_row(*row, height=None)


def _width(cell: Text) -> int:
    return max((cell_len(line) for line in cell.plain.splitlines()), default=0)


def _message(table: SeverityTable, finding: KubeFinding) -> Text:
    text = Text(printable(_strip_node(finding.node, finding.message), newlines=True))
    if finding.fix:
        text.append("\n→ ")
        text.append_text(table.dim(finding.fix))
    return text


def _strip_node(node: str, message: str) -> str:
    # The node has its own column: "cp1: data dir ..." reads "data dir ...".
    prefix = f"{node}: "
    return message[len(prefix) :] if node and message.startswith(prefix) else message


def _counts(severities: Iterable[Severity], words: dict[Severity, str] | None = None) -> str:
    seen = list(severities)
    parts = [
        f"[{severity_var(s)}]{seen.count(s)} {words[s] if words else s.value}[/]"
        for s in sorted(Severity, reverse=True)
        if s in seen
    ]
    return ", ".join(parts) or "none"


def no_certificates_reason(report: KubeReport) -> str:
    """Why the certificate table is empty, in words (a node's error is outside text)."""
    failed = [f"{f.node}: {f.error}" for f in report.facts if f.error]
    if not report.facts:
        return "no node was read"
    if len(failed) == len(report.facts):
        return "no node could be read (" + "; ".join(failed) + ")"
    why = (
        "the etcd and kube-apiserver settings found on the nodes name no certificate file "
        "(etcd without TLS, or run neither as a kubeadm static pod nor by systemd)"
    )
    return why + (f"; not read: {'; '.join(failed)}" if failed else "")


def summary_markup(report: KubeReport) -> str:
    """The line above the tables: the worst severity and the counts per table."""
    overall = report.worst
    taken = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report.taken_at))
    # A passed security check reads "pass"; the rest say how bad they are.
    security = {Severity.OK: "pass", Severity.WARN: "warn", Severity.CRITICAL: "critical"}
    certs = _counts(c.severity for c in report.certs) if report.certs else "none read"
    return (
        f"[b {severity_var(overall)}]{overall.tag}[/] · "
        f"wiring {_counts(f.severity for f in report.wiring)} · "
        f"certificates {certs} · "
        f"security {_counts((f.severity for f in report.security), security)} · "
        f"{len(report.facts)} nodes · {taken}"
    )


class KubeScreen(Screen[None]):
    """API server wiring, certificates and security checks of the cluster's nodes."""

    CSS_PATH = str(styles_dir() / "kube.tcss")
    BINDINGS = bindings_for(Where.KUBE)

    def __init__(self, connection: Connection, reader: Reader) -> None:
        super().__init__()
        self.connection = connection
        self.reader = reader
        self.report: KubeReport | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="kube-summary")
        with VerticalScroll(id="kube-body"):
            yield SeverityTable("API server wiring", id="kube-wiring")
            yield SeverityTable("Certificates", id="kube-certs")
            empty = Static("", id="kube-certs-empty")
            empty.border_title = "Certificates"
            empty.display = False
            yield empty
            yield SeverityTable("Security checks", id="kube-security")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"Kubernetes · {printable(self.connection.cluster)}"
        self.query_one("#kube-body").focus()
        self.action_reread()

    def action_reread(self) -> None:
        summary = self.query_one("#kube-summary", Static)
        if not self.connection.nodes:
            summary.update(
                markup(
                    "[b $warning]Node SSH settings are needed[/]: add the nodes of $cluster "
                    r"to the config (\[clusters.$name.nodes.<node>], see the README) to read "
                    "their manifests and certificates.",
                    cluster=self.connection.cluster or "this cluster",
                    name=self.connection.cluster or "<name>",
                )
            )
            self.query_one("#kube-body").display = False
            return
        count = len(self.connection.nodes)
        summary.update(f"Reading {count} node{'s' if count != 1 else ''} over SSH…")
        self.query_one("#kube-body").loading = True
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="kube")
    def _read(self) -> None:
        worker = get_current_worker()
        try:
            report = self.reader()
        except EtcdtuiError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, str(exc))
            return
        if not worker.is_cancelled:  # `r` again, or the screen closed: a newer read wins
            self.app.call_from_thread(self.show, report)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Anything the reader did not turn into an EtcdtuiError: still one line, no traceback.
        if event.worker.group == "kube" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self._failed(f"{type(error).__name__}: {error}")

    def _failed(self, message: str) -> None:
        self.query_one("#kube-body").loading = False
        line = message.splitlines()[0] if message else "unknown error"
        self.notify(printable(line), title="Kubernetes checks failed", severity="error",
                    markup=False)  # fmt: skip
        if self.report is None:
            self.query_one("#kube-summary", Static).update(
                markup("[b $error]Could not read the nodes[/]: $line · r tries again", line=line)
            )
        else:
            self.show(self.report)

    def show(self, report: KubeReport) -> None:
        """Render `report` (also what the sample and the tests call)."""
        self.report = report
        self.query_one("#kube-body").loading = False
        summary = self.query_one("#kube-summary", Static)
        summary.update(summary_markup(report))
        summary.set_class(report.worst is Severity.CRITICAL, "-critical")
        summary.set_class(report.worst is Severity.WARN, "-warn")
        self._render_tables(report)

    def on_resize(self, event: Resize) -> None:
        if self.report is not None:
            self.call_after_refresh(self._render_tables, self.report)

    def _render_tables(self, report: KubeReport) -> None:
        # Below NARROW columns the TLS files become ticks and a certificate's role goes above
        # its path, so the messages keep room to wrap in at 80x24.
        narrow = self.size.width < NARROW
        wiring = self.query_one("#kube-wiring", SeverityTable)
        wiring.fill(
            ("NODE", "--ETCD-SERVERS", "TLS" if narrow else "TLS FILES", "STATUS", "MESSAGE / FIX"),
            _wiring_rows(wiring, report, narrow),
            wrap=4,
        )
        certs = self.query_one("#kube-certs", SeverityTable)
        empty = self.query_one("#kube-certs-empty", Static)
        certs.display, empty.display = bool(report.certs), not report.certs
        if not report.certs:
            empty.update(markup("[b]No certificate could be read:[/b] $why",
                                why=no_certificates_reason(report)))  # fmt: skip
        ordered_certs = sorted(report.certs, key=_cert_order)
        if narrow:
            certs.fill(
                ("NODE", "ROLE / PATH", "EXPIRES", "DAYS", "STATUS"),
                ([r[0], _stack(certs, r[1], r[2]), *r[3:]] for r in
                 (_cert_row(certs, c) for c in ordered_certs)),
                wrap=1,
            )  # fmt: skip
        else:
            certs.fill(
                ("NODE", "ROLE", "PATH", "EXPIRES", "DAYS", "STATUS"),
                (_cert_row(certs, c) for c in ordered_certs),
                wrap=2,
            )
        security = self.query_one("#kube-security", SeverityTable)
        ordered = sorted(report.security, key=lambda f: f.severity, reverse=True)  # stable
        security.fill(
            ("CHECK", "NODE", "RESULT", "MESSAGE / FIX"),
            (
                [
                    Text(printable(f.check)),
                    Text(printable(f.node or "cluster")),
                    # A check that could not be made is not a failure: WARN, not FAIL.
                    security.word(f.severity, f.severity.verdict.name),
                    _message(security, f),
                ]
                for f in ordered
            ),
            wrap=3,
        )


def _stack(table: SeverityTable, role: Text, path: Text) -> Text:
    return Text("\n").join([table.dim(role.plain), path])  # both made printable already


def _wiring_rows(table: SeverityTable, report: KubeReport, narrow: bool) -> list[list[Text]]:
    rows: list[list[Text]] = []
    apart = [f for f in report.wiring if f.check == "member-unused" or not f.node]
    for fact in report.facts:
        found = [f for f in report.wiring if f.node == fact.node and f not in apart]
        api = fact.apiserver
        servers = Text("\n".join(printable(s) for s in api.etcd_servers) if api else "—")
        files = Text(_tls_files(api, narrow) if api else "—")
        if found:
            status = table.word(worst(f.severity for f in found))
            bad = [f for f in found if not f.ok] or found
            message = Text("\n").join(_message(table, f) for f in bad)
        else:
            status = table.dim("—")
            message = Text(printable(fact.error or "no kube-apiserver on this node", newlines=True))
        for note in fact.notes:
            message.append("\n")
            message.append_text(table.dim(note))
        rows.append([Text(printable(fact.node)), servers, files, status, message])
    for finding in apart:
        node = Text(printable(finding.node or "cluster"))
        rows.append(
            [node, Text(""), Text(""), table.word(finding.severity), _message(table, finding)]
        )
    return rows


def _tls_files(api: ApiserverSettings, narrow: bool) -> str:
    lines = []
    for flag, path in (("ca", api.etcd_cafile), ("cert", api.etcd_certfile),
                       ("key", api.etcd_keyfile)):  # fmt: skip
        if narrow:
            lines.append(f"{flag} {'✓' if path else '✗'}")
        else:
            lines.append(printable(posixpath.basename(path)) if path else f"no --etcd-{flag}file")
    return "\n".join(lines)


def _cert_order(cert: CertStatus) -> tuple[int, float, str, str]:
    days = cert.days_left if cert.not_after is not None else float("-inf")
    return -cert.severity.rank, days, cert.node, cert.path


def _cert_row(table: SeverityTable, cert: CertStatus) -> list[Text]:
    if cert.not_after is None:
        expires, days = table.word(Severity.CRITICAL, "unreadable"), Text("—")
        path = Text(printable(cert.path))
        path.append("\n")
        path.append_text(table.dim(cert.error or "unreadable"))
    else:
        expires = Text(cert.not_after.strftime("%Y-%m-%d"))
        # Rounded down, as the certificate module does: the time left is never overstated.
        left = f"{math.floor(cert.days_left)}" if cert.days_left >= 0 else "expired"
        days = Text(left, justify="right")
        path = Text(printable(cert.path))
    node, role = Text(printable(cert.node)), Text(printable(cert.role))
    return [node, role, path, expires, days, table.word(cert.severity)]
