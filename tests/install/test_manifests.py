"""``lws manifests`` prints what the real kustomize makes of ``config/``, with every option as an overlay."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from install_kit import CONFIG, build, kustomize, parse_all

from lws import __version__
from lws.cli.manifests import Obj, Options, combinations, command, customize, object_key


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


def plugin_args(*args: str) -> dict[str, Any]:
    """A kustomize patch adding ``args`` to the operator's command line."""
    patch = [{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": a} for a in args]
    return {"patches": [{"patch": yaml.safe_dump(patch), "target": {"kind": "Deployment"}}]}


@pytest.mark.parametrize(
    ("args", "components", "namespace", "overlay"),
    [
        (["--namespace", "ml-platform"], [], "ml-platform", None),
        (
            ["--image", f"{IMAGE}:1.2.3", "--replicas", "3"],
            [],
            None,
            {
                "images": [{"name": "lws-operator", "newName": IMAGE, "newTag": "1.2.3"}],
                "replicas": [{"name": "lws-controller-manager", "count": 3}],
            },
        ),
        (["--service-monitor"], ["prometheus"], None, None),
        (["--cert-manager"], ["certmanager"], None, None),
        (["--gang-scheduling", "coscheduling"], ["coscheduling"], None, None),
        (["--no-disaggregatedset-webhook"], ["no-disaggregatedset-webhook"], None, None),
        (["--disaggregatedset-webhook"], [], None, None),
        (
            ["--cert-manager", "--gang-scheduling", "volcano", "--no-disaggregatedset-webhook"],
            ["certmanager", "volcano", "no-disaggregatedset-webhook"],
            None,
            None,
        ),
        (
            ["--service-monitor", "--gang-scheduling", "volcano", "-n", "gang", "--replicas", "1"],
            ["prometheus", "volcano"],
            "gang",
            {"replicas": [{"name": "lws-controller-manager", "count": 1}]},
        ),
        (
            ["--cert-manager", "--service-monitor", "--gang-scheduling", "volcano", "-n", "ml"],
            ["prometheus", "certmanager", "volcano"],
            "ml",
            None,
        ),
        (
            ["--enable-plugin", "volcano", "--disable-plugin", "tpu"],
            [],
            None,
            plugin_args("--enable-plugin=volcano", "--disable-plugin=tpu"),
        ),
    ],
)
def test_options_do_what_kustomize_does(
    args: list[str], components: list[str], namespace: str | None, overlay: dict[str, Any] | None
) -> None:
    printed = by_key(lws_manifests(*args))
    built = by_key(build(components=components, namespace=namespace, overlay=overlay))
    assert printed.keys() == built.keys()
    for key, obj in built.items():
        assert printed[key] == obj, f"{key} differs from kustomize's"


@pytest.mark.parametrize("combo", combinations(), ids="+".join)
def test_every_combination_of_components_is_kustomizes(combo: tuple[str, ...]) -> None:
    assert by_key(customize(Options(components=combo))) == by_key(build(components=combo))


def test_the_cert_manager_mode_gives_the_operator_no_webhook_configuration_access() -> None:
    default = by_key(customize(Options()))
    certs = by_key(customize(Options(components=("certmanager",))))
    gone = sorted(k[1:] for k in default.keys() - certs.keys())
    assert gone == [
        ("ClusterRole", "", "lws-webhook-ca-role"),
        ("ClusterRoleBinding", "", "lws-webhook-ca-rolebinding"),
    ]
    added = sorted(k[1:] for k in certs.keys() - default.keys())
    assert added == [
        ("Certificate", "lws-system", "lws-metrics-cert"),
        ("Certificate", "lws-system", "lws-serving-cert"),
        ("Issuer", "lws-system", "lws-selfsigned-issuer"),
    ]


def test_two_gang_schedulers_cannot_be_combined() -> None:
    with pytest.raises(ValueError, match="volcano and coscheduling are two gang schedulers: choose one"):
        customize(Options(components=("volcano", "coscheduling")))


def test_an_unknown_component_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown component.* istio: choose from prometheus"):
        customize(Options(components=("istio",)))


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
