"""Every example in the plugin guide (``docs/plugins.md``) is executed, so the guide cannot drift from lws.

* Every Python, TOML and YAML block is a file (its first line says ``# file: <path>``), written into a
  project of its own: the plugin modules are imported and registered with lws (pluggy checks every hook
  implementation against its spec), the test modules run under pytest in a process of their own, the
  manifests are admitted (``bad-*.yaml`` must be rejected), and ``pyproject.toml`` must name modules the
  guide defines. The end-to-end test of section 8.1 runs in ``test_e2e_plugin_guide.py``.
* The files of the example package are the guide's, byte for byte.
* Every ``$ lws ...`` transcript is what the command prints (``...`` lines stand for any lines); the
  commands the guide shows but cannot run here (a cluster in the foreground, ``kubectl``, ``pip``) are
  listed below, so a new one cannot slip in unchecked.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "lws-plugin-example"
LWS = str(Path(sys.executable).parent / "lws")
FILE_MARKER = re.compile(r"^# file: (\S+)\n")
CHECKED_LANGUAGES = {"python", "toml", "yaml"}
#: Languages whose blocks are not files: transcripts (checked below) and plain text (a tree, a timeline).
OTHER_LANGUAGES = {"console", "text"}
#: Commands shown in transcripts that this test does not run, and why.
NOT_RUN = {
    "pip": "installing is the reader's step; the test environment has the example installed",
    "lws cluster up": "runs a cluster in the foreground (section 8.1 tests the same in-process)",
    "lws run": "runs the operator in the foreground (section 8.1 tests the same in-process)",
    "lws crd |": "feeds kubectl",
    "export": "sets the reader's shell",
    "kubectl": "needs the cluster of 'lws cluster up'",
    "cd ": "enters the reader's project",
    "pytest": "section 8.1's test, run as the reader would by test_e2e_plugin_guide.py",
}
#: Transcripts of these lws commands are compared with what they print.
RUN = ("lws plugins", "lws render", "lws validate", "lws simulate", "echo $?")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int


def blocks() -> list[Block]:
    """Every fenced code block of the guide, in order."""
    found: list[Block] = []
    lines = GUIDE.read_text().splitlines(keepends=True)
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\n", lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        found.append(Block(fence.group(1), "".join(lines[i + 1 : end]), i + 1))
        i = end + 1
    return found


def guide_files() -> dict[str, str]:
    """The guide's files: path -> content (without the marker line)."""
    files: dict[str, str] = {}
    for block in blocks():
        marker = FILE_MARKER.match(block.text)
        if marker is not None:
            assert marker.group(1) not in files, f"docs/plugins.md:{block.line}: {marker.group(1)} twice"
            files[marker.group(1)] = block.text[marker.end() :]
    return files


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every file of the guide, as a plugin author's project would."""
    root = tmp_path_factory.mktemp("guide")
    for path, text in guide_files().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def test_every_code_block_is_a_file_or_a_transcript() -> None:
    for block in blocks():
        where = f"docs/plugins.md:{block.line}"
        assert block.language in CHECKED_LANGUAGES | OTHER_LANGUAGES, (
            f"{where}: unchecked ```{block.language}"
        )
        if block.language in CHECKED_LANGUAGES:
            assert FILE_MARKER.match(block.text), f"{where}: a {block.language} block must start with # file:"


def test_the_example_package_is_what_the_guide_shows() -> None:
    shown = {p: t for p, t in guide_files().items() if (EXAMPLE / p).exists()}
    assert {"pyproject.toml", "rack-spread.yaml", "src/lws_rack_spread/__init__.py"} <= set(shown)
    assert "src/lws_rack_spread/restart.py" in shown
    for path, text in shown.items():
        assert (EXAMPLE / path).read_text() == text, (
            f"docs/plugins.md shows another {path} than the example's"
        )


def test_the_pyproject_names_modules_the_guide_defines() -> None:
    files = guide_files()
    entry_points = tomllib.loads(files["pyproject.toml"])["project"]["entry-points"]["lws"]
    for name, module in entry_points.items():
        path = "src/" + module.replace(".", "/")
        assert f"{path}.py" in files or f"{path}/__init__.py" in files, f"entry point {name}: no {module}"


def test_the_guides_python_imports_only_lws_plugin_and_the_standard_library() -> None:
    """The guide's promise (a plugin needs nothing of lws but ``lws.plugin``) holds for every plugin it
    shows, including those the example package (checked by ``.importlinter``) does not hold; its tests use
    ``lws.plugin_testing`` and pytest besides, and nothing else of lws either."""
    files = {p: t for p, t in guide_files().items() if p.endswith(".py")}
    packages = {p.split("/")[1].removesuffix(".py") for p in files if p.startswith("src/")}
    for path, text in files.items():
        for_tests = ("lws.plugin_testing", "pytest") if path.startswith("tests/") else ()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                allowed = (
                    name == "lws.plugin"
                    or name.startswith("lws.plugin.")
                    or name in for_tests
                    or top in packages
                    or top in sys.stdlib_module_names
                    or top == "__future__"
                )
                assert allowed, f"docs/plugins.md: {path} imports {name}; a plugin imports only lws.plugin"


HARNESS = '''
"""Written by tests/plugins/test_plugin_guide.py: the guide's modules register, its manifests are judged."""

import importlib
from pathlib import Path

import pytest
import yaml

from lws.plugin_testing import admission_errors, make_test_hooks

MODULES = {modules!r}
MANIFESTS = {manifests!r}


@pytest.mark.parametrize("name", MODULES)
def test_the_module_registers_as_an_lws_plugin(name):
    module = importlib.import_module(name)
    hooks = make_test_hooks(module, enable=())
    assert any(info.name == name and info.hooks for info in hooks.infos)


@pytest.mark.parametrize("path", MANIFESTS)
def test_the_manifest_is_judged_as_the_guide_says(path):
    hooks = make_test_hooks(*[importlib.import_module(m) for m in MODULES])
    errors = admission_errors(yaml.safe_load(Path(path).read_text()), hooks)
    if Path(path).name.startswith("bad-"):
        assert errors, path + " should be rejected"
    else:
        assert not errors, [str(e) for e in errors]
'''


def test_the_guides_plugins_register_and_its_tests_pass(project: Path) -> None:
    files = guide_files()
    modules = sorted(
        p.removeprefix("src/").removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for p in files
        if p.startswith("src/") and p.endswith(".py")
    )
    manifests = sorted(p for p, t in files.items() if p.endswith(".yaml") and "LeaderWorkerSet" in t)
    assert modules and manifests
    (project / "tests" / "test_guide_harness.py").write_text(
        HARNESS.format(modules=modules, manifests=manifests)
    )
    tests = sorted(p for p in (project / "tests").glob("test_*.py") if not p.name.startswith("test_e2e_"))
    expected = sum(len(re.findall(r"^def test_", p.read_text(), re.M)) for p in tests)
    expected += len(modules) + len(manifests) - 2  # the harness's two tests are parametrized
    command = [
        sys.executable, "-m", "pytest", *map(str, tests), "-q", "-p", "no:cacheprovider", "-p", "no:asyncio",
    ]  # fmt: skip
    env = {"PYTHONPATH": str(project / "src"), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"^{expected} passed in ", done.stdout, re.M), done.stdout


def transcripts() -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """Each console block as (line, [(command, expected output lines)])."""
    found = []
    for block in blocks():
        if block.language != "console":
            continue
        steps: list[tuple[str, list[str]]] = []
        for line in block.text.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                assert steps, f"docs/plugins.md:{block.line}: output before any command"
                steps[-1][1].append(line)
        found.append((block.line, steps))
    return found


def test_every_transcript_command_is_run_or_listed_as_not_run() -> None:
    for line, steps in transcripts():
        for command, _ in steps:
            known = command.startswith(RUN) or command.startswith(tuple(NOT_RUN))
            assert known, f"docs/plugins.md:{line}: {command!r} is neither run nor listed in NOT_RUN"


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected`` with each ``...`` line standing for any number of lines."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and actual[0] == head and matches(rest, actual[1:])


def normalized(lines: list[str]) -> list[str]:
    # How long the embedded cluster took to settle is the one figure that changes from run to run.
    return [re.sub(r"^Settled \d+(\.\d+)?s ", "Settled Ns ", line.rstrip()) for line in lines]


def runnable() -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """The transcripts with a command this test runs (the others hold only commands listed in NOT_RUN)."""
    return [(line, steps) for line, steps in transcripts() if any(c.startswith(RUN) for c, _ in steps)]


def test_the_guide_shows_the_output_of_each_command_it_checks() -> None:
    shown = {command.split(" -")[0] for _, steps in runnable() for command, _ in steps}
    assert {"lws plugins", "lws render", "lws validate", "lws simulate"} <= shown


@pytest.mark.parametrize(("line", "steps"), runnable(), ids=[f"line-{line}" for line, _ in runnable()])
def test_the_transcript_is_what_lws_prints(
    project: Path, line: int, steps: list[tuple[str, list[str]]]
) -> None:
    status = 0
    for command, expected in steps:
        if command.startswith(tuple(NOT_RUN)):
            continue
        if command == "echo $?":
            assert expected == [str(status)], f"docs/plugins.md:{line}: exit status"
            continue
        args = shlex.split(command)
        done = subprocess.run(
            [LWS, *args[1:]], cwd=project, capture_output=True, text=True, timeout=180, check=False
        )
        status = done.returncode
        printed = normalized((done.stdout + done.stderr).splitlines())
        assert matches(normalized(expected), printed), (
            f"docs/plugins.md:{line}: `{command}` printed:\n" + "\n".join(printed)
        )
