"""Kubernetes name rules in apimachinery's words, shared by the API layer and the embedded cluster."""

from __future__ import annotations

import pytest

from lws.k8s import names

DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-lws", []),
        ("a", []),
        ("a" * 63, []),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("0lws", [DNS1035_MSG]),
        ("lws-", [DNS1035_MSG]),
        ("My-lws", [DNS1035_MSG]),
        ("my.lws", [DNS1035_MSG]),
        ("", [DNS1035_MSG]),
        ("lws\n", [DNS1035_MSG]),
        ("0" * 64, ["must be no more than 63 characters", DNS1035_MSG]),
    ],
)
def test_dns1035_label(value: str, expected: list[str]) -> None:
    assert names.is_dns1035_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("default", []),
        ("0-ns", []),
        ("kube.system", ["must not contain dots"]),
        ("Team", [DNS1123_LABEL_MSG]),
        ("a" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_dns1123_label(value: str, expected: list[str]) -> None:
    assert names.is_dns1123_label(value) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("app", True),
        ("app.kubernetes.io/name", True),
        ("leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology", True),
        ("A_b.c-D", True),
        ("/name", False),
        ("example.com/", False),
        ("a/b/c", False),
        ("-app", False),
        ("Example.com/app", False),
        ("a" * 63, True),
        ("a" * 64, False),
    ],
)
def test_qualified_name(value: str, valid: bool) -> None:
    assert (names.is_qualified_name(value) == []) is valid


def test_qualified_name_messages_name_the_part() -> None:
    assert names.is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("x/") == [
        "name part must be non-empty",
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]


@pytest.mark.parametrize(
    ("value", "valid"), [("", True), ("v1.2_x-y", True), ("-x", False), ("a" * 64, False), ("a b", False)]
)
def test_label_value(value: str, valid: bool) -> None:
    assert (names.is_label_value(value) == []) is valid


@pytest.mark.parametrize(("value", "valid"), [("0%", True), ("100%", True), ("5", False), ("-5%", False)])
def test_percent(value: str, valid: bool) -> None:
    assert (names.is_valid_percent(value) == []) is valid


def test_percent_message_is_apimachinery_text() -> None:
    assert names.is_valid_percent("x") == [
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
        "regex used for validation is '[0-9]+%')"
    ]


def test_mask_trailing_dash_lets_generate_name_end_with_a_dash() -> None:
    assert names.mask_trailing_dash("my-lws-") == "my-lwa"
    assert names.is_dns1035_label(names.mask_trailing_dash("my-lws-")) == []
    assert names.mask_trailing_dash("-") == "-"


DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", []),
        ("a" * 253, []),
        ("a" * 254, ["must be no more than 253 characters"]),
        ("Example.com", [DNS1123_SUBDOMAIN_MSG]),
        ("a..b", [DNS1123_SUBDOMAIN_MSG]),
    ],
)
def test_dns1123_subdomain(value: str, expected: list[str]) -> None:
    assert names.is_dns1123_subdomain(value) == expected


def test_label_lengths_are_bytes_as_in_apimachinery_content_package() -> None:
    assert names.is_label_value("a" * 64)[0] == "must be no more than 63 bytes"
    assert names.is_qualified_name("a" * 64) == ["name part must be no more than 63 bytes"]


def test_lengths_count_bytes_as_go_does() -> None:
    # 32 two-byte characters: short in characters, too long in bytes.
    assert names.is_dns1123_label("é" * 32)[0] == "must be no more than 63 characters"
    assert names.is_label_value("é" * 32)[0] == "must be no more than 63 bytes"


def test_regex_error_without_examples_names_only_the_regex() -> None:
    assert names.regex_error("bad", "x+") == "bad (regex used for validation is 'x+')"
