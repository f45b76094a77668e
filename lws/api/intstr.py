"""IntOrString scaling, as apimachinery's ``intstr.GetScaledValueFromIntOrPercent`` does it."""

from __future__ import annotations

import math
import re

IntOrStr = int | str

_PERCENT = re.compile(r"^(\d+)%$")


class ScaleError(ValueError):
    """The value is neither an integer nor a percentage such as ``"25%"``."""


def is_percent(value: IntOrStr) -> bool:
    return isinstance(value, str) and bool(_PERCENT.match(value))


def percent_value(value: str) -> int:
    match = _PERCENT.match(value)
    if not match:
        raise ScaleError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}"
        )
    return int(match.group(1))


def scaled_value(value: IntOrStr, total: int, *, round_up: bool) -> int:
    """Resolve an absolute count or a percentage of ``total``.

    Percentages round up for ``maxSurge`` and down for ``maxUnavailable``, as upstream does.
    A plain digit string (``"2"``) is an integer, as apimachinery's ``intstr.Parse`` makes it.
    """
    if isinstance(value, bool):
        raise ScaleError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if value.isdigit():
        return int(value)
    pct = percent_value(value)
    scaled = pct * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)
