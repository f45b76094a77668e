"""Fixtures for the demo and simulate tests: commands run in this process leave logging as they found it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # `lws demo` and `lws simulate` set log levels for the process they run in, as a CLI should.
    loggers = [logging.getLogger(name) for name in ("", "kopf", "aiohttp.access")]
    levels = [logger.level for logger in loggers]
    handlers = list(logging.getLogger().handlers)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
    logging.getLogger().handlers[:] = handlers
