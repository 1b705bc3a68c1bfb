"""The one serializer and deserializer of the inventory (YAML and JSON).

Conversion is driven by the dataclass type hints in ``migrate.model``: ``to_data`` makes plain
lists/dicts/str/int/float/bool/None (JSON- and YAML-safe), ``from_data`` checks every value
against its declared type and rebuilds the dataclasses. Malformed documents are refused with a
``CodecError`` naming the place in the document (``lists[2].owners[0]``) and, for YAML syntax
errors, the line.

YAML is read only with PyYAML's safe loader (the C implementation of ``yaml.safe_load`` where
available: same safe constructors, faster on big inventories). Timestamps are written as ISO
8601 strings in UTC (``2026-11-25T10:36:59Z``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

import yaml

from migrate import model

T = TypeVar("T")

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class CodecError(ValueError):
    """A document that is not a valid inventory. ``where`` is the path inside it."""

    def __init__(self, where: str, message: str, line: int | None = None) -> None:
        self.where = where
        self.message = message
        self.line = line
        at = where or "top level"
        super().__init__(f"{at}: {message}")


# --- to plain data ----------------------------------------------------------------------------


def to_data(obj: Any) -> Any:
    """Turn a model object into plain, JSON-compatible data (field order kept)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dt.datetime):
        return _format_datetime(obj)
    if isinstance(obj, list):
        return [to_data(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    return obj


def _format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} in the model: parsers must give UTC times")
    value = value.astimezone(dt.timezone.utc)
    text = value.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


# --- from plain data --------------------------------------------------------------------------


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


def from_data(cls: type[T], data: Any, where: str = "") -> T:
    """Rebuild ``cls`` from plain data, checking every value against the type hints."""
    return _convert(cls, data, where)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise CodecError(where, "must not be null")
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise CodecError(where, f"expected a list, got {_describe(value)}")
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise CodecError(where, f"expected a mapping, got {_describe(value)}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CodecError(where, f"keys must be strings, got {_describe(k)}")
            out[k] = _convert(val_tp, v, f"{where}.{k}" if where else k)
        return out
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(m.value for m in tp)
            raise CodecError(where, f"{value!r} is not one of: {allowed}") from None
    if tp is dt.datetime:
        return _parse_datetime(value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise CodecError(where, f"expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CodecError(where, f"expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CodecError(where, f"expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise CodecError(where, f"expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported type in the model: {tp!r}")  # a programming error


def _convert_dataclass(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise CodecError(where, f"expected a mapping for {cls.__name__}, got {_describe(value)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in value if k not in fields]
    if unknown:
        raise CodecError(where, f"unknown field {unknown[0]!r} in {cls.__name__}")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{where}.{name}" if where else name
        if name not in value:
            no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if no_default:
                raise CodecError(where, f"missing field {name!r} in {cls.__name__}")
            continue
        kwargs[name] = _convert(hints[name], value[name], sub)
    return cls(**kwargs)


def _parse_datetime(value: Any, where: str) -> dt.datetime:
    if isinstance(value, dt.datetime):  # a hand-edited file with an unquoted timestamp
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise CodecError(where, f"{value!r} is not an ISO 8601 timestamp") from None
    else:
        raise CodecError(where, f"expected a timestamp, got {_describe(value)}")
    if parsed.tzinfo is None:
        raise CodecError(where, f"timestamp {value!r} has no time zone (write it in UTC, ending in Z)")
    return parsed.astimezone(dt.timezone.utc)


# --- the inventory as a document ----------------------------------------------------------------


def inventory_to_data(inv: model.Inventory) -> dict[str, Any]:
    return to_data(inv)


def inventory_from_data(data: Any) -> model.Inventory:
    if not isinstance(data, dict):
        raise CodecError("", f"an inventory is a mapping, this document is {_describe(data)}")
    version = data.get("schema_version")
    if version is None:
        raise CodecError("", "no schema_version: this is not a migrate inventory")
    if version != model.SCHEMA_VERSION:
        raise CodecError(
            "schema_version",
            f"unknown schema_version {version!r}; this migrate reads version "
            f"{model.SCHEMA_VERSION}: run `migrate inspect` again with this version",
        )
    return from_data(model.Inventory, data)


def dump_yaml(inv: model.Inventory) -> str:
    # The header is fixed text: values from the inspected host never go into a YAML comment.
    header = (f"# migrate inventory, schema {model.SCHEMA_VERSION}. "
              "Review it; `migrate plan` reads it.\n")
    body = yaml.dump(
        inventory_to_data(inv), Dumper=_SafeDumper, sort_keys=False, allow_unicode=True,
        default_flow_style=False, width=100,
    )
    return header + body


def load_yaml(text: str) -> model.Inventory:
    try:
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - the safe loader, see module doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise CodecError("", f"not valid YAML: {exc.problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise CodecError("", f"not valid YAML: {exc}") from None
    return inventory_from_data(data)


def dump_json(inv: model.Inventory, indent: int | None = 2) -> str:
    return json.dumps(inventory_to_data(inv), indent=indent, ensure_ascii=False)


def load_json(text: str) -> model.Inventory:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CodecError("", f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    return inventory_from_data(data)
