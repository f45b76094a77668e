"""Kubernetes resource quantities, shared by the API layer (plugins' resource maths) and the embedded cluster
(scheduler, topology files)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lws.k8s.quantity import QuantityError, milli_value, parse_quantity


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("500m", 500),
        ("1", 1000),
        ("1.5", 1500),
        ("2k", 2_000_000),
        ("1Ki", 1_024_000),
        ("16Gi", 16 * 2**30 * 1000),
        ("1e3", 1_000_000),
        ("1n", 1),
        (8, 8000),
    ],
)
def test_quantities(text, milli):
    assert milli_value(text) == milli


@pytest.mark.parametrize("text", ["", "1.2.3", "5 Gi", "Gi", "1Xi", "abc"])
def test_bad_quantities(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("+1.5Gi", Decimal(3 * 2**29)), (".5", Decimal("0.5")), ("2E2", Decimal(200)), (" 8 ", Decimal(8))],
)
def test_parse_exact_decimals(value, expected):
    assert parse_quantity(value) == expected


@pytest.mark.parametrize("value", [True, None, [1]])
def test_non_numbers_are_quantity_errors(value):
    with pytest.raises(QuantityError, match="is not a quantity"):
        parse_quantity(value)


def test_error_says_what_a_quantity_looks_like():
    with pytest.raises(
        QuantityError, match=r"^'lots' is not a quantity: expected a number with an optional suffix"
    ):
        parse_quantity("lots")
