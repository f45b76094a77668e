"""Kubernetes name rules, and the name budget of a LeaderWorkerSet.

The format checks return apimachinery's messages word for word (``k8s.io/apimachinery/pkg/util/validation``),
so users see what ``kubectl`` would show them.

The name budget goes beyond upstream (issue #410): a LeaderWorkerSet's name is the prefix of every object it
derives (StatefulSets, pods, Services) and of labels the StatefulSet controller puts on pods, all limited to
63 characters. Upstream admits names that break those limits, and the pods then silently fail to appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from lws.api import constants as c

DNS1123_LABEL_MAX: Final = 63
DNS1123_SUBDOMAIN_MAX: Final = 253
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
    """apimachinery's ``RegexError`` text, double space after the first example included."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def is_dns1123_label(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 label (namespaces, pod hostnames); empty when valid."""
    errors = []
    if len(value) > DNS1123_LABEL_MAX:
        errors.append(max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.match(value):
        if _DNS1123_SUBDOMAIN_RE.match(value):
            errors.append("must not contain dots")
        else:
            errors.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 subdomain (most object names); empty when valid."""
    errors = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errors.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def is_dns1035_label(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1035 label (Service names, hence LeaderWorkerSet names)."""
    errors = []
    if len(value) > c.DNS1035_LABEL_MAX:
        errors.append(max_len_error(c.DNS1035_LABEL_MAX))
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
    elif len(name) > QUALIFIED_NAME_MAX:
        errors.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_label_value(value: str) -> list[str]:
    """Problems with ``value`` as a label value; empty when valid (the empty string is valid)."""
    errors = []
    if len(value) > LABEL_VALUE_MAX:
        errors.append(max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.match(value):
        errors.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def is_valid_percent(value: str) -> list[str]:
    """Problems with ``value`` as an IntOrString percentage such as ``"25%"``."""
    if _PERCENT_RE.match(value):
        return []
    return [regex_error(_PERCENT_MSG, _PERCENT_FMT, "1%", "93%")]


# --- the name budget ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameBudget:
    """The longest LeaderWorkerSet name whose derived objects all fit Kubernetes' limits.

    :ivar max_length: the longest allowed name.
    :ivar reason: which derived name or label sets the limit, written with ``<name>`` for the set's name.
    """

    max_length: int
    reason: str


def _digits(n: int) -> int:
    return len(str(n))


def name_budget(
    *, highest_group_index: int, size: int, subdomain_policy: str = c.SUBDOMAIN_SHARED
) -> NameBudget:
    """The name budget for a set whose groups go up to ``highest_group_index`` and have ``size`` pods each.

    Every limit is 63 characters; the tightest one wins (ties go to the first listed, the most common cause):

    * the worker StatefulSet ``<name>-<i>`` labels its pods ``controller-revision-hash: <name>-<i>-<hash>``,
      where the hash has up to 10 characters (upstream issue #410);
    * worker pods ``<name>-<i>-<j>`` are DNS labels (their hostnames);
    * the leader StatefulSet ``<name>`` labels its pods ``controller-revision-hash: <name>-<hash>``;
    * leader pods ``<name>-<i>`` are DNS labels, and so are per-replica Services of that name.

    There is no worker StatefulSet when ``size`` is 1, so only the leader limits apply then.
    """
    limit = c.DNS1035_LABEL_MAX
    hash_len = c.STS_REVISION_HASH_MAX_LEN
    index = max(highest_group_index, 0)
    d = _digits(index)
    hash_label = f"which Kubernetes limits to {limit} characters (upstream issue #410)"
    candidates: list[NameBudget] = []
    if size > 1:
        candidates.append(
            NameBudget(
                limit - 1 - d - 1 - hash_len,
                f'the worker StatefulSet "<name>-{index}" labels its pods controller-revision-hash '
                f'"<name>-{index}-<hash>", {hash_label}',
            )
        )
        last_worker = size - 1
        candidates.append(
            NameBudget(
                limit - 1 - d - 1 - _digits(last_worker),
                f'the worker pod "<name>-{index}-{last_worker}" must be a DNS label '
                f"of at most {limit} characters",
            )
        )
    candidates.append(
        NameBudget(
            limit - 1 - hash_len,
            f'the leader StatefulSet "<name>" labels its pods controller-revision-hash "<name>-<hash>", '
            f"{hash_label}",
        )
    )
    if subdomain_policy == c.SUBDOMAIN_UNIQUE_PER_REPLICA:
        what = f'the leader pod "<name>-{index}" and its Service "<name>-{index}" must be DNS labels'
    else:
        what = f'the leader pod "<name>-{index}" must be a DNS label'
    candidates.append(NameBudget(limit - 1 - d, f"{what} of at most {limit} characters"))
    return min(candidates, key=lambda b: b.max_length)
