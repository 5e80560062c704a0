"""notifications never imports server, and messages.py stays pure Python."""

import ast
from pathlib import Path

import notifications

PACKAGE = Path(notifications.__file__).parent


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_notifications_does_not_import_server() -> None:
    offenders = [p for p in PACKAGE.rglob("*.py") if "server" in imported_roots(p)]
    assert offenders == []


def test_messages_is_pure_python() -> None:
    assert imported_roots(PACKAGE / "messages.py") <= {"__future__"}
