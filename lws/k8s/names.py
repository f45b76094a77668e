"""Syntax checks for names, label keys and label values, in apimachinery's words.

Each ``is_*`` function returns the list of problems (empty when the value is fine), so callers can wrap them
in a field error, an API ``Status`` cause or a selector error exactly as Kubernetes does.

The messages are apimachinery's, word for word: the DNS checks those of
``k8s.io/apimachinery/pkg/util/validation`` ("must be no more than N characters"), the label key and value
checks those of its newer ``api/validate/content`` package ("must be no more than N bytes"). Lengths are
counted in bytes either way, as Go's ``len`` counts them.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "DNS1035_LABEL_MAX",
    "DNS1123_LABEL_MAX",
    "DNS1123_SUBDOMAIN_MAX",
    "GENERATED_SUFFIX_LEN",
    "LABEL_VALUE_MAX",
    "QUALIFIED_NAME_MAX",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_label_value",
    "is_qualified_name",
    "is_valid_percent",
    "mask_trailing_dash",
    "regex_error",
]

DNS1123_LABEL_MAX: Final = 63
DNS1123_SUBDOMAIN_MAX: Final = 253
DNS1035_LABEL_MAX: Final = 63
LABEL_VALUE_MAX: Final = 63
QUALIFIED_NAME_MAX: Final = 63
#: ``generateName`` gets this many random characters appended by the API server.
GENERATED_SUFFIX_LEN: Final = 5

_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT: Final = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT: Final = "(" + _QUALIFIED_NAME_FMT + ")?"
_PERCENT_FMT: Final = "[0-9]+%"

_DNS1123_LABEL_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character"
)
_LABEL_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character"
)
_PERCENT_MSG: Final = "a valid percent string must be a numeric string followed by an ending '%'"


def _full(fmt: str) -> re.Pattern[str]:
    # \Z, not $: "$" would accept a trailing newline, which Go's regexp anchors do not.
    return re.compile("^" + fmt + r"\Z")


_DNS1123_LABEL_RE: Final = _full(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE: Final = _full(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE: Final = _full(_DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE: Final = _full(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE: Final = _full(_LABEL_VALUE_FMT)
_PERCENT_RE: Final = _full(_PERCENT_FMT)


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """apimachinery's ``RegexError`` text, double space after each example but the last included."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _too_long(value: str, limit: int) -> bool:
    return len(value.encode()) > limit


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _max_bytes_error(length: int) -> str:
    return f"must be no more than {length} bytes"


def is_dns1123_label(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 label (namespaces, pod hostnames, container names)."""
    errors = []
    if _too_long(value, DNS1123_LABEL_MAX):
        errors.append(_max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.match(value):
        if _DNS1123_SUBDOMAIN_RE.match(value):
            errors.append("must not contain dots")
        else:
            errors.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 subdomain (most object names, label-key prefixes)."""
    errors = []
    if _too_long(value, DNS1123_SUBDOMAIN_MAX):
        errors.append(_max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errors.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def is_dns1035_label(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1035 label (Service names)."""
    errors = []
    if _too_long(value, DNS1035_LABEL_MAX):
        errors.append(_max_len_error(DNS1035_LABEL_MAX))
    if not _DNS1035_LABEL_RE.match(value):
        errors.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def mask_trailing_dash(prefix: str) -> str:
    """Make a ``generateName`` prefix checkable as a name: random characters will follow its dash."""
    if len(prefix) > 1 and prefix.endswith("-"):
        return prefix[:-2] + "a"
    return prefix


def is_qualified_name(value: str) -> list[str]:
    """Problems with ``value`` as a label or annotation key (``[prefix/]name``); empty when valid."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a valid label key "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif _too_long(name, QUALIFIED_NAME_MAX):
        errors.append("name part " + _max_bytes_error(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_label_value(value: str) -> list[str]:
    """Problems with ``value`` as a label value; empty when valid (the empty string is valid)."""
    errors = []
    if _too_long(value, LABEL_VALUE_MAX):
        errors.append(_max_bytes_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        errors.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def is_valid_percent(value: str) -> list[str]:
    """Problems with ``value`` as an IntOrString percentage such as ``"25%"``."""
    if _PERCENT_RE.match(value):
        return []
    return [regex_error(_PERCENT_MSG, _PERCENT_FMT, "1%", "93%")]
