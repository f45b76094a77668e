"""Kubernetes resource quantities (``"500m"``, ``"8"``, ``"1124Gi"``, ``"1e3"``) as exact decimals."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(value: Any) -> Decimal:
    """Parse a quantity as the API server would accept it; raise :class:`QuantityError` otherwise."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must match the regular expression of a number, got {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise QuantityError(
            f"quantities must match '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {value!r}"
        )
    number, exponent, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"invalid quantity {value!r}") from exc
    if exponent:
        return base * Decimal(10) ** int(exponent[1:])
    return base * _SUFFIXES[suffix or ""]


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
