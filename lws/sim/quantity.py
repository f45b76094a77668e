"""Kubernetes resource quantities: :mod:`lws.k8s.quantity`, under the name :mod:`lws.demo` still imports.

New code imports :mod:`lws.k8s.quantity`; this module goes once the demo does too.
"""

from __future__ import annotations

from lws.k8s.quantity import QuantityError, milli_value, parse_quantity

__all__ = ["QuantityError", "milli_value", "parse_quantity"]
