"""Choose one of the config's clusters."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ClusterPicker(ModalScreen[str | None]):
    """A list of cluster names; Enter picks, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-pick")]

    def __init__(self, clusters: list[str], current: str | None = None) -> None:
        super().__init__()
        self.clusters = clusters
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label("Which cluster?")
            yield OptionList(
                *(
                    Option(f"{name}{'  (current)' if name == self.current else ''}", id=name)
                    for name in self.clusters
                ),
                id="clusters",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
