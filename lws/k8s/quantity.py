"""Kubernetes resource quantities (``"500m"``, ``"16Gi"``, ``"1e3"``) as exact decimals.

Hand-written because the official client's ``parse_quantity`` may not be imported here: the embedded cluster
and the API layer, which both use this module, are kept free of the ``kubernetes`` package.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation, localcontext

__all__ = ["QuantityError", "canonical_quantity", "milli_value", "parse_quantity"]

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


# --- Go's encoding of a quantity --------------------------------------------------------------------------

_SI_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_SI_SUFFIXES = {exponent: suffix for suffix, exponent in _SI_EXPONENTS.items()}
_BINARY_EXPONENTS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_SUFFIXES = {exponent // 10: suffix for suffix, exponent in _BINARY_EXPONENTS.items()} | {0: ""}
_INT64_MAX = 2**63 - 1
_MAX_INT64_FACTORS = 18
_NANO = -9


def canonical_quantity(text: str) -> str:
    """The text Go's ``resource.Quantity`` writes back after reading ``text`` (its ``MarshalJSON``).

    apimachinery keeps a string already in canonical form as written (``"100m"``, ``"3Mi"``, ``"+1"``) and
    rewrites any other in canonical form: ``"1000m"`` → ``"1"``, ``"1.5"`` → ``"1500m"``, ``"0.5Gi"`` →
    ``"512Mi"``, ``"1024Ki"`` → ``"1Mi"``. Values finer than 1n round up to 1n, as the API server does.
    Raises :class:`QuantityError` for text Go would not parse.
    """
    text = text.strip()
    positive, value, num, denom, suffix = _split_quantity(text)
    if suffix in _SI_EXPONENTS:
        base, exponent, fmt = 10, _SI_EXPONENTS[suffix], "DecimalSI"
    elif suffix in _BINARY_EXPONENTS:
        base, exponent, fmt = 2, _BINARY_EXPONENTS[suffix], "BinarySI"
    elif len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?\d+", suffix[1:]):
        base, exponent, fmt = 10, int(suffix[1:]), "DecimalExponent"
    else:
        raise QuantityError(f"{text!r} is not a quantity: unknown suffix {suffix!r}")

    # The fast path of ParseQuantity: an int64 mantissa and a decimal scale.
    if fmt == "BinarySI":
        scale, mantissa = 0, 1
        if exponent >= 0 and not denom:
            mantissa = 1 << exponent
            precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        else:
            precision = -1
    else:
        scale, mantissa, precision = exponent, 1, _MAX_INT64_FACTORS - (len(num) + len(denom))
    if precision >= 0:
        scale -= len(denom)
        shifted = num + denom
        if scale >= _NANO and int(shifted) <= _INT64_MAX:
            parsed = int(shifted)
            result = parsed * mantissa
            if result <= _INT64_MAX:
                if fmt == "BinarySI":
                    if exponent % 10 == 0 and parsed & 0x07 != 0:
                        return text
                elif scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
                    return text
                return _canonical(result if positive else -result, scale, fmt)

    # The slow path: an exact decimal, rounded up to 1n, binary values capped at the int64 maximum.
    with localcontext() as ctx:
        ctx.prec = 400  # exact: inf.Dec has arbitrary precision
        try:
            amount = abs(Decimal(value))
        except InvalidOperation as exc:
            raise QuantityError(f"{text!r} is not a quantity") from exc
        amount = amount.scaleb(exponent) if base == 10 else amount * (2**exponent)
        nanos = int((amount * 10**9).to_integral_value(rounding="ROUND_CEILING"))
    if fmt == "BinarySI" and nanos > _INT64_MAX * 10**9:
        nanos = _INT64_MAX * 10**9
    if fmt == "BinarySI" and 0 < nanos < 10**9:
        fmt = "DecimalSI"
    return _canonical(nanos if positive else -nanos, _NANO, fmt)


def _split_quantity(text: str) -> tuple[bool, str, str, str, str]:
    """apimachinery's ``parseQuantityString``: sign, number text, integer and fraction digits, suffix."""
    match = re.fullmatch(r"([+-]?)(0*)(\d*)(?:\.(\d*))?([eEinumkKMGTP]*[+-]?\d*)", text)
    if match is None or not text:
        raise QuantityError(f"{text!r} is not a quantity")
    sign, zeros, num, denom, suffix = match.groups()
    if not (zeros or num or denom is not None):
        raise QuantityError(f"{text!r} is not a quantity")
    value = text[: len(text) - len(suffix)]
    return sign != "-", value, num or "0", denom or "", suffix


def _canonical(unscaled: int, exponent: int, fmt: str) -> str:
    """``CanonicalizeBytes``: the number ``unscaled * 10**exponent`` in ``fmt``'s canonical form."""
    if unscaled == 0:
        return "0"
    if fmt == "BinarySI":
        value = Decimal(unscaled).scaleb(exponent)
        if -1024 < value < 1024 or value != value.to_integral_value():
            fmt = "DecimalSI"
        else:
            whole, power = int(value), 0
            while whole % 1024 == 0:
                whole, power = whole // 1024, power + 1
            return f"{whole}{_BINARY_SUFFIXES.get(power, '')}"
    while unscaled % 10 == 0:
        unscaled, exponent = unscaled // 10, exponent + 1
    while exponent % 3:
        unscaled, exponent = unscaled * 10, exponent - 1
    if fmt == "DecimalExponent":
        return f"{unscaled}e{exponent}" if exponent else str(unscaled)
    # apimachinery writes no suffix for an exponent it has none for (beyond E): kept as Go does.
    return f"{unscaled}{_SI_SUFFIXES.get(exponent, '')}"
