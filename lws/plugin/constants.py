"""Upstream's label, annotation, policy and event names, as plugins need them (``lws.plugin.constants``).

Re-exported from :mod:`lws.api.constants` so a plugin never imports the operator's internals; the values
are upstream's wire names and change only when upstream's do.
"""

from lws.api.constants import *  # noqa: F403
