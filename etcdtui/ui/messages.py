"""Messages that carry poll results from worker threads to the screen."""

from __future__ import annotations

from textual.message import Message

from etcdtui.models import ClusterView


class ClusterRefreshed(Message):
    """A refresh finished; a newer one replaces an older one still in the queue."""

    def __init__(self, view: ClusterView, generation: int = 0) -> None:
        super().__init__()
        self.view = view
        self.generation = generation

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ClusterRefreshed)
