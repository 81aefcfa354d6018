"""Confirmation before a runbook changes anything: y/n, or the cluster's name typed out.

The dialog fits a 80x24 terminal whatever the plan: the warning stays at the top and the
prompt at the bottom, and the commands between them scroll. Commands and paths are broken at
spaces and path separators, never in the middle of an ID when a separator allows it.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from etcdtui.models.text import printable
from etcdtui.ui.format import markup
from etcdtui.ui.paths import styles_dir
from etcdtui.ui.wrap import BrokenLines


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only on an explicit yes (or the exact name, when one is required).

    `question`, `warning` and `commands` are plain text, shown as written (they hold cluster
    names and commands). `warning` stays in view however far the commands scroll.
    """

    CSS_PATH = str(styles_dir() / "runbook.tcss")
    # The name is typed at once (the commands scroll with PageUp/PageDown meanwhile); a y/n
    # question has no input, and its keys work without a focus.
    AUTO_FOCUS = "#confirm-input"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="cancel-confirm"),
        # The commands scroll while the input keeps the focus.
        Binding("pageup", "scroll_commands(-1)", show=False, id="confirm-page-up"),
        Binding("pagedown", "scroll_commands(1)", show=False, id="confirm-page-down"),
        Binding("up", "scroll_commands(-0.1)", show=False, id="confirm-line-up"),
        Binding("down", "scroll_commands(0.1)", show=False, id="confirm-line-down"),
    ]

    def __init__(
        self,
        question: str,
        require: str | None = None,
        *,
        warning: str = "",
        commands: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.question = question
        self.require = require
        self.warning = warning
        self.commands = list(commands)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="-destructive" if self.warning else ""):
            if self.warning:
                yield Static(Content(printable(self.warning, newlines=True)),
                             id="confirm-warning")  # fmt: skip
            with VerticalScroll(id="confirm-body", can_focus=False):
                yield Static(Content(printable(self.question, newlines=True)),
                             id="confirm-question")  # fmt: skip
                if self.commands:
                    yield BrokenLines(self.commands, id="confirm-commands")
            if self.require:
                yield Label(markup("Type [b]$name[/b] and press Enter to go on; Esc cancels.",
                                   name=self.require), id="confirm-prompt")  # fmt: skip
                # No placeholder: greyed text in the box reads as typed without colour.
                yield Input(id="confirm-input")
            else:
                yield Label("Press [b]y[/b] to go on, [b]n[/b] or Esc to cancel.",
                            id="confirm-prompt")  # fmt: skip

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Cap the commands' height so the warning and the prompt stay on screen (CSS has no
        "what is left of an auto-height dialog")."""
        dialog = self.query_one("#confirm", Vertical)
        body = self.query_one("#confirm-body", VerticalScroll)
        chrome = dialog.outer_size.height - dialog.content_size.height
        others = sum(
            w.outer_size.height + w.styles.margin.top + w.styles.margin.bottom
            for w in dialog.children
            if w is not body and w.display
        )
        body.styles.max_height = max(3, self.size.height - chrome - others)

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

    def action_scroll_commands(self, pages: float) -> None:
        """Scroll the commands by `pages` of their view (the input keeps the focus)."""
        body = self.query_one("#confirm-body", VerticalScroll)
        step = max(1, int(body.scrollable_content_region.height * abs(pages)))
        body.scroll_to(y=body.scroll_y + (step if pages > 0 else -step), animate=False)

    def action_cancel(self) -> None:
        self.dismiss(False)
