"""messages.py stays pure Python (the package-wide layering rules are in tests/test_project.py)."""

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


def test_messages_is_pure_python() -> None:
    assert imported_roots(PACKAGE / "messages.py") <= {"__future__"}
