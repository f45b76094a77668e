"""Reading manifests: YAML or JSON, one or many documents, from a file, a directory or stdin text.

Parsing follows what ``kubectl`` does with the same file, so a manifest that loads here loads there:

* YAML 1.1 as ``sigs.k8s.io/yaml`` reads it, except that dates stay strings (``2024-01-01`` is not a
  timestamp in a Kubernetes object) and a key written twice in one mapping is an error, not a silent
  overwrite;
* mapping keys that are not strings (``1:``, ``true:``) become strings, as in the JSON the server receives;
* empty documents are skipped, and ``kind: List`` (or any ``*List`` with ``items``) is unwrapped;
* values JSON cannot carry (``.nan``, ``!!binary``, ``!!set``...) are errors.

Documents are then sorted into LeaderWorkerSets, DisaggregatedSets and other objects. Nothing here raises
on bad input: every problem is a :class:`LoadError` with a location.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lws.api import constants as c
from lws.api.disaggregated import constants as ds_constants
from lws.api.errors import FieldError
from lws.k8s.json_types import format_path, too_deep_in_text

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "<stdin>"


# --- results -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One object read from a source.

    :ivar source: the file it came from (``<stdin>`` for standard input).
    :ivar index: its 1-based position among the source's documents.
    :ivar line: the line its document starts on, when known.
    :ivar item: its 1-based position inside a ``List`` document, if it came from one.
    :ivar body: the object.
    """

    source: str
    index: int
    line: int | None
    body: Mapping[str, Any]
    item: int | None = None

    @property
    def kind(self) -> str:
        return _text(self.body.get("kind"))

    @property
    def api_version(self) -> str:
        return _text(self.body.get("apiVersion"))

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata")
        if not isinstance(metadata, Mapping):
            return ""
        return _text(metadata.get("name")) or _text(metadata.get("generateName"))

    @property
    def namespace(self) -> str:
        metadata = self.body.get("metadata")
        return _text(metadata.get("namespace")) if isinstance(metadata, Mapping) else ""

    @property
    def label(self) -> str:
        """``document 2`` or ``document 2, item 3``."""
        return f"document {self.index}" if self.item is None else f"document {self.index}, item {self.item}"

    @property
    def where(self) -> str:
        """``document 2 (line 14)`` or ``document 2, item 3 (line 14)``."""
        return self.label if self.line is None else f"{self.label} (line {self.line})"

    def describe(self, default_namespace: str = "default") -> str:
        """``LeaderWorkerSet default/my-lws``, as messages about the object name it."""
        name = self.name or "(unnamed)"
        namespace = self.namespace or default_namespace
        return f"{self.kind or '(no kind)'} {namespace}/{name}"


@dataclass(frozen=True)
class LoadError:
    """A problem reading a source, with its location when known."""

    source: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        location = self.source
        if self.line is not None:
            location += f":{self.line}"
            if self.column is not None:
                location += f":{self.column}"
        return f"{location}: {self.message}" if location else self.message

    @classmethod
    def unreadable(cls, path: str, exc: BaseException) -> LoadError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return cls("", f"cannot read {path}: {reason}")


@dataclass
class Manifests:
    """What a source holds: LeaderWorkerSets, DisaggregatedSets, other objects, and the problems found."""

    leaderworkersets: list[Document] = field(default_factory=list)
    others: list[Document] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    disaggregatedsets: list[Document] = field(default_factory=list)

    def extend(self, more: Manifests) -> None:
        self.leaderworkersets.extend(more.leaderworkersets)
        self.disaggregatedsets.extend(more.disaggregatedsets)
        self.others.extend(more.others)
        self.errors.extend(more.errors)


# --- entry points ------------------------------------------------------------------------------------------


def load_text(text: str, source: str = STDIN) -> Manifests:
    """Parse and sort every document in ``text``; ``source`` names it in messages."""
    found = Manifests()
    for index, line, body in _documents(text, source, found.errors):
        _sort(source, index, line, body, found)
    return found


def load_path(path: str | Path) -> Manifests:
    """Read a manifest file, or every ``.yaml``/``.yml``/``.json`` file of a directory (not recursive)."""
    found = Manifests()
    target = Path(path)
    try:
        files = (
            sorted(p for p in target.iterdir() if p.suffix in MANIFEST_SUFFIXES)
            if target.is_dir()
            else [target]
        )
    except OSError as exc:
        found.errors.append(LoadError.unreadable(str(path), exc))
        return found
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            found.errors.append(LoadError.unreadable(str(file), exc))
            continue
        found.extend(load_text(text, str(file)))
    return found


# --- sorting -----------------------------------------------------------------------------------------------


def is_list_kind(body: Mapping[str, Any]) -> bool:
    """``kind: List`` or any ``<Kind>List`` carrying ``items``, which ``kubectl`` unwraps."""
    kind = body.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(body.get("items"), list)


def _sort(source: str, index: int, line: int | None, body: Any, found: Manifests) -> None:
    if not isinstance(body, Mapping):
        found.errors.append(LoadError(source, f"document {index}: {_not_an_object(body)}", line))
        return
    doc = Document(source, index, line, body)
    if not is_list_kind(body):
        _classify(doc, found)
        return
    for number, item in enumerate(body["items"], start=1):
        if isinstance(item, Mapping):
            _classify(Document(source, index, line, item, item=number), found)
        else:
            found.errors.append(LoadError(source, f"{doc.where}, item {number}: {_not_an_object(item)}"))


def _not_an_object(value: Any) -> str:
    return f"expected a Kubernetes object (a mapping with apiVersion and kind), found {_json_type(value)}"


def _classify(doc: Document, found: Manifests) -> None:
    missing = [
        f for f in ("apiVersion", "kind") if not isinstance(doc.body.get(f), str) or not doc.body.get(f)
    ]
    if missing:
        found.errors.append(
            LoadError(
                doc.source,
                f"{doc.label}: {' and '.join(missing)} not set: every Kubernetes object needs "
                f"apiVersion and kind",
                doc.line,
            )
        )
        return
    if doc.kind == c.KIND:
        api_version, into = c.API_VERSION, found.leaderworkersets
    elif doc.kind == ds_constants.KIND:
        api_version, into = ds_constants.API_VERSION, found.disaggregatedsets
    else:
        found.others.append(doc)
        return
    if doc.api_version != api_version:
        error = FieldError(
            "apiVersion", f'supported values: "{api_version}"', type="NotSupported", value=doc.api_version
        )
        found.errors.append(LoadError(doc.source, f"{doc.describe()}: {error}", doc.line))
        return
    into.append(doc)


# --- parsing -----------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader as kubectl reads YAML: no timestamps, string keys, and duplicate keys as errors."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Keys become JSON's string keys here, before Python could merge 1 and true into one dict key.
        explicit = {id(pair) for pair in node.value}
        self.flatten_mapping(node)  # resolves YAML merge keys (<<)
        mapping: dict[str, Any] = {}
        seen: set[str] = set()
        for pair in node.value:
            key_node, value_node = pair
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict | set):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found unhashable key",
                    key_node.start_mark,
                )
            try:
                text = _key_text(key, "")
            except _NotJSON:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found a {type(key).__name__} key: JSON keys are strings",
                    key_node.start_mark,
                ) from None
            # Keys merged in with << may be overridden; keys written twice may not.
            if id(pair) in explicit:
                if text in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value!r}: each key may appear once in a mapping",
                        key_node.start_mark,
                    )
                seen.add(text)
            mapping[text] = self.construct_object(value_node, deep=deep)
        return mapping


def _documents(text: str, source: str, errors: list[LoadError]) -> Iterator[tuple[int, int | None, Any]]:
    """Yield (index, first line, value) for every non-empty document; syntax errors go to ``errors``."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        deep = too_deep_in_text(text, c.MAX_NESTING)
        if deep is not None:
            # Refused before parsing: a parser recurses, and no manifest of ours nests anywhere near this.
            errors.append(
                LoadError(
                    source,
                    f"{format_path(deep) or '(root)'}: nests more than {c.MAX_NESTING} objects and arrays "
                    "deep; no LeaderWorkerSet field goes that deep: remove what is nested under it",
                )
            )
            return
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            pass  # maybe YAML flow style, such as {a: b}: let the YAML parser judge
        else:
            yield from _checked(1, 1, value, source, errors)
            return
    index = 0
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                continue
            value = loader.construct_document(node)
            yield from _checked(index, node.start_mark.line + 1, value, source, errors)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(p for p in (exc.context, exc.problem) if p)
        errors.append(
            LoadError(
                source,
                f"invalid YAML: {problem or exc}",
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
            )
        )
    except yaml.reader.ReaderError as exc:
        errors.append(
            LoadError(
                source,
                f"invalid YAML: {exc.reason}: character #x{exc.character:04x} at offset {exc.position}",
            )
        )
    except RecursionError:
        errors.append(LoadError(source, "invalid YAML: nested too deeply to read"))
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        errors.append(LoadError(source, " ".join(f"invalid YAML: {type(exc).__name__}: {exc}".split())))
    finally:
        if loader is not None:
            loader.dispose()


def _checked(
    index: int, line: int | None, value: Any, source: str, errors: list[LoadError]
) -> Iterator[tuple[int, int | None, Any]]:
    if value is None:
        return
    try:
        yield index, line, _as_json(value)
    except _NotJSON as exc:
        errors.append(LoadError(source, f"document {index}: {exc}", line))


class _NotJSON(ValueError):
    pass


def _as_json(value: Any) -> Any:
    """``value`` as the JSON the API server would receive: string keys, JSON types only.

    Iterative, so that deeply nested input cannot exhaust the stack.
    """
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, str]] = [(value, root, 0, "")]
    while stack:
        item, parent, slot, path = stack.pop()
        if isinstance(item, dict):
            converted: dict[str, Any] = {}
            parent[slot] = converted
            for key, child in item.items():
                text = _key_text(key, path)
                converted[text] = None
                stack.append((child, converted, text, f"{path}.{text}" if path else text))
        elif isinstance(item, list):
            items: list[Any] = [None] * len(item)
            parent[slot] = items
            for i, child in enumerate(item):
                stack.append((child, items, i, f"{path}[{i}]"))
        elif isinstance(item, float) and not math.isfinite(item):
            raise _NotJSON(f"{path or 'value'}: {item} is not a number JSON can carry")
        elif item is None or isinstance(item, str | int | float | bool):
            parent[slot] = item
        else:
            raise _NotJSON(f"{path or 'value'}: a {type(item).__name__} value is not JSON data")
    return root[0]


def _key_text(key: Any, path: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return str(key)
    raise _NotJSON(f"{path or 'value'}: a {type(key).__name__} cannot be a mapping key")


def _json_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else f"a {type(value).__name__}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
