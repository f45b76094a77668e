"""How lws uses kopf's webhook server: the one module that depends on it, through kopf's public protocol only.

kopf serves admission requests through ``settings.admission.server``: an async callable that takes kopf's
admission entry point and yields a client config (``{"url": ...}``) each time it listens, optionally also
an async context manager that releases its sockets on exit. :class:`ListeningWebhookServer` is such a
server wrapped around :class:`kopf.WebhookServer`, adding what lws needs: a callback once it listens (the
webhook configurations are registered only then) and a middleware around each admission request (tracing).

One exception to "public protocol only": kopf parses each request body with ``json.loads`` before any
middleware sees it, and a body nesting a few thousand levels deep (which an API server passes on, up to its
own limit of 10,000) makes that parse, or kopf's diffing after it, raise RecursionError, which the API server
reports as a 500. :class:`_DepthGuardedServer` therefore overrides kopf's per-request ``_serve`` to refuse
such a body first, with a proper denial (:func:`lws.controller.admission.refuse_too_deep_review`).
``tests/operator/test_library_contracts.py`` fails when kopf changes any of this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import kopf
from aiohttp import web

from lws.controller.admission import refuse_too_deep_review

#: kopf's admission entry point, as the middleware receives and returns it.
WebhookFn = Any


class _DepthGuardedServer(kopf.WebhookServer):
    """kopf's server, refusing a too deeply nested body before kopf parses it (see the module docstring)."""

    @staticmethod
    async def _serve(fn: WebhookFn, request: web.Request) -> web.Response:
        refusal = refuse_too_deep_review(await request.text())
        if refusal is not None:
            return web.json_response(refusal)
        response: web.Response = await kopf.WebhookServer._serve(fn, request)
        return response


class ListeningWebhookServer:
    """kopf's HTTPS webhook server, telling us when it listens, each request passed through ``middleware``.

    :param server_args: :class:`kopf.WebhookServer`'s own (``addr``, ``port``, ``host``, ``certfile``,
        ``pkeyfile``, ``cadata``...).
    """

    def __init__(
        self,
        *,
        on_listening: Callable[[str], None],
        middleware: Callable[[WebhookFn], WebhookFn],
        **server_args: Any,
    ) -> None:
        self.server = _DepthGuardedServer(**server_args)
        self._on_listening = on_listening
        self._middleware = middleware

    async def __call__(self, fn: WebhookFn) -> AsyncIterator[Any]:
        async for client_config in self.server(self._middleware(fn)):
            self._on_listening(str(client_config.get("url", "")))
            yield client_config

    async def __aenter__(self) -> ListeningWebhookServer:
        await self.server.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.server.__aexit__(exc_type, exc, tb)
