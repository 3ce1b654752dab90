"""OpenAI attribute filters, turned into what ragkit's retrieval can push down.

A filter is a comparison (``{"key", "type": eq|ne|gt|gte|lt|lte|in|nin, "value"}``) or a compound
(``{"type": and|or, "filters": [...]}``). Keys are a file's attributes plus three built-ins:
``filename``, ``type`` (the extension, e.g. ``pdf``) and ``file_id``, which are properties of
a whole file, and ``page``, which is a property of each chunk.

Retrieval can only restrict by file path and page range, so a filter becomes
(:meth:`Plan.build`):

1. the set of files that might match: the filter evaluated per file with every ``page``
   comparison *unknown* (three-valued logic), so a file is excluded only when no page could make
   the filter true;
2. a page range when the filter is a conjunction with page bounds at its top level;
3. an exact check of every hit afterwards (:meth:`Plan.keep`), needed when page comparisons
   could not all be pushed down (``ne``, ``in``, ``nin``, or under ``or``); then the caller
   retrieves more candidates (:attr:`Plan.post_filter`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragkit.errors import InvalidParameter

Scalar = Union[str, float, bool]
CHUNK_KEYS = {"page"}
#: no document has more pages: page bounds beyond it are clamped to it
PAGE_LIMIT = 2**31 - 1


class Comparison(BaseModel):
    # NaN and infinities compare with nothing and cannot bound a page range
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    key: str = Field(min_length=1, max_length=64)
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    value: bool | int | float | str | list[int | float | str]


class Compound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["and", "or"]
    filters: list[Comparison | Compound] = Field(min_length=1)


Compound.model_rebuild()
Filter = Union[Comparison, Compound]


def parse(raw: Any, param: str = "filters") -> Filter | None:
    """Validate a filter; anything malformed is an :class:`InvalidParameter` naming ``param``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParameter("filters must be an object: a comparison or an and/or compound filter", param)
    try:
        parsed: Filter = Compound.model_validate(raw) if raw.get("type") in ("and", "or") \
            else Comparison.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidParameter(f"Invalid filter{(' at ' + where) if where else ''}: {first['msg']}", param) from None
    _check(parsed, param)
    return parsed


def _check(node: Filter, param: str) -> None:
    if isinstance(node, Compound):
        for child in node.filters:
            _check(child, param)
        return
    listed = isinstance(node.value, list)
    if node.type in ("in", "nin") and not listed:
        raise InvalidParameter(f"filter on {node.key!r}: '{node.type}' needs a list value", param)
    if node.type not in ("in", "nin") and listed:
        raise InvalidParameter(f"filter on {node.key!r}: '{node.type}' needs a single value, not a list", param)
    if node.type in ("gt", "gte", "lt", "lte") and isinstance(node.value, bool):
        raise InvalidParameter(f"filter on {node.key!r}: '{node.type}' compares numbers or strings, not booleans", param)
    if node.key in CHUNK_KEYS and node.type in ("gt", "gte", "lt", "lte", "eq", "ne") \
            and not isinstance(node.value, (int, float)):
        raise InvalidParameter(f"filter on 'page' needs a number, not {node.value!r}", param)


def _same_kind(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (isinstance(a, str) and isinstance(b, str))


def compare(node: Comparison, present: bool, actual: Any) -> bool:
    """One comparison against a value. A missing key matches only ``ne`` and ``nin``."""
    if not present:
        return node.type in ("ne", "nin")
    value = node.value
    if node.type in ("in", "nin"):
        inside = any(_same_kind(actual, v) and actual == v for v in value)  # type: ignore[union-attr]
        return inside if node.type == "in" else not inside
    if node.type == "eq":
        return _same_kind(actual, value) and actual == value
    if node.type == "ne":
        return not (_same_kind(actual, value) and actual == value)
    if not _same_kind(actual, value):
        return False
    return {"gt": actual > value, "gte": actual >= value, "lt": actual < value, "lte": actual <= value}[node.type]


def evaluate(node: Filter, fields: dict[str, Any], unknown: frozenset[str] = frozenset()) -> bool | None:
    """Three-valued evaluation: None when the result depends on a key in ``unknown``."""
    if isinstance(node, Comparison):
        if node.key in unknown:
            return None
        return compare(node, node.key in fields and fields[node.key] is not None, fields.get(node.key))
    results = [evaluate(child, fields, unknown) for child in node.filters]
    if node.type == "and":
        return False if False in results else (None if None in results else True)
    return True if True in results else (None if None in results else False)


def file_fields(row: dict[str, Any], attributes: dict[str, Any] | None) -> dict[str, Any]:
    """The keys a filter may use for one file: its attributes, then the built-ins."""
    name = row["filename"]
    dot = name.rfind(".")
    return dict(attributes or {}) | {"filename": name, "file_id": row["file_id"],
                                     "type": name[dot + 1:].lower() if dot >= 0 else ""}


def _page_bounds(node: Filter) -> tuple[int | None, int | None, bool]:
    """Page range implied by the top-level ``and`` terms, and whether it says all the filter
    says about pages (then retrieval applies it and no extra candidates are needed)."""
    terms = node.filters if isinstance(node, Compound) and node.type == "and" else [node]
    low: int | None = None
    high: int | None = None
    exact = True
    for term in terms:
        if not _mentions_page(term):
            continue
        if not isinstance(term, Comparison) or term.type not in ("eq", "gt", "gte", "lt", "lte"):
            exact = False
            continue
        # clamped to pages that can exist: a bound past any document (1e308, 2**70) selects
        # nothing or everything; unclamped it overflowed the index's 64-bit page field (and an
        # integer of 400 digits, float())
        v = float(min(max(term.value, -PAGE_LIMIT), PAGE_LIMIT))  # type: ignore[type-var]
        lo = {"eq": math.ceil(v), "gte": math.ceil(v), "gt": math.floor(v) + 1}.get(term.type)
        hi = {"eq": math.floor(v), "lte": math.floor(v), "lt": math.ceil(v) - 1}.get(term.type)
        if lo is not None:
            low = lo if low is None else max(low, lo)
        if hi is not None:
            high = hi if high is None else min(high, hi)
    return low, high, exact


def _mentions_page(node: Filter) -> bool:
    if isinstance(node, Comparison):
        return node.key in CHUNK_KEYS
    return any(_mentions_page(child) for child in node.filters)


@dataclass(frozen=True)
class Plan:
    """What one filter means for one vector store's retrieval."""

    paths: tuple[str, ...] | None  # None: no restriction by file
    page_min: int | None
    page_max: int | None
    post_filter: bool
    node: Filter | None
    fields_by_path: dict[str, dict[str, Any]]

    @classmethod
    def build(cls, node: Filter | None, files: list[dict[str, Any]]) -> Plan:
        """``files``: the store's completed files (rows with path, filename, file_id, attributes)."""
        fields_by_path = {f["path"]: file_fields(f, json.loads(f["attributes"]) if f.get("attributes") else None)
                          for f in files}
        if node is None:
            return cls(None, None, None, False, None, fields_by_path)
        unknown = frozenset(CHUNK_KEYS)
        allowed = tuple(sorted(p for p, fields in fields_by_path.items()
                               if evaluate(node, fields, unknown) is not False))
        low, high, exact = _page_bounds(node)
        post = _mentions_page(node) and not exact
        return cls(allowed, low, high, post, node, fields_by_path)

    def keep(self, path: str, page: int | None) -> bool:
        """The exact check of one hit (its file's fields plus the chunk's page)."""
        if self.node is None:
            return True
        fields = dict(self.fields_by_path.get(path, {}))
        if page is not None:
            fields["page"] = page
        return evaluate(self.node, fields) is True

    @property
    def empty(self) -> bool:
        return self.paths is not None and not self.paths

