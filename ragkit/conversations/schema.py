"""The part of JSON Schema that tool parameters use, checked without a dependency.

A model's tool call is untrusted input: its arguments are checked against the same schema the
model was shown, and every problem is reported back to the model in words it can act on
("filters.page_min: must be an integer >= 1"). Supported keywords: type (object, string,
integer, number, boolean, array, null, or a list of these), properties, required,
additionalProperties (false), items, enum, minLength, maxLength, minimum, maximum.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False  # JSON true is not 1
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def validate(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``"path: problem"`` lines; empty when it is valid."""
    where = path or "arguments"
    kinds = schema.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is(value, k) for k in allowed):
            return [f"{where}: must be {' or '.join(allowed)}, not {_json_type(value)}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: must be one of {', '.join(map(repr, schema['enum']))}")
    if isinstance(value, str):
        if len(value.strip()) < schema.get("minLength", 0):
            problems.append(f"{where}: must not be empty" if schema["minLength"] == 1
                            else f"{where}: must be at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: must be at most {schema['maxLength']} characters")
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: must be <= {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{_join(path, name)}: required")
        for name, item in value.items():
            if name in properties:
                problems.extend(validate(item, properties[name], _join(path, name)))
            elif schema.get("additionalProperties", True) is False:
                problems.append(f"{_join(path, name)}: unknown argument (allowed: {', '.join(properties) or 'none'})")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems.extend(validate(item, schema["items"], f"{where}[{i}]"))
    return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, name):
            return name
    return type(value).__name__
