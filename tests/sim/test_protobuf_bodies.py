"""Kubernetes protobuf request bodies (lws.sim.protobuf), encoded here field by field as client-go does."""

from __future__ import annotations

import pytest

from lws.sim.protobuf import ProtobufError, decode_object, supported_kinds


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes | str | int | bool) -> bytes:
    if isinstance(payload, bool | int):
        return varint(number << 3) + varint(int(payload))
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: str | bytes) -> bytes:
    return field(number, field(1, key) + field(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return (
        b"k8s\x00"
        + field(1, field(1, api_version) + field(2, kind))
        + field(2, raw)
        + field(3, "")
        + field(4, "")
    )


def object_meta(**extra: bytes) -> bytes:
    # Go's generated marshaller writes every non-pointer field, zero or not.
    return (
        field(1, "demo")
        + field(2, "")
        + field(3, "")
        + field(6, "")
        + field(7, 0)
        + field(8, b"")
        + entry(11, "team", "a")
        + entry(11, "tier", "b")
        + b"".join(extra.values())
    )


def test_a_namespace_as_kubectl_create_sends_it() -> None:
    raw = field(1, object_meta()) + field(2, field(1, "kubernetes")) + field(3, field(1, ""))
    assert decode_object(envelope("v1", "Namespace", raw)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo", "labels": {"team": "a", "tier": "b"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {},
    }


def test_config_maps_and_secrets_keep_binary_data_as_base64_and_pointer_booleans() -> None:
    meta = object_meta(
        owner=field(13, field(1, "Deployment") + field(3, "d") + field(4, "u-1") + field(6, False))
    )
    raw = field(1, meta) + entry(2, "a", "1") + entry(3, "blob", b"\x00\x01") + field(4, False)
    decoded = decode_object(envelope("v1", "ConfigMap", raw))
    assert decoded["data"] == {"a": "1"}
    assert decoded["binaryData"] == {"blob": "AAE="}
    assert decoded["immutable"] is False
    assert decoded["metadata"]["ownerReferences"] == [
        {"kind": "Deployment", "name": "d", "uid": "u-1", "controller": False}
    ]

    secret = decode_object(
        envelope("v1", "Secret", field(1, object_meta()) + entry(2, "k", b"v") + field(3, "Opaque"))
    )
    assert (secret["data"], secret["type"]) == ({"k": "dg=="}, "Opaque")


def test_times_become_rfc3339() -> None:
    meta = field(1, "x") + field(9, field(1, 1_700_000_000) + field(2, 0)) + field(10, 30)
    decoded = decode_object(envelope("v1", "ServiceAccount", field(1, meta)))
    assert decoded["metadata"] == {
        "name": "x",
        "deletionTimestamp": "2023-11-14T22:13:20Z",
        "deletionGracePeriodSeconds": 30,
    }


def test_unknown_kinds_say_what_to_do_instead() -> None:
    with pytest.raises(ProtobufError, match="send it as JSON") as raised:
        decode_object(envelope("batch/v1", "Job", b""))
    assert raised.value.unsupported


def test_a_deployment_with_its_pod_template_as_kubectl_create_sends_it() -> None:
    # resources.limits is a map of Quantity messages; maxSurge an IntOrString message; a volume's source is
    # a member inlined into the volume in JSON but a nested message on the wire; replicas a pointer.
    container = (
        field(1, "web")
        + field(2, "nginx:1.27")
        + field(6, field(3, 8080) + field(4, "TCP"))  # ports: containerPort, protocol
        + field(8, entry(1, "cpu", field(1, "500m")))  # resources.limits
        + field(9, field(1, "data") + field(3, "/data"))  # volumeMounts: name, mountPath
        + field(14, "")  # imagePullPolicy left empty: omitted
    )
    volume = field(1, "data") + field(2, field(2, b""))  # emptyDir: {}
    pod_spec = field(2, container) + field(1, volume) + field(3, "Always")
    template = field(1, field(11, field(1, "app") + field(2, "web"))) + field(2, pod_spec)
    rolling = field(1, field(1, 1) + field(3, "25%")) + field(2, field(1, 0) + field(2, 2))
    spec = (
        field(1, 3)
        + field(2, entry(1, "app", "web"))
        + field(3, template)
        + field(4, field(1, "RollingUpdate") + field(2, rolling))
        + field(5, 0)
    )
    decoded = decode_object(
        envelope("apps/v1", "Deployment", field(1, object_meta()) + field(2, spec) + field(3, b""))
    )
    assert decoded["spec"]["replicas"] == 3
    assert decoded["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert decoded["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2},
    }
    pod = decoded["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert pod["restartPolicy"] == "Always"
    assert pod["containers"] == [
        {
            "name": "web",
            "image": "nginx:1.27",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "resources": {"limits": {"cpu": "500m"}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }
    ]
    assert "minReadySeconds" not in decoded["spec"] and decoded["status"] == {}


def test_the_field_table_covers_what_kubectl_create_makes() -> None:
    for kind in (
        "v1/Namespace",
        "v1/ConfigMap",
        "v1/Secret",
        "v1/ServiceAccount",
        "v1/Service",
        "apps/v1/Deployment",
        "policy/v1/PodDisruptionBudget",
        "scheduling.k8s.io/v1/PriorityClass",
        "rbac.authorization.k8s.io/v1/Role",
        "rbac.authorization.k8s.io/v1/ClusterRole",
        "rbac.authorization.k8s.io/v1/RoleBinding",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
    ):
        assert kind in supported_kinds()


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"k8s\x00\x0a\xff",
        b"k8s\x00" + field(3, "gzip") + field(1, field(1, "v1") + field(2, "ConfigMap")),
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ProtobufError) as raised:
        decode_object(body)
    assert not raised.value.unsupported
