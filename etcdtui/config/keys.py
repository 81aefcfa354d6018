"""How a config key is declared: once, with what it is for.

A table of the file that becomes a dataclass (a cluster, a node, its ssh table) declares its
keys on that dataclass's fields, ``field(default=..., metadata=config_key("what it is for"))``:
the field's name is the key, its default the key's default, and a field without a default is
a required key. The other tables (the top level, a profile's commands) list `Key`s directly.
From either come the keys a table allows (`Table.names`, for `TableReader.unknown_keys`), its
defaults (`Table.default`) and the key reference (`Table.reference`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from etcdtui.toml_io import toml_value

_DOC = "etcdtui.config.doc"  # metadata: the field is a key; what it is for
_KEYS_FROM = "etcdtui.config.keys_from"  # metadata: the field's dataclass's keys sit here


def config_key(doc: str) -> Mapping[str, Any]:
    """Field metadata making the field a key of its table, documented by `doc`."""
    return {_DOC: doc}


def keys_from(cls: type) -> Mapping[str, Any]:
    """Field metadata for a field whose own dataclass's keys are written in this table
    (a cluster's cacert, cert and key make its `TlsFiles`)."""
    return {_KEYS_FROM: cls}


@dataclass(frozen=True)
class Key:
    """One key of a table: its name, what it is for, and its default (`required` when it
    has none)."""

    name: str
    doc: str
    default: Any = None
    required: bool = False

    def line(self) -> str:
        """The key's doc with its default (only a default that says something) or
        "required"."""
        if self.required:
            return f"{self.doc} (required)"
        if self.default in (None, "", (), {}):
            return self.doc
        return f"{self.doc} (default: {toml_value(self.default)})"


def keys_of(cls: type) -> tuple[Key, ...]:
    """The keys declared on `cls`'s fields, in field order."""
    found: list[Key] = []
    for item in fields(cls):
        if _KEYS_FROM in item.metadata:
            found.extend(keys_of(item.metadata[_KEYS_FROM]))
        elif _DOC in item.metadata:
            if item.default is not MISSING:
                default: Any = item.default
            elif item.default_factory is not MISSING:
                default = item.default_factory()
            else:
                found.append(Key(item.name, item.metadata[_DOC], required=True))
                continue
            found.append(Key(item.name, item.metadata[_DOC], default))
    return tuple(found)


@dataclass(frozen=True)
class Table:
    """One kind of table in the config file: where it sits, what it is, and its keys."""

    where: str  # as a header: "clusters.NAME.nodes.NODE"; "" for the top level
    doc: str
    keys: tuple[Key, ...]

    @property
    def names(self) -> frozenset[str]:
        """The keys this table allows; any other is an error naming it."""
        return frozenset(k.name for k in self.keys)

    def default(self, name: str) -> Any:
        """The default of key `name`, as declared."""
        return next(k.default for k in self.keys if k.name == name)

    def reference(self, width: int = 100) -> str:
        """The table's header, what it is, and one entry per key."""
        header = f"[{self.where}]" if self.where else "(top level)"
        column = max(len(k.name) for k in self.keys) + 4
        lines = [textwrap.fill(f"{header}: {self.doc}", width, subsequent_indent="  ")]
        for item in self.keys:
            lines.append(
                textwrap.fill(
                    item.line(),
                    width,
                    initial_indent=f"  {item.name:<{column - 2}}",
                    subsequent_indent=" " * column,
                )
            )
        return "\n".join(lines)
