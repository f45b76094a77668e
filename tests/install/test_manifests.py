"""``lws manifests`` prints what the real kustomize makes of ``config/``, with every option as an overlay."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from install_kit import CONFIG, build, kustomize, parse_all

from lws import __version__
from lws.cli.manifests import DEFAULT_FILE, Obj, Options, command, customize, object_key, packaged


def lws_manifests(*args: str) -> list[Obj]:
    result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return parse_all(result.output)


def by_key(objects: list[Obj]) -> dict[tuple[str, str, str, str], Obj]:
    keyed = {object_key(obj): obj for obj in objects}
    assert len(keyed) == len(objects), "two objects with the same kind, namespace and name"
    return keyed


def test_lws_manifests_prints_kustomize_build_of_config_default() -> None:
    assert lws_manifests() == parse_all(kustomize(CONFIG / "default"))


IMAGE = "registry.example/team/lws-operator"


@pytest.mark.parametrize(
    ("args", "components", "overlay"),
    [
        (["--namespace", "ml-platform"], [], {"namespace": "ml-platform"}),
        (
            ["--image", f"{IMAGE}:1.2.3", "--replicas", "3"],
            [],
            {
                "images": [{"name": "lws-operator", "newName": IMAGE, "newTag": "1.2.3"}],
                "replicas": [{"name": "lws-controller-manager", "count": 3}],
            },
        ),
        (["--service-monitor"], ["prometheus"], None),
        (["--gang-scheduling", "coscheduling"], ["coscheduling"], None),
        (
            ["--service-monitor", "--gang-scheduling", "volcano", "-n", "gang", "--replicas", "1"],
            ["prometheus", "volcano"],
            {"namespace": "gang", "replicas": [{"name": "lws-controller-manager", "count": 1}]},
        ),
    ],
)
def test_options_do_what_the_kustomize_overlay_does(
    args: list[str], components: list[str], overlay: dict[str, Any] | None
) -> None:
    printed = by_key(lws_manifests(*args))
    built = by_key(build(components=components, overlay=overlay))
    assert printed.keys() == built.keys()
    for key, obj in built.items():
        assert printed[key] == obj, f"{key} differs from kustomize's"


def test_two_gang_schedulers_cannot_be_combined() -> None:
    parts = {name: packaged(f"{name}.yaml") for name in ("volcano", "coscheduling")}
    with pytest.raises(ValueError, match="both change Deployment lws-controller-manager: choose one"):
        customize(packaged(DEFAULT_FILE), parts, Options(components=("volcano", "coscheduling")))


def test_an_unknown_component_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown component.* istio: choose from prometheus"):
        customize(packaged(DEFAULT_FILE), {}, Options(components=("istio",)))


@pytest.mark.parametrize("namespace", ["LWS", "-lws", "a" * 64, "lws_system"])
def test_a_bad_namespace_is_refused_with_the_rule(namespace: str) -> None:
    result = CliRunner().invoke(command, ["--namespace", namespace])
    assert result.exit_code == 2
    assert "is not a valid namespace name: use at most 63 lowercase letters" in result.output


def test_negative_replicas_are_refused() -> None:
    result = CliRunner().invoke(command, ["--replicas", "-1"])
    assert result.exit_code == 2 and "-1 is not in the range x>=0" in result.output


def test_the_default_image_is_this_version() -> None:
    deployment = by_key(lws_manifests())[("apps", "Deployment", "lws-system", "lws-controller-manager")]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"lws-operator:{__version__}"


def test_the_main_command_lists_manifests() -> None:
    from lws.cli.main import cli

    result = CliRunner().invoke(cli, ["--help"])
    assert "manifests" in result.output and "Print the install manifests" in result.output
    result = CliRunner().invoke(cli, ["manifests", "--replicas", "1"])
    assert result.exit_code == 0 and "kind: CustomResourceDefinition" in result.output


def test_the_samples_kustomization_lists_every_sample_unchanged() -> None:
    samples = sorted((CONFIG / "samples").glob("leaderworkerset_*.yaml"))
    expected = [obj for path in samples for obj in parse_all(path.read_text())]
    built = parse_all(kustomize(CONFIG / "samples"))
    assert sorted(built, key=object_key) == sorted(expected, key=object_key)
    assert {obj["kind"] for obj in built} == {"LeaderWorkerSet"}
