"""What a container asks for, and Kubernetes resource quantities for the API layer and its plugins.

The parser lives in :mod:`lws.k8s.quantity` (shared with the embedded cluster) and is re-exported here, so
plugins find it in the API they build on.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lws.k8s.quantity import QuantityError, parse_quantity

__all__ = ["QuantityError", "container_request", "parse_quantity"]


def container_request(container: Mapping[str, Any], resource: str) -> Decimal:
    """What a container asks for: its limit when non-zero, else its request (upstream's TPU rule)."""
    resources = container.get("resources") or {}
    for kind in ("limits", "requests"):
        raw = (resources.get(kind) or {}).get(resource)
        if raw is not None:
            try:
                amount = parse_quantity(raw)
            except QuantityError:
                continue
            if amount != 0:
                return amount
    return Decimal(0)
