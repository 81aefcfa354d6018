"""Choose one of a few names: the config's clusters, or a node for a member."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from etcdtui.models.text import printable


class ChoicePicker(ModalScreen[str | None]):
    """A list of names under a question; Enter picks, Esc cancels.

    The question and the names are plain text (member and node names), never markup.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-pick")]

    def __init__(self, question: str, choices: list[str], current: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label(Content(printable(self.question)))
            yield OptionList(
                *(
                    Option(
                        Content(printable(name) + ("  (current)" if name == self.current else "")),
                        id=name,
                    )
                    for name in self.choices
                ),
                id="clusters",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ClusterPicker(ChoicePicker):
    """The config's clusters."""

    def __init__(self, clusters: list[str], current: str | None = None) -> None:
        super().__init__("Which cluster?", clusters, current)
