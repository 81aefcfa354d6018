"""The defrag's options, and the ones both front ends offer declared once.

`SHARED_OPTIONS` (the rule, compact, move the leader) is what `etcdtui defrag` makes its flags
from and the defrag screen makes its form from: a name, a kind, a default, the CLI's help and
the form's label. `DefragOptions` takes its defaults from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from etcdtui.runbooks.defrag.rule import Rule, parse_rule

T = TypeVar("T")


class OptionKind(StrEnum):
    """How an option is given: a rule expression as text, or a flag that is on or off."""

    RULE = "rule"
    FLAG = "flag"


@dataclass(frozen=True)
class SharedOption(Generic[T]):
    """One option of both front ends: `--name` on the CLI, a field of the defrag's form."""

    name: str  # DefragOptions' field; the flag and the form's widget id spell it with "-"
    kind: OptionKind
    default: T
    help: str  # the CLI's help
    label: str  # the form's words: a checkbox's label, a text field's placeholder
    metavar: str | None = None  # the CLI's name for its value (a RULE's)

    @property
    def flag(self) -> str:
        """The CLI flag, e.g. `--move-leader`."""
        return "--" + self.widget_id

    @property
    def widget_id(self) -> str:
        """The form field's id, e.g. `move-leader`."""
        return self.name.replace("_", "-")


RULE: SharedOption[None] = SharedOption(
    "rule",
    OptionKind.RULE,
    None,  # every member
    help="which members, e.g. 'dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024'",
    label="rule, e.g. dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024 (empty: every member)",
    metavar="EXPR",
)
COMPACT = SharedOption(
    "compact",
    OptionKind.FLAG,
    False,
    help="compact to the current revision first (destructive: asks)",
    label="compact first",
)
MOVE_LEADER = SharedOption(
    "move_leader",
    OptionKind.FLAG,
    False,
    help="hand leadership to a defragmented follower before the leader's turn",
    label="move leader",
)
# In the order the CLI's help and the form show them.
SHARED_OPTIONS: tuple[SharedOption[Any], ...] = (RULE, COMPACT, MOVE_LEADER)


@dataclass(frozen=True)
class DefragOptions:
    """What a defrag run is asked to do; the CLI sets every field, the screen the shared ones."""

    rule: Rule | None = RULE.default
    compact: bool = COMPACT.default
    move_leader: bool = MOVE_LEADER.default
    wait: float = 5.0  # seconds between members, after the health re-check passes
    defrag_timeout: float = 60.0  # etcdctl's 5 s is too short for a large database
    on_node: bool = False  # etcdctl defrag on each member's node over SSH


FormValues = Mapping[str, str | bool]  # the form's fields by option name: text or ticked


def from_form(values: FormValues) -> DefragOptions:
    """The options the defrag's form says: an empty rule means every member (RuleError if the
    rule does not parse)."""
    chosen: dict[str, Any] = {}
    for option in SHARED_OPTIONS:
        value = values.get(option.name, option.default)
        if option.kind is OptionKind.RULE:
            text = str(value or "").strip()
            chosen[option.name] = parse_rule(text) if text else option.default
        else:
            chosen[option.name] = bool(value)
    return DefragOptions(**chosen)
