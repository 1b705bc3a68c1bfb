"""A lean safe YAML loader: libyaml's C parser, plain Python data built straight from its events.

``load(text)`` gives exactly what ``yaml.load(text, Loader=yaml.SafeLoader)`` gives for the
documents migrate writes and for hand-edited ones (mappings, sequences, plain and quoted
scalars, anchors and aliases), several times faster on a large inventory: PyYAML's loaders
first build a node object per value, resolve each scalar through a list of regular expressions
and then construct the data from the nodes, all in Python.

Here the events of ``yaml.CParser`` are folded into dicts and lists as they come. A plain
scalar is resolved once per distinct text, through SafeLoader's own implicit resolvers
(YAML 1.1: ``yes``/``no``/``on``/``off``, ``~``, ``0x1F``, ``1e3``, ``.inf``, timestamps, ...)
and constructed by SafeLoader's own constructors, so the types cannot drift from PyYAML's.
Anything else (an explicit tag such as ``!!python/object`` or ``!!binary``, a merge key
``<<``, a complex key, a duplicate or undefined anchor, a second document) sends the whole text
to PyYAML's safe loader (C where available), which constructs what it allows and refuses the
rest with its usual error.

Four things are refused here that SafeLoader would build: a key that a mapping already holds
(SafeLoader keeps the last value: a second ``command:`` in a reviewed plan, or a second
``hostname:`` in a hand-edited inventory, would silently replace the first; migrate never
writes one, so every document it reads refuses it, with the key's path and line), an alias
that refers to the node it sits in (a recursive document: nothing in an inventory is
recursive), and aliases that would expand the document by more than ``MAX_ALIAS_VALUES``
values (the "billion laughs" attack: the data is shared, but every reader that walks it, the
codec first, would see all of it). They raise ``yaml.constructor.ConstructorError`` with the
line, once the whole document has parsed (a syntax error comes first, as with PyYAML; the
expansion is counted, not made, so a bomb costs no memory). A document that goes to PyYAML
refuses a duplicate key too (``_UniqueKeys``). And nesting deeper than ``MAX_DEPTH``, refused
at once with its line: PyYAML's loaders (and every reader after them) recurse, and end in a
``RecursionError`` a thousand levels down.

The cyclic garbage collector is paused while the data is built (``no_gc``): the document
makes no cycles, and a million new containers would otherwise trigger full collections over
and over (most of PyYAML's time on a large inventory).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (AliasEvent, DocumentEndEvent, MappingEndEvent, MappingStartEvent,
                         ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent)
from yaml.nodes import ScalarNode

from migrate.core.errors import one_line

try:
    from yaml import CSafeLoader as _ReferenceLoader
    from yaml._yaml import CParser as _CParser
except ImportError:  # PyYAML without libyaml: the pure Python parser gives the same events
    from yaml.parser import Parser as _Parser
    from yaml.reader import Reader as _Reader
    from yaml.scanner import Scanner as _Scanner
    from yaml import SafeLoader as _ReferenceLoader

    class _CParser(_Reader, _Scanner, _Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            _Reader.__init__(self, stream)
            _Scanner.__init__(self)
            _Parser.__init__(self)

        def dispose(self) -> None:
            pass

#: how many values aliases may add to a document beyond its own (an inventory has no aliases;
#: a hand-edited one may share a few lists)
MAX_ALIAS_VALUES = 1_000_000
#: how deep mappings and lists may nest (an inventory nests under 30 deep: aliases' :include:
#: files within :include: files); deeper is refused before anything recurses over it
MAX_DEPTH = 100

_STR = "tag:yaml.org,2002:str"
_CONSTRUCTORS = {tag: SafeConstructor.yaml_constructors[tag] for tag in (
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")}
_IMPLICIT = yaml.SafeLoader.yaml_implicit_resolvers
_WILDCARD = list(_IMPLICIT.get(None, []))


class _Fallback(Exception):
    """Raised where the document needs PyYAML's safe loader (tags, merge keys, ...)."""


class _Resolver:
    """Plain scalars to Python values, the way SafeLoader resolves and constructs them."""

    def __init__(self) -> None:
        self.constructor = SafeConstructor()
        self.cache: dict[str, Any] = {}

    def __call__(self, value: str) -> Any:
        resolvers = _IMPLICIT.get(value[0] if value else "", [])
        tag = _STR
        for rtag, regexp in resolvers + _WILDCARD:
            if regexp.match(value):
                tag = rtag
                break
        if tag == _STR:
            result: Any = value
        else:
            construct = _CONSTRUCTORS.get(tag)
            if construct is None:  # a merge key `<<`, a value key `=`: PyYAML's business
                raise _Fallback(tag)
            result = construct(self.constructor, ScalarNode(tag, value))
        self.cache[value] = result
        return result


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large acyclic structure is built."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any, **options: Any) -> str:
    """``yaml.safe_dump(data, **options)``, the same text, several times faster on large data.

    libyaml's emitter writes it when ``c_emitter_agrees(data)``, else PyYAML's Python emitter
    does (the two differ on some text: characters outside the BMP, NEL, keys of more than
    about 120 characters, an empty key); the garbage collector is paused either way.
    """
    with no_gc():
        dumper = _SafeDumper if c_emitter_agrees(data) else yaml.SafeDumper
        return yaml.dump(data, Dumper=dumper, **options)


def c_emitter_agrees(data: Any) -> bool:
    """Whether libyaml's emitter writes ``data`` byte for byte as PyYAML's Python one: only
    lists, str-keyed dicts, None, bools, ints, floats, and text of printable ASCII, the keys 1
    to 64 characters long (tests/test_safeyaml.py compares the two on such data)."""
    stack = [data]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        value = pop()
        cls = value.__class__
        if cls is str:
            if not (value.isascii() and value.isprintable()):
                return False
        elif cls is dict:
            for key, item in value.items():
                if key.__class__ is not str or not (
                        0 < len(key) <= 64 and key.isascii() and key.isprintable()):
                    return False
                push(item)
        elif cls is list:
            extend(value)
        elif value is not None and cls is not bool and cls is not int and cls is not float:
            return False
    return True


def error_line(exc: yaml.YAMLError) -> tuple[str, int | None]:
    """A YAML error as every reader of a YAML file reports it (the inventory, plan.yaml,
    target.yaml): ``not valid YAML: PROBLEM`` in one line (PyYAML's problem, without its
    report of the context and a caret under it), and the line it is on (from 1), when known."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return one_line(f"not valid YAML: {problem}"), mark.line + 1 if mark is not None else None


def load(text: str) -> Any:
    """Load one YAML document safely: the same data as ``yaml.load(text, SafeLoader)``.

    Syntax errors raise PyYAML's ``MarkedYAMLError`` subclasses, as the C safe loader does.
    """
    with no_gc():
        parser = _CParser(text)
        try:
            return _build(parser)
        except _Fallback:
            pass
        finally:
            parser.dispose()
        try:
            return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - PyYAML's safe loader
        except ValueError as exc:  # the same values, behind a tag
            raise _unreadable("a tagged value", exc, None) from None


class _UniqueKeys(_ReferenceLoader):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader, refusing a key written twice in one mapping (a merge key's keys
    may still be overridden: that is what ``<<`` is for)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise ConstructorError("while constructing a mapping", node.start_mark,
                                               f"found duplicate key {key!r}",
                                               key_node.start_mark)
                    seen.add(key)
                except TypeError:  # unhashable: SafeConstructor refuses it itself
                    pass
        return super().construct_mapping(node, deep)


def _path(stack: list[tuple[Any, bool, Any, int, Any]], key: Any) -> str:
    """Where ``key`` sits, as the codec names a field: ``steps[3].actions[0].command``."""
    out = ""
    for container, is_map, parent_key, _, _ in stack[1:] + [(None, True, key, 0, None)]:
        out += f".{parent_key}" if is_map else f"[{len(container)}]"
    return out[1:] if out.startswith(".") else out


def _unreadable(text: str, exc: ValueError, mark: Any) -> ConstructorError:
    """The error for a scalar that resolves to a type its value cannot have (SafeLoader
    raises a bare ValueError)."""
    reason = str(exc).split(";")[0]
    return ConstructorError(None, None, f"{text[:40]!r} cannot be read ({reason})", mark)


def _build(parser: Any) -> Any:
    get_event = parser.get_event
    get_event()  # the stream start
    event = get_event()
    if event.__class__ is StreamEndEvent:
        return None
    resolve = _Resolver()
    cache = resolve.cache
    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    fallback = False  # set on the first thing PyYAML must construct; the walk goes on
    refused: ConstructorError | None = None  # raised once the whole document has parsed
    nokey = object()
    stack: list[tuple[Any, bool, Any, int, Any]] = []
    container: Any = None
    is_map = False
    key: Any = nokey
    root: Any = None
    total = 0  # values in the document, aliases counted by what they expand to
    real = 0  # values as written
    while True:
        event = get_event()
        cls = event.__class__
        if cls is ScalarEvent:
            if event.tag is not None:
                fallback = True
                value = event.value
            elif event.implicit[0]:
                text = event.value
                try:
                    value = cache[text]
                except KeyError:
                    try:
                        value = resolve(text)
                    except _Fallback:
                        fallback = True
                        value = text
                    except ValueError as exc:  # 2001-02-30; an integer of 5,000 digits
                        raise _unreadable(text, exc, event.start_mark) from None
            else:
                value = event.value
            total += 1
            real += 1
            anchor = event.anchor
            if anchor is not None:
                if anchor in anchors or anchor in open_anchors:
                    raise _Fallback(anchor)  # PyYAML: "found duplicate anchor", at once
                anchors[anchor] = (value, 1)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            if len(stack) >= MAX_DEPTH:
                raise ConstructorError(None, None, f"mappings and lists nest more than "
                                       f"{MAX_DEPTH} deep here", event.start_mark)
            if event.tag is not None:
                fallback = True
            anchor = event.anchor
            if anchor is not None:
                if anchor in anchors or anchor in open_anchors:
                    raise _Fallback(anchor)
                open_anchors.add(anchor)
            stack.append((container, is_map, key, total, anchor))
            is_map = cls is MappingStartEvent
            container = {} if is_map else []
            key = nokey
            total += 1
            real += 1
            continue
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            if is_map and key is not nokey:  # cannot happen with libyaml; kept for safety
                raise _Fallback("odd mapping")
            value = container
            container, is_map, key, start, anchor = stack.pop()
            if anchor is not None:
                open_anchors.discard(anchor)
                anchors[anchor] = (value, total - start)
        elif cls is AliasEvent:
            anchor = event.anchor
            real += 1
            if anchor in open_anchors:
                refused = refused or ConstructorError(
                    None, None, f"the alias *{anchor} refers to the node it is in "
                    "(a recursive document)", event.start_mark)
                value, size = None, 1
            else:
                try:
                    value, size = anchors[anchor]
                except KeyError:  # PyYAML: "found undefined alias", before anything else
                    raise _Fallback(anchor) from None
            total += size
            if total - real > MAX_ALIAS_VALUES and refused is None:
                refused = ConstructorError(
                    None, None, f"the alias *{anchor} expands the document beyond "
                    f"{MAX_ALIAS_VALUES:,} more values (an alias bomb?)", event.start_mark)
        elif cls is DocumentEndEvent:
            break
        else:  # pragma: no cover - libyaml gives no other event inside a document
            raise _Fallback(cls.__name__)
        if container is None:
            root = value
        elif is_map:
            if key is nokey:
                if value.__class__ is dict or value.__class__ is list:
                    fallback = True  # PyYAML: "found unhashable key"
                    value = None
                elif value in container and refused is None:
                    refused = ConstructorError(
                        None, None, f"the key {_path(stack, value)} is written twice (the "
                        "second would silently replace the first)", event.start_mark)
                key = value
            else:
                container[key] = value
                key = nokey
        else:
            container.append(value)
    if get_event().__class__ is not StreamEndEvent:
        fallback = True  # PyYAML: "expected a single document in the stream"
    if refused is not None:
        raise refused
    if fallback:
        raise _Fallback("PyYAML constructs this document")
    return root
