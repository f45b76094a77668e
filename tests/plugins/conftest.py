"""Fixtures for the plugins' end-to-end tests (``test_e2e_*.py``).

``default_plugins`` is one embedded cluster (``data/gpu-racks.yaml``) with the operator running every
installed, default-enabled plugin, as ``lws run`` would, started once per session (per xdist worker) and
shared; ``ns`` is a fresh namespace in it. Modules that need another topology or other plugins start their
own with :func:`tests.plugins.plugin_cluster.running`. Tests that run ``lws simulate`` use ``restore_logging``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from lws.hooks.manager import make_hooks
from tests.plugins.plugin_cluster import GPU_RACKS, PluginCluster, running


@pytest.fixture(scope="session")
def default_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PluginCluster]:
    with running(tmp_path_factory.mktemp("plugins-e2e"), topology=GPU_RACKS, hooks=make_hooks()) as env:
        yield env


@pytest.fixture
def ns(default_plugins: PluginCluster) -> Iterator[str]:
    with default_plugins.namespace() as name:
        yield name


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Give back the log levels and handlers ``lws simulate`` sets for the process it runs in."""
    loggers = [logging.getLogger(name) for name in ("", "kopf", "aiohttp.access")]
    levels = [logger.level for logger in loggers]
    handlers = list(logging.getLogger().handlers)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
    logging.getLogger().handlers[:] = handlers
