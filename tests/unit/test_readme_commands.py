"""The README's "Command line" section and the CLI list the same commands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from etcdtui.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Command line"


def readme_commands() -> set[str]:
    """Each `etcdtui COMMAND [SUBCOMMAND] ...` line of the section's code block, as
    "COMMAND SUBCOMMAND" (the TUI's and --version's lines name no command)."""
    text = (ROOT / "README.md").read_text()
    assert SECTION in text, f"the README lost its {SECTION!r} section"
    block = re.search(r"```\n(.*?)```", text.split(SECTION, 1)[1], re.S)
    assert block, f"the README's {SECTION!r} section lost its code block"
    commands = set()
    for line in block.group(1).splitlines():
        words = line.split()
        if not words or words[0] != "etcdtui":
            continue  # a continuation line
        names = []
        for word in words[1:]:
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            names.append(word)
        if names:
            commands.add(" ".join(names))
    assert commands, f"no `etcdtui COMMAND` line found in the README's {SECTION!r} block"
    return commands


def cli_commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    """Every command the parser runs, sub-commands spelled out ("snapshot save")."""
    commands = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix}{name}"
                commands |= cli_commands(sub, f"{path} ") or {path}
    return commands


def test_readme_lists_every_command_the_cli_has() -> None:
    missing = sorted(cli_commands(build_parser()) - readme_commands())
    assert not missing, (
        f"README.md's {SECTION!r} section does not list these commands of the CLI: "
        + ", ".join(f"`etcdtui {c}`" for c in missing)
        + " (add a line for each to its code block)"
    )


def test_readme_lists_no_command_the_cli_lacks() -> None:
    unknown = sorted(readme_commands() - cli_commands(build_parser()))
    assert not unknown, (
        f"README.md's {SECTION!r} section lists commands the CLI does not have: "
        + ", ".join(f"`etcdtui {c}`" for c in unknown)
        + " (remove them, or register them in etcdtui/cli/)"
    )
