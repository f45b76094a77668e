"""Fixtures for the admission-webhook tests: a throw-away certificate authority, and an HTTPS webhook server
on the test's own loop that the API server calls over TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from webhook_tls import Certificates, WebhookServer, make_certificates


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def server(certificates: Certificates) -> AsyncIterator[WebhookServer]:
    webhooks = WebhookServer(certificates)
    await webhooks.start()
    yield webhooks
    await webhooks.stop()
