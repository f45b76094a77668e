"""Plugin hooks: specifications, the data they exchange, and the manager that calls them."""

import pluggy

from lws.hooks.specs import PROJECT_NAME

#: Decorate plugin functions with this: ``@lws.hookimpl def lws_mutate_pod(pod, ctx): ...``
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "hookimpl"]
