"""Layering: dispatch is pure Python and only the solver touches OR-Tools."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dispatch

PACKAGE = Path(dispatch.__file__).parent
FORBIDDEN = {"django", "server", "notifications", "kivy", "mobile"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_forbidden_imports() -> None:
    for path in PACKAGE.glob("*.py"):
        assert not imported_roots(path) & FORBIDDEN, path.name


def test_only_the_solver_imports_ortools() -> None:
    users = {p.name for p in PACKAGE.glob("*.py") if "ortools" in imported_roots(p)}
    assert users == {"solver.py"}


def test_importing_the_package_does_not_load_ortools() -> None:
    code = "import sys, dispatch; assert 'ortools' not in sys.modules; dispatch.solve"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)
