"""Each replica's own CA and serving certificate, and how replicas share the webhook configurations."""

from __future__ import annotations

import asyncio
import base64
import ssl
from datetime import UTC, datetime, timedelta

import pytest

from lws.api import constants as c
from lws.cluster.certs import describe_ca, make_serving_certificate, split_bundle
from lws.cluster.webhooks import (
    Endpoint,
    configuration,
    current_bundle,
    current_url,
    plan_departure,
    plan_registration,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _ca(identity: str, url: str | None = None, days: int = 365) -> bytes:
    cert = make_serving_certificate(
        identity=identity, ip_addresses=["127.0.0.1"], url=url, valid_for=timedelta(days=days), now=NOW
    )
    return cert.ca_pem


async def test_a_client_trusting_the_ca_completes_a_tls_handshake_with_the_serving_certificate() -> None:
    cert = make_serving_certificate(
        identity="local/test", ip_addresses=["127.0.0.1"], url="https://127.0.0.1:1"
    )
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=cert.ssl_context())
    port = server.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context(cadata=cert.ca_pem.decode())
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trusting)
        assert writer.get_extra_info("peercert")["subjectAltName"] == (("IP Address", "127.0.0.1"),)
        writer.close()
        other = ssl.create_default_context(cadata=_ca("local/other").decode())
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("127.0.0.1", port, ssl=other)


def test_the_ca_names_its_replica_and_url() -> None:
    info = describe_ca(_ca("pod/lws-system/manager-1", url="https://127.0.0.1:9443", days=2))
    assert info is not None
    assert (info.identity, info.url) == ("pod/lws-system/manager-1", "https://127.0.0.1:9443")
    assert not info.expired(NOW) and info.expired(NOW + timedelta(days=3))
    assert describe_ca(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n") is None


def test_joining_keeps_live_replicas_drops_dead_and_expired_ones_and_foreign_certificates_stay() -> None:
    me = describe_ca(_ca("pod/ns/me"))
    assert me is not None
    alive, dead, expired = _ca("pod/ns/alive"), _ca("pod/ns/dead"), _ca("pod/ns/old", days=1)
    foreign = make_serving_certificate(identity="x", dns_names=["x"]).cert_pem  # not one of our CAs
    plan = plan_registration(
        [alive, dead, expired, foreign],
        None,
        own=me,
        own_endpoint=Endpoint(service_namespace="ns"),
        alive={"pod/ns/alive", "pod/ns/old"},
        now=NOW + timedelta(days=2),
    )
    assert plan.bundle == (alive, foreign, me.pem)
    assert plan.endpoint == Endpoint(service_namespace="ns")
    assert split_bundle(plan.ca_bundle) == list(plan.bundle)


def test_a_live_replica_keeps_the_url_and_the_last_one_out_removes_the_configurations() -> None:
    first = describe_ca(_ca("local/a", url="https://127.0.0.1:1001"))
    second = describe_ca(_ca("local/b", url="https://127.0.0.1:1002"))
    assert first is not None and second is not None
    joined = plan_registration(
        [first.pem],
        "https://127.0.0.1:1001",
        own=second,
        own_endpoint=Endpoint(url="https://127.0.0.1:1002"),
        alive={"local/a"},
        now=NOW,
    )
    assert joined.endpoint.url == "https://127.0.0.1:1001", "requests keep going to the live replica"
    taken_over = plan_registration(
        [first.pem],
        "https://127.0.0.1:1001",
        own=second,
        own_endpoint=Endpoint(url="https://127.0.0.1:1002"),
        alive=set(),
        now=NOW,
    )
    assert taken_over.endpoint.url == "https://127.0.0.1:1002" and taken_over.bundle == (second.pem,)

    handed = plan_departure(
        list(joined.bundle),
        "https://127.0.0.1:1001",
        own=first,
        own_endpoint=Endpoint(url="https://127.0.0.1:1001"),
        now=NOW,
    )
    assert (
        handed is not None
        and handed.endpoint.url == "https://127.0.0.1:1002"
        and handed.bundle == (second.pem,)
    )
    last = plan_departure(
        [second.pem],
        "https://127.0.0.1:1002",
        own=second,
        own_endpoint=Endpoint(url="https://127.0.0.1:1002"),
        now=NOW,
    )
    assert last is None, "the last replica outside a pod removes the configurations"
    in_pod = plan_departure(
        [first.pem], None, own=first, own_endpoint=Endpoint(service_namespace="ns"), now=NOW
    )
    assert in_pod is not None and in_pod.bundle == (), "installed configurations stay in a cluster"


def test_configurations_round_trip_bundle_and_url() -> None:
    ca = _ca("local/a", url="https://127.0.0.1:7")
    body = configuration("mutating", Endpoint(url="https://127.0.0.1:7"), ca)
    assert body["metadata"]["name"] == c.MUTATING_WEBHOOK_CONFIGURATION
    assert [h["clientConfig"]["url"] for h in body["webhooks"]] == [
        "https://127.0.0.1:7" + c.WEBHOOK_PATH_MUTATE_LWS,
        "https://127.0.0.1:7" + c.WEBHOOK_PATH_MUTATE_POD,
    ]
    assert current_url(body) == "https://127.0.0.1:7"
    assert current_bundle(body) == [ca]
    service = configuration("validating", Endpoint(service_namespace="lws-system"), ca)["webhooks"][0][
        "clientConfig"
    ]
    assert service["service"] == {
        "namespace": "lws-system",
        "name": c.WEBHOOK_SERVICE_NAME,
        "path": c.WEBHOOK_PATH_VALIDATE_LWS,
        "port": 443,
    }
    assert base64.b64decode(service["caBundle"]) == ca
