"""When the leader StatefulSet needs an apply, how `lws run` settings are resolved, and the denial text."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from lws.api.config import parse_config
from lws.api.errors import FieldError
from lws.cli.options import CliError
from lws.cli.run import Flags, parse_bind_address, parse_duration, resolve_settings
from lws.cli.run import command as run_command
from lws.controller.admission import invalid_message
from lws.core.applied import APPLIED_HASH, contains, needs_apply, with_hash

DESIRED: dict[str, Any] = {
    "metadata": {"name": "s", "labels": {"team": "a"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": 1, "memory": "1Gi"}}}]}
        },
    },
}


def _served(body: dict[str, Any]) -> dict[str, Any]:
    """What the API server hands back: defaults added, quantities canonical."""
    container = body["spec"]["template"]["spec"]["containers"][0]
    return {
        **body,
        "metadata": {**body["metadata"], "uid": "u", "resourceVersion": "7"},
        "spec": {
            **body["spec"],
            "podManagementPolicy": "Parallel",
            "template": {
                "spec": {
                    "containers": [
                        {
                            **container,
                            "imagePullPolicy": "Always",
                            "resources": {"requests": {"cpu": "1", "memory": "1024Mi"}},
                        }
                    ]
                }
            },
        },
    }


def test_nothing_to_apply_when_the_live_object_was_made_from_the_same_body() -> None:
    body = with_hash(DESIRED)
    assert needs_apply(body, None)
    assert not needs_apply(body, _served(body)), "server defaults and canonical quantities are not changes"


def test_drift_and_dropped_fields_both_need_an_apply() -> None:
    body = with_hash(DESIRED)
    edited = _served(body)
    edited["spec"]["replicas"] = 5
    assert needs_apply(body, edited), "someone else's edit is repaired"
    without_label = {**DESIRED, "metadata": {"name": "s"}}
    assert needs_apply(with_hash(without_label), _served(body)), "a label we stopped applying goes away"
    assert (
        body["metadata"]["annotations"][APPLIED_HASH]
        != with_hash(without_label)["metadata"]["annotations"][APPLIED_HASH]
    )


@pytest.mark.parametrize(
    ("want", "have", "result"),
    [
        ({"a": {}}, {}, True),
        ({"a": []}, {"a": None}, True),
        ([1, 2], [1, 2, 3], False),
        ({"x": "Parallel"}, {"x": "OrderedReady"}, False),
        ({"q": "500m"}, {"q": "0.5"}, True),
        ({"b": True}, {"b": 1}, False),
    ],
)
def test_contains(want: Any, have: Any, result: bool) -> None:
    assert contains(have, want) is result


def test_flags_win_over_the_configuration_file_which_wins_over_defaults() -> None:
    config = parse_config(
        {
            "apiVersion": "config.lws.x-k8s.io/v1alpha1",
            "kind": "Configuration",
            "namespace": "ops",
            "leaderElection": {
                "leaderElect": False,
                "leaseDuration": "30s",
                "renewDeadline": "1m5s",
                "resourceName": "x",
            },
            "webhook": {"port": 9555},
            "health": {"healthProbeBindAddress": ":9090"},
            "internalCertManagement": {"webhookServiceName": "hooks"},
        }
    )
    settings = resolve_settings(Flags(renew_deadline="12s", webhook_port=1234), config, {})
    assert settings.operator_namespace == "ops"
    assert not settings.leader_elect and settings.lease_name == "x"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (30.0, 12.0, 2.0)
    assert settings.webhook_port == 1234 and settings.webhook_service == "hooks"
    assert (settings.health_host, settings.health_port) == (None, 9090), "no host: all interfaces in a pod"
    assert settings.namespaces is None, "all namespaces by default"

    defaults = resolve_settings(Flags(namespaces=("a", "b")), parse_config({}), {"ENABLE_WEBHOOKS": "false"})
    assert defaults.namespaces == ("a", "b") and not defaults.webhooks
    assert (
        defaults.leader_elect and defaults.lease_name == "b8b2488c.x-k8s.io" and defaults.health_port == 8081
    )


def test_the_disaggregatedset_webhook_is_registered_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--no-disaggregatedset-webhook`` (or its variable): what upstream's chart's ``enableDisaggregatedSet:
    false`` installs, and what ``lws manifests --no-disaggregatedset-webhook`` puts on the command line."""
    monkeypatch.delenv("LWS_DISAGGREGATEDSET_WEBHOOK", raising=False)

    def registers(*args: str) -> bool:
        params = run_command.make_context("run", list(args)).params
        flags = Flags(**{f.name: params[f.name] for f in dataclasses.fields(Flags)})
        return resolve_settings(flags, parse_config({}), os.environ).disaggregatedset_webhook

    assert registers() is True
    assert registers("--no-disaggregatedset-webhook") is False
    monkeypatch.setenv("LWS_DISAGGREGATEDSET_WEBHOOK", "false")
    assert registers() is False
    assert registers("--disaggregatedset-webhook") is True, "the flag over its variable"
    help_text = " ".join(run_command.get_help(run_command.make_context("run", [])).split())
    assert "--no-disaggregatedset-webhook" in help_text and "enableDisaggregatedSet=false" in help_text


def test_bad_settings_say_what_is_wrong() -> None:
    with pytest.raises(CliError, match="exclude each other"):
        resolve_settings(Flags(namespaces=("a",), all_namespaces=True), parse_config({}), {})
    with pytest.raises(CliError, match="lease duration: '15 seconds' is not a duration"):
        parse_duration("15 seconds", where="lease duration")
    assert parse_duration("1m30s", where="x") == 90.0 and parse_duration("500ms", where="x") == 0.5
    assert parse_bind_address("127.0.0.1:0", where="x") == ("127.0.0.1", 0)
    assert parse_bind_address("0", where="x") == (None, None)
    assert parse_bind_address(":8081", where="x") == (None, 8081), "no host: decided by where we run"
    assert parse_bind_address("0.0.0.0:8081", where="x") == ("0.0.0.0", 8081)
    with pytest.raises(CliError, match="--health-probe-bind-address: 'localhost' is not an address"):
        resolve_settings(Flags(health_address="localhost"), parse_config({}), {})


def test_denials_read_like_apimachinery() -> None:
    obj = {"metadata": {"name": "web"}}
    one = [FieldError("spec.replicas", "must be greater than or equal to 0", value=-1)]
    assert invalid_message(obj, one) == (
        'LeaderWorkerSet.leaderworkerset.x-k8s.io "web" is invalid: '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    )
    two = [
        *one,
        FieldError("spec.leaderWorkerTemplate.size", "size must be equal or greater than 1", value=0),
    ]
    assert invalid_message(obj, two).endswith(
        "is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, "
        "spec.leaderWorkerTemplate.size: Invalid value: 0: size must be equal or greater than 1]"
    )
