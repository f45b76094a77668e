"""Kubernetes resource quantities (``"500m"``, ``"16Gi"``, ``"1e3"``) as exact decimals.

Hand-written because the official client's ``parse_quantity`` may not be imported here: the embedded cluster
and the API layer, which both use this module, are kept free of the ``kubernetes`` package.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["QuantityError", "milli_value", "parse_quantity"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


class QuantityError(ValueError):
    """A value that is not a Kubernetes resource quantity."""


def parse_quantity(value: object) -> Decimal:
    """Parse a quantity such as ``"250m"``, ``"8Gi"``, ``"1.5"`` or ``4`` as the API server would accept it.

    Raises :class:`QuantityError` for anything else, booleans included (YAML's ``yes`` is not a number).
    """
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity: use a number or a string like '500m' or '8Gi'")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise QuantityError(
            f"{value!r} is not a quantity: expected a number with an optional suffix "
            "(m, k, M, G, T, Ki, Mi, Gi, Ti, or an exponent such as e3)"
        )
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise QuantityError(f"{value!r} is not a quantity") from exc
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    return base * (Decimal(10) ** int(suffix[1:]))


def milli_value(value: object) -> int:
    """The quantity in thousandths, rounded up as Kubernetes does (``"0.5"`` → 500, ``"1n"`` → 1)."""
    return math.ceil(parse_quantity(value) * 1000)
