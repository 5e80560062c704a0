"""dispatch loads OR-Tools only when a solve needs it (the import rules are import-linter contracts
in pyproject.toml, run by `make lint`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dispatch

PACKAGE = Path(dispatch.__file__).parent


def test_importing_the_package_does_not_load_ortools() -> None:
    code = "import sys, dispatch; assert 'ortools' not in sys.modules; dispatch.solve"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)
