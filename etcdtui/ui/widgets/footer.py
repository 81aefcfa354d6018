"""The footer: compact keys in the action table's order, whole keys only.

At 80 columns not every key fits. Textual's footer then cuts the last one mid-word
(`s Ba▏`); this one leaves out whole keys from the end of the table's order instead, so `?`
and the runbooks stay. Every key left out is still in the palette (`:`) and the help (`?`).
A key refused right now (read-only, one cluster, no NOSPACE alarm) is left out too: pressing
it says why.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from etcdtui.ui.actions import ACTIONS, BY_ID, refusal

_RANK = {entry.id: rank for rank, entry in enumerate(ACTIONS)}
# A key as the footer draws it: key, its display, description, action, enabled, tooltip.
_Key = tuple[str, str, str, str, bool, str]


class KeyFooter(Footer):
    """Footer(compact=True) that fits its keys to its width, most important first."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self._width = 0
        self._drawn: list[_Key] = []

    def shown(self) -> list[tuple[Binding, bool, str]]:
        """The bindings to show, in table order, refused ones left out."""
        seen: dict[str, tuple[Binding, bool, str]] = {}
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            entry = BY_ID.get(binding.id or "")
            if entry is not None and refusal(self.screen, entry):
                continue
            seen[binding.action] = (binding, enabled, tooltip)
        return sorted(seen.values(), key=lambda b: _RANK.get(b[0].id or "", len(_RANK)))

    def keys(self) -> list[_Key]:
        """The keys that fit, as they are drawn."""
        if not self._bindings_ready:
            return []
        room = self._width or self.size.width
        used = 0
        keys: list[_Key] = []
        for binding, enabled, tooltip in self.shown():
            key = self.app.get_key_display(binding)
            # compact: "k Title" then a margin of one
            width = cell_len(key) + 1 + cell_len(binding.description)
            if room and used + width > room:
                continue  # left out whole; a shorter one further on may still fit
            used += width + 1
            keys.append((binding.key, key, binding.description, binding.action, enabled,
                         tooltip or binding.description))  # fmt: skip
        return keys

    def compose(self) -> ComposeResult:
        self._drawn = self.keys()
        for key, display, description, action, enabled, tooltip in self._drawn:
            yield FooterKey(key, display, description, action, disabled=not enabled,
                            tooltip=tooltip).data_bind(compact=Footer.compact)  # fmt: skip

    async def recompose(self) -> None:
        # Textual asks for a new footer whenever the screen's bindings may have changed: four
        # times while the dashboard starts, ~20 ms each. Only a footer that changes is rebuilt.
        if self.is_attached and self.keys() == self._drawn:
            return
        await super().recompose()

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)
