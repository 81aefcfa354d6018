"""Outside text made safe to show: control characters become visible escapes.

Member names, URLs, errors and command output come from the cluster and the nodes, and anyone
who can start a member chooses its name. Written raw to a terminal, an ESC starts a sequence
that can retitle the window, clear the screen or hide what follows; a bidi override makes text
read in another order than it runs. `printable` turns every such character into the escape a
Python literal would use (`\\x1b`, `\\u202e`), so the reader sees that it is there, and keeps
every ordinary printable character, letters of any script and emoji included, as it is.
"""

from __future__ import annotations

import unicodedata

# Unicode categories never shown as themselves:
#   Cc control (C0, DEL, C1: ESC, BEL, CSI...), Cf format (bidi overrides and isolates,
#   zero-width characters, BOM), Cs lone surrogates (undecodable bytes; they cannot even be
#   encoded to UTF-8), Zl/Zp line and paragraph separators, Cn unassigned code points (a
#   terminal may draw them at another width than the one the layout counted).
# Private-use characters (Co) stay: they are glyphs (icon fonts), harmless to a terminal.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_char(char: str) -> str:
    """The visible escape of one character: `\\t`, `\\x1b`, `\\u202e` or `\\U000e0001`."""
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_hidden(char: str) -> bool:
    """Whether `char` would act on the terminal or the text's order instead of being drawn."""
    return unicodedata.category(char) in _HIDDEN


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with every control, format or unassigned character escaped, the rest untouched.

    `newlines=True` keeps line feeds (for multi-line messages and logs shown line by line);
    otherwise they are escaped too, so one value stays on one line. Backslashes already in
    `text` are left alone: a name that spells `\\x1b` reads the same as one holding an ESC,
    which is harmless, and paths and regular expressions stay readable.
    """
    if text.isprintable():  # the common case, in C: no Cc/Cf/Cs/Cn/Zl/Zp (nor Zs but space)
        return text
    out: list[str] = []
    for char in text:
        if char == "\n" and newlines:
            out.append(char)
        elif is_hidden(char):
            out.append(escape_char(char))
        else:
            out.append(char)
    return "".join(out)
