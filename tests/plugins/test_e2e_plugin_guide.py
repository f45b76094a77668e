"""The plugin guide's end-to-end test (``docs/plugins.md``, section 8.1) runs as written.

A plugin author copies it into their own package, so it is run here as they would run it: in a directory of
its own, by a pytest process of its own, against the installed example plugin.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
SECTION = "### 8.1 End-to-end tests on the embedded cluster"


def guide_test_module() -> str:
    """The first Python block of section 8.1."""
    text = GUIDE.read_text()
    assert SECTION in text, f"docs/plugins.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"section {SECTION!r} of docs/plugins.md has no Python block"
    return found.group(1)


def test_the_guides_end_to_end_test_passes_in_a_project_of_its_own(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_e2e_rack_spread.py").write_text(guide_test_module())
    # A project without pytest settings: pytest-asyncio would warn about its unset loop scope, and the
    # example needs no asyncio.
    command = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^1 passed in ", result.stdout, re.MULTILINE), result.stdout
