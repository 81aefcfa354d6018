"""Finding a program's arguments in a command line, as a static pod or a systemd unit runs it.

A command line may run the program directly (``etcd --name a``), through a wrapper
(``tini -- etcd ...``, ``ionice -c2 nice -n -10 etcd ...``), or through a shell script
(``sh -c "mkdir -p /var/lib/etcd; exec /usr/local/bin/etcd --name a 2>&1 | tee log"``). In a
script, the program's invocation is the simple command whose command word runs it (after
`exec`, variable assignments, shell keywords or wrappers with their options), not any word
that merely contains its name.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
# Words before a command word that do not run anything themselves.
_PREFIXES = frozenset(
    {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "(", "exec", "command",
     "nohup", "time"}
)  # fmt: skip
# Commands that run the command after their own options: how many operands of their own
# come first (taskset's CPU mask, chrt's priority, timeout's duration), and which of their
# options take the next word as a value.
_WRAPPERS: dict[str, tuple[int, frozenset[str]]] = {
    "nice": (0, frozenset({"-n", "--adjustment"})),
    "ionice": (0, frozenset({"-c", "-n", "--class", "--classdata"})),
    "taskset": (1, frozenset()),
    "chrt": (1, frozenset()),
    "env": (0, frozenset({"-u", "--unset", "-C", "--chdir"})),
    "stdbuf": (0, frozenset({"-i", "-o", "-e"})),
    "timeout": (1, frozenset({"-s", "--signal", "-k", "--kill-after"})),
    "setsid": (0, frozenset()),
    "tini": (0, frozenset()),
    "dumb-init": (0, frozenset()),
}
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", ";;", "|&", "\n"})
_REDIRECT = re.compile(r"[<>][<>&|]*|&>>?")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def systemd_expand(words: list[str], env: Mapping[str, str]) -> list[str]:
    """systemd's rules: a word that is exactly $VAR becomes the value split into words,
    ${VAR} is replaced in place as part of one word; unset variables are empty."""
    out: list[str] = []
    for word in words:
        whole = re.fullmatch(r"\$(\w+)", word)
        if whole:
            out.extend(_split(env.get(whole[1], "")))
        else:
            out.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m[1], ""), word))
    return out


def _split(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def _shell_expand(words: list[str], env: Mapping[str, str]) -> list[str]:
    # The shell's: $VAR and ${VAR} anywhere in a word (quoting is already undone, so a whole
    # word that was one variable is split, as an unquoted one would be). A variable not in
    # `env` stays as written: the container or service may well set it at run time.
    out: list[str] = []
    for word in words:
        name = word.strip("${}")
        if re.fullmatch(r"\$\{?\w+\}?", word) and name in env:
            out.extend(_split(env[name]))
        else:
            out.append(re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m[1] or m[2], m[0]), word))
    return out


def _tokens(script: str) -> list[str]:
    """The script's words and operators (`;`, `&&`, `|`, `>`, newlines), quotes undone."""
    script = script.replace("\\\n", " ")
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|<>\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: keep what plain splitting gives
        return script.split()


def _commands(tokens: list[str]) -> list[list[str]]:
    """Simple commands, redirections (and their targets) removed."""
    commands: list[list[str]] = [[]]
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token in _SEPARATORS or set(token) <= set(";&|\n"):
            commands.append([])
        elif _REDIRECT.fullmatch(token):
            current = commands[-1]
            if current and current[-1].isdigit():
                current.pop()  # the `2` of `2>&1`
            skip = True
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _unwrap(words: list[str], i: int) -> int:
    """The index of the command word that `words[i]` runs through any wrappers (itself if it
    is no wrapper): ``ionice -c2 nice -n -10 etcd`` runs ``etcd``."""
    while i < len(words) and posixpath.basename(words[i]) in _WRAPPERS:
        operands, valued = _WRAPPERS[posixpath.basename(words[i])]
        i += 1
        while i < len(words) and words[i].startswith("-"):
            if words[i] == "--":
                i += 1
                break
            i += 2 if words[i] in valued else 1
        while i < len(words) and _ASSIGNMENT.match(words[i]):  # env's NAME=value
            i += 1
        i += operands
    return i


def _script_invocation(binary: str, script: str, env: Mapping[str, str]) -> list[str] | None:
    local = dict(env)
    for words in _commands(_tokens(script)):
        i = 0
        while i < len(words) and (words[i] in _PREFIXES or _ASSIGNMENT.match(words[i])):
            i += 1
        i = _unwrap(words, i)
        if i < len(words) and words[i] == "export":
            for item in words[i + 1 :]:
                name, eq, value = item.partition("=")
                if eq:
                    local[name] = value
            continue
        if i < len(words) and posixpath.basename(_shell_expand([words[i]], local)[0]) == binary:
            return _shell_expand(words[i + 1 :], local)
    return None


def shell_script(words: list[str]) -> str | None:
    """The script of `sh -c SCRIPT ...` (options such as -e or -ec allowed), or None."""
    if not words or posixpath.basename(words[0]) not in SHELLS:
        return None
    for i, word in enumerate(words[1:], start=1):
        if word.startswith("-") and "c" in word[1:] and not word.startswith("--"):
            return words[i + 1] if i + 1 < len(words) else None
        if not word.startswith("-"):
            return None
    return None


def invocation(
    binary: str, words: list[str], env: Mapping[str, str] | None = None
) -> list[str] | None:
    """The arguments `binary` gets from the command line `words`, or None if it does not run.

    `env` expands the variables of a shell script (None: leave them as written).
    """
    script = shell_script(words)
    if script is not None:
        return _script_invocation(binary, script, env or {})
    for i, word in enumerate(words):
        if posixpath.basename(word) == binary:
            return words[i + 1 :]
    return None
