"""Test helpers: a throw-away certificate authority and HTTPS admission-webhook servers (real aiohttp, no mocks)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from lws.cluster.certs import make_serving_certificate

Review = dict[str, Any]
Handler = Callable[[Review], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Certificates:
    """A CA and a server certificate for 127.0.0.1/localhost it signed, as files and PEM text."""

    ca_pem: bytes
    cert_file: Path
    key_file: Path

    @property
    def ca_bundle(self) -> str:
        """``clientConfig.caBundle``: the CA in base64 PEM."""
        return base64.b64encode(self.ca_pem).decode()

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path, *, ca_name: str = "lws-test-ca") -> Certificates:
    """A fresh CA and a server certificate with SANs ``127.0.0.1`` and ``localhost``, written to ``directory``.

    Made as the operator makes its own (:mod:`lws.cluster.certs`); ``ca_name`` names the CA's owner.
    """
    serving = make_serving_certificate(
        identity=ca_name,
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
        valid_for=datetime.timedelta(days=1),
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = serving.write(directory)
    return Certificates(serving.ca_pem, cert_file, key_file)


@dataclass
class WebhookServer:
    """An HTTPS server answering AdmissionReviews at ``/<path>`` with the registered handlers."""

    certificates: Certificates
    handlers: dict[str, Handler] = field(default_factory=dict)
    reviews: dict[str, list[Review]] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}/{path}"

    def on(self, path: str, handler: Handler) -> str:
        """Serve ``path`` with ``handler``; returns its URL."""
        self.handlers[path] = handler
        return self.url(path)

    async def _serve(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        review = await request.json()
        self.reviews.setdefault(path, []).append(review)
        handler = self.handlers.get(path)
        if handler is None:
            return web.Response(status=404, text=f"no handler for {path}")
        return web.json_response(await handler(review))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.certificates.server_context())
        await site.start()
        for address in self._runner.addresses:
            self.port = int(address[1])

    async def hang(self, review: Review) -> dict[str, Any]:
        """A handler that does not answer until the server stops (for timeouts)."""
        await self._released.wait()
        return answer(review)

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()


def answer(
    review: Review, *, allowed: bool = True, patch: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """An AdmissionReview response to ``review``."""
    response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": allowed, **extra}
    if patch is not None:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
