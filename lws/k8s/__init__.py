"""Kubernetes itself, as plain functions: name rules, resource quantities, JSON type names.

Both the LeaderWorkerSet API layer (:mod:`lws.api`) and the embedded cluster (:mod:`lws.sim`) need these,
and neither may import the other, so they live here. This package knows nothing about LeaderWorkerSet and
imports nothing else of ``lws`` (enforced by ``.importlinter``).
"""
