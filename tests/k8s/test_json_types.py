"""JSON type names, as the API layer's checks and the embedded cluster's schema validation print them."""

from __future__ import annotations

import datetime

import pytest

from lws.k8s.json_types import json_type


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (0, "integer"),
        (2.0, "number"),
        ("", "string"),
        ({}, "object"),
        ([], "array"),
        ((1, 2), "tuple"),
        (datetime.date(2024, 1, 2), "date"),
    ],
)
def test_json_type(value, name):
    assert json_type(value) == name
