"""`printable`: outside text made safe to show, every hidden character spelled out."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from etcdtui.models.text import escape_char, is_hidden, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # OSC: retitles the window
        ("\x1b[2J", "\\x1b[2J"),  # CSI: clears the screen
        ("\x9b2J", "\\x9b2J"),  # C1 CSI: the same in one byte
        ("a\x00b", "a\\x00b"),
        ("del\x7f", "del\\x7f"),
        ("tab\there", "tab\\there"),
        ("one\ntwo\r", "one\\ntwo\\r"),
        ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
        ("\u2066x\u2069", "\\u2066x\\u2069"),  # bidi isolates
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("\ufeffbom", "\\ufeffbom"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tag\U000e0041", "tag\\U000e0041"),  # a Unicode tag character (format)
        ("bad\udcffbyte", "bad\\udcffbyte"),  # a lone surrogate from undecodable bytes
    ],
)
def test_hidden_characters_become_visible_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "node1",
        "http://[fd00::1]:2379",
        "[bold]x[/]",
        "C:\\path\\to",
        "ノード-1",
        "узел",
        "عقدة",
        "🚀 etcd",
        "café",
        "a\u00a0b",  # no-break space: a visible space
        "\ue0b0",  # private use (icon fonts)
        "",
    ],
)
def test_ordinary_printable_text_is_left_as_it_is(text: str) -> None:
    assert printable(text) == text


def test_newlines_are_kept_only_when_asked() -> None:
    assert printable("a\nb\x1b", newlines=True) == "a\nb\\x1b"
    assert printable("a\r\nb", newlines=True) == "a\\r\nb"
    assert printable("a\nb") == "a\\nb"


def test_escapes_use_the_shortest_python_literal_form() -> None:
    assert [escape_char(c) for c in "\x1b\x85\u202e\U000e0001\t"] == [
        "\\x1b", "\\x85", "\\u202e", "\\U000e0001", "\\t"
    ]  # fmt: skip


def test_hidden_means_control_format_surrogate_separator_or_unassigned() -> None:
    assert all(is_hidden(c) for c in "\x00\x1b\x7f\x9b\u200e\u2028\u2029\udc80\U000effff")
    assert not any(is_hidden(c) for c in "a \u00a0é字🙂\ue000")


@given(st.text())
@example("\x1b]0;pwned\x07[/]\u202e\udcff")
def test_output_has_no_hidden_character_and_encodes_to_utf8(text: str) -> None:
    shown = printable(text)
    assert not any(is_hidden(c) for c in shown)
    shown.encode("utf-8")  # a lone surrogate would raise here, and kill a print()
    assert printable(shown) == shown  # escaping twice changes nothing


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Cn"))))
def test_text_without_hidden_characters_is_unchanged(text: str) -> None:
    assert printable(text) == text
