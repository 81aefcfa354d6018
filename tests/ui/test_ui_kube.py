"""The Kubernetes screen (`k`): fed fixed reports, it reads no node.

Update the snapshot after a deliberate change:
`.venv/bin/pytest tests/ui/test_ui_kube.py --snapshot-update -p no:cacheprovider`.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import replace

import pytest
from textual.content import Content
from textual.widgets import DataTable, Static
from textual.worker import WorkerFailed

from etcdtui.errors import EtcdtuiError
from etcdtui.services.kube.report import KubeReport
from etcdtui.ui.samples import (
    sample_app,
    sample_connection,
    sample_kube_report,
    sample_kube_screen,
)
from etcdtui.ui.screens.kube import KubeScreen
from tests.helpers.dashboard import settle


async def open_kube(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.app.push_screen(sample_kube_screen())
    await settle(pilot)


@pytest.mark.parametrize("size", [(140, 45), (80, 24)], ids=["wide", "80x24"])
def test_kube_screen_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(sample_app("healthy"), terminal_size=size, run_before=open_kube)


def _summary(app) -> str:  # type: ignore[no-untyped-def]
    return Content.from_markup(str(app.screen.query_one("#kube-summary", Static).content)).plain


async def test_k_on_a_cluster_without_nodes_says_ssh_settings_are_needed() -> None:
    app = sample_app("healthy", nodes=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, KubeScreen)
        assert "Node SSH settings are needed" in _summary(app)
        assert not app.screen.query_one("#kube-body").display
        await pilot.press("escape")
        assert not isinstance(app.screen, KubeScreen)


async def test_read_runs_off_the_ui_thread_and_shows_worst_first() -> None:
    threads: list[threading.Thread] = []

    def reader() -> KubeReport:
        threads.append(threading.current_thread())
        return sample_kube_report()

    app = sample_app("healthy")
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        await app.push_screen(KubeScreen(sample_connection(), reader))
        await settle(pilot)
        assert threads and threads[0] is not threading.main_thread()
        assert _summary(app).startswith("CRITICAL")
        certs = app.screen.query_one("#kube-certs", DataTable)
        statuses = [str(certs.get_row_at(i)[-1]) for i in range(certs.row_count)]
        assert statuses[:3] == ["CRITICAL"] * 3 and statuses[-1] == "OK"
        await pilot.press("r")
        await settle(pilot)
        assert len(threads) == 2


@pytest.mark.parametrize(
    "error", [EtcdtuiError("node1: SSH connection refused"), RuntimeError("boom\nTraceback")]
)
async def test_a_failed_read_is_a_one_line_notification(error: Exception) -> None:
    def reader() -> KubeReport:
        raise error

    app = sample_app("healthy")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.push_screen(KubeScreen(sample_connection(), reader))
        with suppress(WorkerFailed):  # the test waits on the worker; the app never raises it
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, KubeScreen)  # still there: r tries again
        messages = [n.message for n in app._notifications]
        assert len(messages) == 1 and "\n" not in messages[0]
        assert str(error).splitlines()[0] in messages[0]
        assert "Could not read the nodes" in _summary(app)


async def test_an_empty_certificate_table_says_why_no_certificate_was_read() -> None:
    from etcdtui.services.kube.inspect import NodeFacts
    from etcdtui.ui.screens.kube import no_certificates_reason

    facts = (NodeFacts("node1", error="SSH connection refused"), NodeFacts("node2"))
    report = replace(sample_kube_report(), certs=(), facts=facts)
    app = sample_app("healthy")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(KubeScreen(sample_connection(), lambda: report))
        await settle(pilot)
        assert "certificates none read" in _summary(app) and "nothing" not in _summary(app)
        assert not app.screen.query_one("#kube-certs").display
        empty = app.screen.query_one("#kube-certs-empty", Static)
        text = str(empty.render())
        assert empty.display and text.startswith("No certificate could be read: ")
        assert "name no certificate file" in text and "node1: SSH connection refused" in text
    unread = replace(report, facts=(facts[0],))
    assert no_certificates_reason(unread) == (
        "no node could be read (node1: SSH connection refused)"
    )
