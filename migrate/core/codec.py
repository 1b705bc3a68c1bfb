"""The one serializer and deserializer of the inventory (YAML and JSON).

Conversion is driven by the dataclass type hints in ``migrate.core.model``: ``to_data`` makes plain
lists/dicts/str/int/float/bool/None (JSON- and YAML-safe), ``from_data`` checks every value
against its declared type (and range: ``model.Range``) and rebuilds the dataclasses. Malformed
documents are refused with a ``CodecError`` naming the place in the document
(``lists[2].owners[0]``) and, for YAML syntax errors, the line.

YAML is read only safely: by ``migrate.core.safeyaml`` (libyaml's C parser, the data built straight
from its events: the same data as PyYAML's ``SafeLoader``, which it hands any explicit tag to;
aliases bounded). Timestamps are written as ISO
8601 strings in UTC (``2026-11-25T10:36:59Z``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import enum
import json
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

from migrate.core import model, safeyaml
from migrate.core import mta as old_mta

T = TypeVar("T")

_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class CodecError(ValueError):
    """A document that is not a valid inventory. ``where`` is the path inside it."""

    def __init__(self, where: str, message: str, line: int | None = None) -> None:
        self.where = where
        self.message = message
        self.line = line
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.where or 'top level'}: {self.message}"

    def prefix(self, segment: str) -> None:
        """Put the enclosing field name (or ``[i]``) in front of the path, as the error rises."""
        if not self.where:
            self.where = segment
        elif self.where.startswith("["):
            self.where = segment + self.where
        else:
            self.where = f"{segment}.{self.where}"
        self.args = (self._text(),)

    def __str__(self) -> str:
        return self._text()


# --- to plain data ----------------------------------------------------------------------------


def to_data(obj: Any) -> Any:
    """Turn a model object into plain, JSON-compatible data (field order kept)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, model.Mta):  # its plugin's part inline, after the common fields
            data.update(data.pop("detail") or {})
        return data
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


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # in the namespace of the class's own module; with the model's ranges (model.Range)
    return typing.get_type_hints(cls, include_extras=True)


def from_data(cls: type[T], data: Any, where: str = "") -> T:
    """Rebuild ``cls`` from plain data, checking every value against the type hints."""
    try:
        return _converter(cls)(data)
    except CodecError as exc:
        if where:
            exc.prefix(where)
        raise


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


# Converters are built once per type from its hints and cached: a large inventory has hundreds
# of thousands of values. Paths for error messages are assembled only when an error travels
# up (CodecError.prefix), never on the way down.


#: Every integer of the model (a count, size, id, port or line) fits in 64 bits; a longer one
#: is refused (a hexadecimal of 5,000 digits loads, and then no one can print it).
_INT_LOW, _INT_HIGH = -(2**63), 2**64 - 1


@functools.cache
def _converter(tp: Any) -> Callable[[Any], Any]:
    if tp is model.Mta:
        return _mta_converter()
    if tp is Any:  # read further by its owner (a plan's actions, by their kind)
        return lambda value: value
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:  # a value with a range besides its type (model.Range)
        convert_base = _converter(typing.get_args(tp)[0])
        ranges = [a for a in tp.__metadata__ if isinstance(a, model.Range)]

        def ranged(value: Any) -> Any:
            value = convert_base(value)
            for allowed in ranges:
                problem = allowed.problem(value)
                if problem is not None:
                    raise CodecError("", f"out of range: {problem}")
            return value
        return ranged
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        (inner,) = [a for a in args if a is not type(None)]
        convert_inner = _converter(inner)
        nullable = type(None) in args

        def optional(value: Any) -> Any:
            if value is None:
                if nullable:
                    return None
                raise CodecError("", "must not be null")
            return convert_inner(value)
        return optional
    if origin is list:
        (item,) = typing.get_args(tp)
        convert_item = _converter(item)

        def listing(value: Any) -> Any:
            if not isinstance(value, list):
                raise CodecError("", f"expected a list, got {_describe(value)}")
            out = []
            for i, v in enumerate(value):
                try:
                    out.append(convert_item(v))
                except CodecError as exc:
                    exc.prefix(f"[{i}]")
                    raise
            return out
        return listing
    if origin is dict:
        _key_tp, val_tp = typing.get_args(tp)
        convert_val = _converter(val_tp)

        def mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                raise CodecError("", f"expected a mapping, got {_describe(value)}")
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise CodecError("", f"keys must be strings, got {_describe(k)}")
                try:
                    out[k] = convert_val(v)
                except CodecError as exc:
                    exc.prefix(k)
                    raise
            return out
        return mapping
    if dataclasses.is_dataclass(tp):
        return _dataclass_converter(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        def enumeration(value: Any) -> Any:
            try:
                return tp(value)
            except ValueError:
                allowed = ", ".join(m.value for m in tp)
                raise CodecError("", f"{value!r} is not one of: {allowed}") from None
        return enumeration
    if tp is dt.datetime:
        return lambda value: _parse_datetime(value, "")
    if tp is bool:
        def boolean(value: Any) -> Any:
            if value is True or value is False:
                return value
            raise CodecError("", f"expected true or false, got {_describe(value)}")
        return boolean
    if tp is int:
        def integer(value: Any) -> Any:
            if type(value) is int and _INT_LOW <= value <= _INT_HIGH:  # the common case
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                if not _INT_LOW <= value <= _INT_HIGH:  # before anything formats it
                    raise CodecError("", "out of range: an integer of more than 64 bits")
                return int(value)
            raise CodecError("", f"expected an integer, got {_describe(value)}")
        return integer
    if tp is float:
        def number(value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CodecError("", f"expected a number, got {_describe(value)}")
            return float(value)
        return number
    if tp is str:
        def string(value: Any) -> Any:
            if type(value) is str:
                return value
            raise CodecError("", f"expected a string, got {_describe(value)}")
        return string
    raise TypeError(f"unsupported type in the model: {tp!r}")  # a programming error


def _dataclass_converter(cls: type) -> Callable[[Any], Any]:
    # The field converters are made on first use: a type can hold itself (AliasTarget.members)
    specs: list[tuple[str, Callable[[Any], Any], bool]] = []
    names: frozenset[str] = frozenset()

    def convert(value: Any) -> Any:
        nonlocal names
        if not specs:
            hints = _hints(cls)
            for f in dataclasses.fields(cls):
                required = (f.default is dataclasses.MISSING
                            and f.default_factory is dataclasses.MISSING)
                specs.append((f.name, _converter(hints[f.name]), required))
            names = frozenset(name for name, _, _ in specs)
        if not isinstance(value, dict):
            raise CodecError("", f"expected a mapping for {cls.__name__}, "
                                 f"got {_describe(value)}")
        if not names.issuperset(value):
            unknown = [k for k in value if k not in names]
            raise CodecError("", f"unknown field {unknown[0]!r} in {cls.__name__}")
        kwargs = {}
        for name, conv, required in specs:
            if name not in value:
                if required:
                    raise CodecError("", f"missing field {name!r} in {cls.__name__}")
                continue
            try:
                kwargs[name] = conv(value[name])
            except CodecError as exc:
                exc.prefix(name)
                raise
        return cls(**kwargs)
    return convert


def _mta_converter() -> Callable[[Any], Any]:
    """``Mta``: the common fields, and the rest as the part its kind's plugin registers
    (migrate/core/mta.py: ``Reader.model``)."""
    common = _dataclass_converter(model.Mta)
    names = {f.name for f in dataclasses.fields(model.Mta)} - {"detail"}

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            return common(value)
        mta = common({k: v for k, v in value.items() if k in names})
        rest = {k: v for k, v in value.items() if k not in names}
        plugin = old_mta.lookup(mta.kind)
        if plugin is not None and plugin.reader.model is not None:
            mta.detail = _converter(plugin.reader.model)(rest)
        elif rest:
            raise CodecError("", f"unknown field {next(iter(rest))!r} in Mta"
                             + (f" (no plugin reads the MTA kind {mta.kind!r})"
                                if mta.kind else ""))
        return mta
    return convert


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


#: the first words of a YAML inventory's first line, and its last line: a copy cut short
#: anywhere (a full disk, an interrupted transfer) still parses as YAML, but has no trailer
HEADER_START = "# migrate inventory, schema "
TRAILER = "# end of the migrate inventory\n"


def dump_yaml(inv: model.Inventory) -> str:
    # The header and trailer are fixed text: values from the inspected host never go into a
    # YAML comment.
    header = (f"{HEADER_START}{model.SCHEMA_VERSION}. "
              "Review it; `migrate plan` reads it.\n")
    data = inventory_to_data(inv)
    options = dict(Dumper=_SafeDumper, sort_keys=False, default_flow_style=False, width=100)
    body = yaml.dump(data, allow_unicode=True, **options)
    if not _shows_as_is(body):  # YAML writes a bidi override or a soft hyphen as it is
        body = yaml.dump(data, allow_unicode=False, **options)
    return header + body + TRAILER


def _shows_as_is(text: str) -> bool:
    """Whether ``text`` (an inventory as YAML or JSON) holds only characters that show as
    they are: else it is written again with every character beyond ASCII escaped (the same
    data), so that neither a terminal (``inspect --json``, ``-o -``) nor an editor acts on
    one (a C1 control, a bidirectional override) from the inspected host."""
    return text.replace("\n", "").replace("\t", "").isprintable()


def load_yaml(text: str) -> model.Inventory:
    if text.startswith(HEADER_START) and not text.endswith(TRAILER):
        raise CodecError("", "truncated: the inventory does not end with its last line "
                         f"({TRAILER.strip()!r}); the copy was cut short",
                         line=text.count("\n") + 1)
    with safeyaml.no_gc():  # a large inventory is a million acyclic objects
        try:
            data = safeyaml.load(text)
        except yaml.YAMLError as exc:
            message, line = safeyaml.error_line(exc)
            raise CodecError("", message, line=line) from None
        return inventory_from_data(data)


def dump_json(inv: model.Inventory, indent: int | None = 2) -> str:
    data = inventory_to_data(inv)
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return text if _shows_as_is(text) else json.dumps(data, indent=indent)


def load_json(text: str) -> model.Inventory:
    """An inventory from JSON, nested no deeper than a YAML one may be (``safeyaml.MAX_DEPTH``):
    the codec, the guard and the emitters recurse over what they read."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CodecError("", f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise CodecError("", f"not valid JSON: {str(exc).split(';')[0]}") from None
    except RecursionError:  # deeper than the interpreter recurses (about a thousand)
        raise CodecError("", f"lists and objects nest more than {safeyaml.MAX_DEPTH} "
                         "deep") from None
    where = _too_deep(data, safeyaml.MAX_DEPTH)
    if where is not None:
        raise CodecError(where, f"lists and objects nest more than {safeyaml.MAX_DEPTH} deep "
                         "below here")
    return inventory_from_data(data)


def _too_deep(data: Any, limit: int, shown: int = 4) -> str | None:
    """The path (its first ``shown`` steps) to the first list or mapping in ``data`` that
    nests deeper than ``limit``, or None."""
    stack: list[tuple[Any, int, Any]] = [(data, 1, None)]
    while stack:
        value, depth, trail = stack.pop()
        if depth > limit:
            steps: list[str] = []
            while trail is not None:
                trail, step = trail
                steps.append(step)
            steps.reverse()
            return "".join(steps[:shown]).lstrip(".")
        if value.__class__ is dict:
            stack.extend((v, depth + 1, (trail, f".{k}")) for k, v in value.items()
                         if v.__class__ is dict or v.__class__ is list)
        elif value.__class__ is list:
            stack.extend((v, depth + 1, (trail, f"[{i}]")) for i, v in enumerate(value)
                         if v.__class__ is dict or v.__class__ is list)
    return None
