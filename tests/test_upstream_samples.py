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
