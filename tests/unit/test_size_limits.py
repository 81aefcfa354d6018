"""Size limits: no module over 400 lines, no function over 60, except a short named allow-list.

A newcomer should be able to read one module in a sitting and one function on a screen. The
allow-list names what is still over, with why; the test prints it, so it stays visible.
"""

from __future__ import annotations

import ast
from pathlib import Path

import etcdtui

PACKAGE = Path(etcdtui.__file__).parent
MODULE_LINES = 400
FUNCTION_LINES = 60

# path relative to etcdtui/ -> why it may stay over the limit
MODULES_ALLOWED: dict[str, str] = {}
# "path:qualified.name" -> why it may stay over the limit
FUNCTIONS_ALLOWED: dict[str, str] = {}
# Never on the allow-list: the issue that set these limits named them.
NEVER_ALLOWED = (
    "cli",
    "lab/lab.py:lab_up",
    "runbooks/membership/runbook.py:MemberChangeRunbook.preflight",
)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _functions(path: Path) -> list[tuple[str, int]]:
    """(qualified name, lines from `def` to the end of its body) of every function."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                assert child.end_lineno is not None
                found.append((name, child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(path.read_text()), "")
    return found


def test_no_module_over_the_limit() -> None:
    over = {}
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MODULE_LINES:
            over[rel] = lines
    print(
        f"\nmodules over {MODULE_LINES} lines, allowed: "
        + (
            ", ".join(f"{m} ({over.get(m, '-')}: {why})" for m, why in MODULES_ALLOWED.items())
            or "none"
        )
    )
    unexpected = {m: n for m, n in over.items() if m not in MODULES_ALLOWED}
    assert not unexpected, f"modules over {MODULE_LINES} lines: {unexpected}"
    stale = [m for m in MODULES_ALLOWED if m not in over]
    assert not stale, f"back under the limit, take off the allow-list: {stale}"


def test_no_function_over_the_limit() -> None:
    over = {}
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        for name, lines in _functions(path):
            if lines > FUNCTION_LINES:
                over[f"{rel}:{name}"] = lines
    print(
        f"\nfunctions over {FUNCTION_LINES} lines, allowed: "
        + (
            ", ".join(f"{f} ({over.get(f, '-')}: {why})" for f, why in FUNCTIONS_ALLOWED.items())
            or "none"
        )
    )
    unexpected = {f: n for f, n in over.items() if f not in FUNCTIONS_ALLOWED}
    assert not unexpected, f"functions over {FUNCTION_LINES} lines: {unexpected}"
    stale = [f for f in FUNCTIONS_ALLOWED if f not in over]
    assert not stale, f"back under the limit, take off the allow-list: {stale}"


def test_the_allow_list_never_names_what_the_issue_ruled_out() -> None:
    named = [*MODULES_ALLOWED, *FUNCTIONS_ALLOWED]
    assert not [n for n in named for never in NEVER_ALLOWED if n.startswith(never)]
