"""What lws relies on in kopf and aiohttp, checked against the installed versions: a library release that
changes any of it fails here, naming the adapter to fix, rather than in production.

lws uses only their public APIs: kopf's webhook-server protocol (``lws/controller/kopf_webhooks.py``), its
embedding calls and settings (``lws/controller/operator.py``, ``handlers.py``), the text of the log line
kopf writes for a refused admission request (``handlers._DenialsAreNotErrors`` quiets it), and aiohttp's
``AppRunner.addresses`` for the ports it bound (probes, metrics). The installed versions must also be inside
the ranges ``pyproject.toml`` declares as tested.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import ssl
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import pytest
import yaml
from aiohttp import web
from e2e_kit import make_lws
from operator_harness import E2E
from packaging.requirements import Requirement

from lws.cluster.certs import make_serving_certificate
from lws.controller import handlers
from lws.controller.kopf_webhooks import ListeningWebhookServer

ROOT = Path(__file__).resolve().parents[2]


async def test_kopfs_webhook_server_protocol_still_serves_through_our_adapter(tmp_path: Path) -> None:
    certificate = make_serving_certificate(identity="contract-test", ip_addresses=["127.0.0.1"])
    cert, key = certificate.write(tmp_path)
    listening: list[str] = []
    wrapped: list[Any] = []
    seen: list[Any] = []

    async def admission(request: Any, **kwargs: Any) -> Any:
        seen.append(request)
        return {"response": {"allowed": True}}

    def middleware(fn: Any) -> Any:
        wrapped.append(fn)
        return fn

    server = ListeningWebhookServer(
        on_listening=listening.append,
        middleware=middleware,
        addr="127.0.0.1",
        port=0,
        host="127.0.0.1",
        certfile=str(cert),
        pkeyfile=str(key),
        cadata=certificate.ca_pem,
    )
    async with server as serving:
        async for client_config in serving(admission):
            url = str(client_config["url"])
            assert url.startswith("https://127.0.0.1:")
            assert listening == [url] and wrapped == [admission]
            context = ssl.create_default_context(cadata=certificate.ca_pem.decode())
            async with aiohttp.ClientSession() as session:
                review = {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"uid": "1"},
                }
                async with session.post(f"{url}/contract", json=review, ssl=context) as reply:
                    assert reply.status == 200, await reply.text()
            break
    assert seen and seen[0]["request"]["uid"] == "1"


def test_kopfs_embedding_calls_take_the_arguments_we_pass() -> None:
    inspect.signature(kopf.spawn_tasks).bind(
        registry=None, settings=None, standalone=True, clusterwide=True, namespaces=[], stop_flag=None
    )
    inspect.signature(kopf.run_tasks).bind([], ignored=set())
    inspect.signature(kopf.WebhookServer).bind(
        addr="0.0.0.0", port=9443, host="h", context=None, certfile="c", pkeyfile="k", cadata=b""
    )


def test_kopfs_per_request_entry_point_is_the_one_we_guard() -> None:
    """lws.controller.kopf_webhooks overrides kopf.WebhookServer._serve (the one private hook: kopf parses
    each body before any middleware runs); kopf must still call it per request, as a static method."""
    assert isinstance(inspect.getattr_static(kopf.WebhookServer, "_serve"), staticmethod)
    assert list(inspect.signature(kopf.WebhookServer._serve).parameters) == ["fn", "request"]
    assert "self._serve(fn, request)" in inspect.getsource(kopf.WebhookServer.__call__)


def test_kopfs_settings_have_every_field_we_set() -> None:
    settings = kopf.OperatorSettings()
    # A misspelt or removed field would be set silently on the dataclass: check each exists first.
    for path in (
        "peering.standalone",
        "scanning.disabled",
        "posting.enabled",
        "admission.server",
        "admission.managed",
        "networking.request_timeout",
    ):
        section, name = path.split(".")
        assert hasattr(getattr(settings, section), name), f"kopf.OperatorSettings has no {path}"
    handlers.configure(settings, server=None)
    assert settings.peering.standalone and settings.scanning.disabled and not settings.posting.enabled


async def test_aiohttp_reports_the_port_a_site_bound() -> None:
    runner = web.AppRunner(web.Application(), handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        (address,) = runner.addresses
        assert address[0] == "127.0.0.1" and int(address[1]) > 0
    finally:
        await runner.cleanup()


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


@pytest.mark.parametrize("requirement", _declared(), ids=lambda r: r.name)
def test_each_dependency_has_a_tested_upper_bound_and_the_installed_version_is_inside(
    requirement: Requirement,
) -> None:
    assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), (
        f"pyproject.toml: {requirement} has no upper bound; add the next untested version as one"
    )
    installed = importlib.metadata.version(requirement.name)
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{requirement.name} {installed} is installed, outside the tested range {requirement.specifier}: "
        "test it, then widen the range in pyproject.toml and constraints.txt"
    )


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_ci_installs_versions_inside_the_declared_ranges() -> None:
    pins = _constraints()
    for requirement in _declared():
        pinned = pins.get(requirement.name.lower().replace("_", "-"))
        assert pinned is not None, f"constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned}, outside pyproject.toml's {requirement.specifier}"
        )


@pytest.mark.sim_only  # the operator must run in this process for its log records to be seen
def test_kopfs_log_line_for_a_refused_request_is_the_one_we_quiet(e2e: E2E, ns: str) -> None:
    """A denial is the webhook doing its job: kopf logs it as an ERROR, matched by its text and dropped.
    If kopf words the line differently, the filter no longer matches and operators see false errors."""
    e2e.require_operator()
    objects = logging.getLogger("kopf.objects")
    emitted: list[logging.LogRecord] = []
    shown: list[logging.LogRecord] = []

    class Emitted(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            emitted.append(record)
            return True

    class Shown(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            shown.append(record)

    recorder, handler = Emitted(), Shown()
    objects.filters.insert(0, recorder)  # before ours, so it sees what ours drops
    objects.addHandler(handler)
    try:
        manifest = make_lws("refused", size=0)
        result = e2e.kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(manifest), check=False)
    finally:
        objects.removeFilter(recorder)
        objects.removeHandler(handler)
    assert result.returncode != 0 and "denied the request" in result.stderr
    refused = [r for r in emitted if "failed permanently" in r.getMessage()]
    assert refused, (
        'kopf no longer logs a refused admission as "<handler> failed permanently: ...": '
        f"update lws.controller.handlers._DenialsAreNotErrors (kopf.objects logged {[r.getMessage() for r in emitted]})"
    )
    assert all(r.levelno == logging.ERROR and r.getMessage().startswith("Webhook '") for r in refused)
    assert not [r for r in shown if "failed permanently" in r.getMessage()], "the filter let a denial through"
