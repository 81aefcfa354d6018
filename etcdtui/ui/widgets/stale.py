"""The marks of a cached view, painted at start before the first poll returns.

A view saved minutes or days ago must never pass for a live one: while it is on screen, a
banner says CACHED and how old it is (its age kept current), the summary line says so instead
of a verdict, and the members' rows are drawn dim, without their state colours. The first poll
takes all of it away.
"""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from etcdtui.models import ClusterView
from etcdtui.services.health import quorum_sentence
from etcdtui.services.history import human_duration
from etcdtui.ui.format import markup


def age_text(seconds: float) -> str:
    """How old a view is, in words: "12 s", "3 min", "5 h", "2 days"."""
    return f"{seconds:.0f} s" if seconds < 60 else human_duration(seconds)


def saved_words(saved_at: float, now: float | None = None) -> str:
    """When a cached view was saved, as the banner and the summary say it."""
    age = max(0.0, (time.time() if now is None else now) - saved_at)
    stamp = time.strftime("%H:%M:%S" if age < 20 * 3600 else "%Y-%m-%d %H:%M",
                          time.localtime(saved_at))  # fmt: skip
    return f"saved {stamp}, {age_text(age)} ago"


class StaleBanner(Static):
    """The line above the panes while they show a cached view (hidden otherwise)."""

    DEFAULT_CSS = """
    StaleBanner {
        display: none;
        height: auto;
        padding: 0 1;
        background: $warning;
        color: $text;
        text-style: bold;
    }
    StaleBanner.-shown {
        display: block;
    }
    """

    saved_at: float | None = None

    def show_saved(self, saved_at: float) -> None:
        """Say the panes show the view saved at `saved_at`, not a live one."""
        self.saved_at = saved_at
        self.add_class("-shown")
        self.tick()

    def tick(self) -> None:
        """Bring the age up to date (the first poll may take a timeout or more)."""
        if self.saved_at is None:
            return
        self.update(Content(
            f"⟳ CACHED VIEW, NOT LIVE ({saved_words(self.saved_at)}): waiting for the first "
            "refresh…"
        ))  # fmt: skip

    def hide(self) -> None:
        self.saved_at = None
        self.remove_class("-shown")
        self.update("")


def stale_summary(view: ClusterView, saved_at: float, read_only: str) -> Content:
    """The summary line over a cached view: no verdict, only what was last seen and when.

    `read_only` is our own markup (the READ-ONLY badge or ""); the cluster's text is data.
    """
    leader = view.leader
    # As it was then: quorum_sentence's "down now" would pass for the present.
    quorum = quorum_sentence(view).removesuffix(" now")
    sentence = f"{quorum} · " + (f"leader {leader.name}" if leader else "NO LEADER")
    badge = " [reverse] via ssh [/reverse]" if view.via == "ssh" else ""
    return Content.assemble(
        Content.from_markup("[b reverse $warning] CACHED [/]"),
        markup(
            f"{read_only}{badge}  [b]$cluster[/b] · as last seen: $sentence\n",
            cluster=view.cluster,
            sentence=sentence,
        ),
        markup("[b $warning]$saved: not live[/] · refreshing…", saved=saved_words(saved_at)),
    )
