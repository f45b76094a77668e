"""``docs/design/where-changes-go.md`` holds: the routes it draws exist and pass each module once.

* The two routes (``spec.replicas`` and a pod env var) name existing modules, each once.
* At run time, ``lws render`` of every upstream sample (the code path the operator shares) never re-enters
  a module it has left on the way down: no call chain goes ``A -> B -> A`` between lws modules. Every
  module of the ``spec.replicas`` route runs.
* The env vars the pods get are named in ``lws/api/constants.py`` alone and set in ``lws/core/pod_mutation.py``
  alone (``lws/demo`` only displays them).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from click.testing import CliRunner

from lws.api import constants as c
from lws.cli.main import cli
from tests import upstream_samples

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "design" / "where-changes-go.md"
ROUTE_ROW = re.compile(r"^\| \d+ \| `([^`]+\.py)` \|", re.M)


def routes() -> list[list[str]]:
    """The module paths of each route table, in order."""
    sections = MAP.read_text().split("## Two routes", 1)[1].split("\n**")[1:]
    return [ROUTE_ROW.findall(section) for section in sections]


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def test_each_route_names_existing_modules_once() -> None:
    replicas, env = routes()
    assert replicas[0] == "lws/cli/render.py" and replicas[-1] == "lws/core/statefulsets.py"
    assert env == ["lws/api/constants.py", "lws/core/pod_mutation.py"]
    for route in (replicas, env):
        assert len(route) == len(set(route)), f"a module appears twice in {route}"
        for path in route:
            assert (ROOT / path).is_file(), f"{MAP.name} names {path}, which does not exist"


class _Calls:
    """Which lws modules ran functions, and every call chain that went back into a module it had left."""

    def __init__(self) -> None:
        self.stack: list[str | None] = []
        self.ran: set[str] = set()
        self.reentries: set[tuple[str, ...]] = set()

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            module = str(frame.f_globals.get("__name__", ""))
            ours = module.startswith(("lws.", "lws_builtins")) and frame.f_code.co_name != "<module>"
            if ours:
                chain = self.chain()
                if module in chain and chain[-1] != module:
                    self.reentries.add((*chain[chain.index(module) :], module))
                self.ran.add(module)
            self.stack.append(module if ours else None)
        elif event == "return" and self.stack:
            self.stack.pop()

    def chain(self) -> list[str]:
        """The lws modules on the stack, outermost first, a module calling itself counted once."""
        out: list[str] = []
        for module in self.stack:
            if module is not None and (not out or out[-1] != module):
                out.append(module)
        return out


def test_lws_render_passes_each_module_once_on_its_way_to_the_pods() -> None:
    calls = _Calls()
    sys.setprofile(calls.profile)
    try:
        result = CliRunner().invoke(cli, ["render", "-f", str(upstream_samples.directory())])
    finally:
        sys.setprofile(None)
    assert result.exit_code == 0, result.output
    assert not calls.reentries, f"call chains that go back into a module: {sorted(calls.reentries)[:5]}"
    replicas, env = routes()
    for path in (*replicas, env[1]):
        assert module_name(path) in calls.ran, f"{path} is on the route but did not run"


def _python_files() -> list[Path]:
    return [p for p in (*(ROOT / "lws").rglob("*.py"), *(ROOT / "plugins").rglob("*.py"))]


def test_the_pods_env_vars_are_named_in_one_module_and_set_in_one() -> None:
    names = set(c.LWS_ENV_NAMES)
    named_in: set[str] = set()
    used_in: set[str] = set()
    for path in _python_files():
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        relative = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings:
                named_in.add(relative)
            if isinstance(node, ast.Attribute) and node.attr in (*names, "LWS_ENV_NAMES"):
                used_in.add(relative)
    assert named_in == {"lws/api/constants.py"}
    assert {p for p in used_in if not p.startswith("lws/demo/")} == {"lws/core/pod_mutation.py"}
