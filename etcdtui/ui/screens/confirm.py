"""Confirmation before a runbook changes anything: y/n, or the cluster's name typed out."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from etcdtui.models.text import printable
from etcdtui.ui.format import markup


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only on an explicit yes (or the exact name, when one is required).

    `question` is plain text, shown as written (it holds cluster names and commands).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-confirm")]

    def __init__(self, question: str, require: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.require = require

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(Content(printable(self.question, newlines=True)), id="confirm-question")
            if self.require:
                yield Label(markup("Type [b]$name[/b] and press Enter to go on; Esc cancels.",
                                   name=self.require))  # fmt: skip
                yield Input(placeholder=printable(self.require), id="confirm-input")
            else:
                yield Label("Press [b]y[/b] to go on, [b]n[/b] or Esc to cancel.")

    def on_key(self, event) -> None:  # type: ignore[no-untyped-def]
        if self.require:
            return
        if event.key == "y":
            self.dismiss(True)
        elif event.key == "n":
            self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.require:
            self.dismiss(True)
        else:
            self.notify(f"That is not '{printable(self.require or '')}': nothing was run.",
                        severity="warning", markup=False)  # fmt: skip
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
