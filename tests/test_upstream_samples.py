"""The upstream samples every sample-driven test runs: all of them, and a missing folder is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.upstream_samples as samples


def test_the_samples_are_all_here() -> None:
    assert len(samples.files()) == samples.FILES == 18
    assert len(samples.leaderworkerset_files()) == samples.LEADERWORKERSET_FILES == 16
    assert len(samples.leaderworkersets()) == samples.LEADERWORKERSETS == 16


def test_a_missing_folder_is_an_error_not_an_empty_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(samples, "DIRECTORY", tmp_path / "nowhere")
    with pytest.raises(samples.SamplesMissing, match=r"are not at .*nowhere: copy them there"):
        samples.files()
    with pytest.raises(samples.SamplesMissing):
        samples.path("sample-lws.yaml")


def test_a_folder_with_fewer_samples_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "sample-lws.yaml").write_text((samples.DIRECTORY / "sample-lws.yaml").read_text())
    monkeypatch.setattr(samples, "DIRECTORY", tmp_path)
    with pytest.raises(samples.SamplesMissing, match=r"expected 18 sample files in .*, found 1"):
        samples.leaderworkersets()


def test_no_test_finds_the_samples_on_its_own() -> None:
    """A module that globs the folder itself gets an empty parameter set, not an error, when it is missing:
    every test reaches the samples through ``tests/upstream_samples.py``."""
    root = Path(__file__).resolve().parent
    own = {root / "upstream_samples.py", Path(__file__).resolve()}
    markers = ("LWS_UPSTREAM_SAMPLES", "samples/upstream")
    finders = [
        str(path.relative_to(root.parent))
        for path in sorted(root.rglob("*.py"))
        if path not in own and any(marker in line for line in _code_lines(path) for marker in markers)
    ]
    assert not finders, f"{finders} find the upstream samples themselves: use tests/upstream_samples.py"


def _code_lines(path: Path) -> list[str]:
    """The lines of ``path`` outside its module docstring (which may name the folder)."""
    text = path.read_text()
    if text.startswith('"""'):
        text = text[text.index('"""', 3) + 3 :]
    return text.splitlines()
