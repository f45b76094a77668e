"""``limit``/``continue`` pagination: the opaque continue token and page slicing.

As in Kubernetes, every page of one list is served from the same snapshot (the resourceVersion of the
first page), so a paginated list is consistent even while objects change. A token whose snapshot has
left the retained history answers ``410 Expired``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lws.sim.errors import bad_request
from lws.sim.store import key_of


@dataclass(frozen=True)
class ContinueToken:
    """Where the next page starts: after ``start_after`` in the snapshot taken at ``rv``."""

    rv: int
    start_after: tuple[str, str]

    def encode(self) -> str:
        """The opaque string sent as ``metadata.continue``."""
        raw = json.dumps({"v": "lws.sim/1", "rv": self.rv, "after": list(self.start_after)})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ContinueToken:
        """Parse a token made by :meth:`encode`; a foreign or damaged one is a 400."""
        try:
            padded = text + "=" * (-len(text) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            rv = int(data["rv"])
            namespace, name = data["after"]
            if data.get("v") != "lws.sim/1" or not isinstance(namespace, str) or not isinstance(name, str):
                raise ValueError("unknown token version")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise bad_request(
                f"continue key is not valid: {exc}; "
                "pass back the metadata.continue of the previous page unchanged"
            ) from exc
        return cls(rv, (namespace, name))


def page(
    items: Sequence[dict[str, Any]], *, limit: int | None, rv: int, start_after: tuple[str, str] | None
) -> tuple[list[dict[str, Any]], str | None, int | None]:
    """One page of ``items`` (sorted by key): the page, the next continue token, and how many remain."""
    start = 0
    if start_after is not None:
        # Items are sorted by (namespace, name); find the first one after the token's key.
        low, high = 0, len(items)
        while low < high:
            middle = (low + high) // 2
            if key_of(items[middle]) <= start_after:
                low = middle + 1
            else:
                high = middle
        start = low
    if limit is None or limit <= 0 or start + limit >= len(items):
        return list(items[start:]), None, None
    chosen = list(items[start : start + limit])
    remaining = len(items) - start - limit
    return chosen, ContinueToken(rv, key_of(chosen[-1])).encode(), remaining


def check_limit(limit: int | None) -> None:
    """Reject a negative limit as Kubernetes does."""
    if limit is not None and limit < 0:
        raise bad_request(f"limit must be a non-negative integer, got {limit}")
