"""Reading Mailman 2's Python 2 pickles without trusting them.

A pickle is a program: the plain unpickler imports and calls whatever it names. List files come
from the old host, which may have been tampered with, so they are read only with
``SafeUnpickler``: ``find_class`` admits the two classes real list files use
(``Mailman.Bouncer._BounceInfo`` in ``config.pck``, ``Mailman.UserDesc.UserDesc`` in
``pending.pck``), mapped to inert local stand-ins that run no code of the pickle's choosing;
every other class or function (``os.system``, ``builtins.eval``, ...) is refused before it is
looked up, persistent ids are refused, and the result is returned as plain data.

A pickle is also a compressed description of a graph: a 1 KB file can describe a list of shared
references that is 2**60 elements long once walked, or a list nested a million deep. So a
pickle is bounded before and after it is built (``Limits``): its opcodes are scanned first
(nesting of the unpickler's stack, the objects and memo references it would make, the size of
every integer and string it holds) and only a pickle within the bounds is built; the result is
then walked once (iteratively, every object once) to bound its depth and its size with shared
references counted as often as they are referenced, which is the size anything that walks or
prints it would see. Every violation is a ``ValueError`` that names the bound.

Python 2 ``str`` values arrive as ``bytes`` (``encoding="bytes"``); ``decode_text`` turns them
into text with the list's charset.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from dataclasses import dataclass
from typing import Any


class PickleRefused(Exception):
    """The pickle names a class or function that list files never contain."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        super().__init__(f"{module}.{name}")


class _Inert:
    """A stand-in instance: it keeps the state it is given as data and does nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        # Never setattr from the pickle (it could name __class__); keep the state as data.
        self.__dict__["state"] = state

    def __reduce__(self):  # pragma: no cover - never pickled again
        raise TypeError("inert stand-in")


class BounceInfo(_Inert):
    """Stand-in for ``Mailman.Bouncer._BounceInfo`` (a member's bounce score and dates)."""


class UserDesc(_Inert):
    """Stand-in for ``Mailman.UserDesc.UserDesc`` (a pending subscription's details)."""


ALLOWED_CLASSES: dict[tuple[str, str], type] = {
    ("Mailman.Bouncer", "_BounceInfo"): BounceInfo,
    ("Mailman.UserDesc", "UserDesc"): UserDesc,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``ALLOWED_CLASSES``."""

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle's API
        cls = ALLOWED_CLASSES.get((module, name))
        if cls is None:
            raise PickleRefused(module, name)
        return cls

    def persistent_load(self, pid: Any) -> Any:
        raise PickleRefused("persistent_load", repr(pid)[:40])


@dataclass(frozen=True)
class Limits:
    """What one pickle may build. Mailman's list files are shallow (a dict of dicts of
    tuples), hold short strings and small numbers, and share only strings; the bounds are far
    above what a list of 200,000 members needs and far below what hurts."""

    max_bytes: int = 128 * 1024 * 1024  # the pickle itself
    max_depth: int = 64  # nesting of containers in the result
    max_stack: int = 20_000  # the unpickler's stack (protocol 1+ batches 1,000 items)
    max_marks: int = 64  # open MARKs: nested containers under construction
    #: containers the opcodes make (lists, dicts, tuples, sets, instances): a base plus one
    #: per ``bytes_per_container`` of pickle (in a real list file a container holds strings
    #: and takes dozens of bytes; a flood of empty lists takes one byte each, 60 of memory)
    max_containers: int = 100_000
    bytes_per_container: int = 16
    max_references: int = 16_000_000  # memo references (each one slot in a container)
    max_int_bytes: int = 64  # one integer (Mailman's are dates and counters)
    max_string_bytes: int = 16 * 1024 * 1024  # one string
    #: the result's size walked as a tree (shared references counted each time):
    #: container slots plus string bytes
    max_expanded: int = 256 * 1024 * 1024


LIMITS = Limits()

# -- the opcode scan ------------------------------------------------------------------------------

_MARK = pickletools.markobject
_LINE, _FIXED, _PREFIXED = 0, 1, 2


@dataclass(frozen=True)
class _Op:
    name: str
    how: int  # _LINE (``lines`` text lines), _FIXED (``size`` bytes), _PREFIXED (a length)
    size: int  # bytes of the fixed argument or of the length prefix; lines of a text one
    signed: bool  # the length prefix is signed
    below: int  # items under the MARK it pops to (-1: it does not pop to a MARK)
    pops: int  # items it pops (when it does not pop to a MARK)
    pushes: int  # items it pushes
    makes: int  # it pushes a new container (1) or a reference from the memo (2)


_CONTAINER_OPS = {"EMPTY_LIST", "LIST", "EMPTY_DICT", "DICT", "EMPTY_TUPLE", "TUPLE", "TUPLE1",
                  "TUPLE2", "TUPLE3", "EMPTY_SET", "FROZENSET", "OBJ", "INST", "NEWOBJ",
                  "NEWOBJ_EX", "REDUCE"}


def _ops() -> dict[int, _Op]:
    table = {}
    for op in pickletools.opcodes:
        n = op.arg.n if op.arg is not None else 0
        signed = False
        if n == pickletools.UP_TO_NEWLINE:
            how, size = _LINE, 2 if op.arg.name == "stringnl_noescape_pair" else 1
        elif n >= 0:
            how, size = _FIXED, n
        else:
            how = _PREFIXED
            size = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
                    pickletools.TAKEN_FROM_ARGUMENT4U: 4, pickletools.TAKEN_FROM_ARGUMENT8U: 8}[n]
            signed = n == pickletools.TAKEN_FROM_ARGUMENT4
        before, after = op.stack_before, op.stack_after
        below = before.index(_MARK) if _MARK in before else -1
        table[ord(op.code)] = _Op(op.name, how, size, signed, below, len(before), len(after),
                                  2 if "GET" in op.name else int(op.name in _CONTAINER_OPS))
    return table


_OPS = _ops()
_INT_OPS = {"INT", "LONG", "LONG1", "LONG4"}


def scan(data: bytes, start: int = 0, limits: Limits = LIMITS) -> int:
    """Check one pickle's opcodes from ``start`` against ``limits`` without building anything;
    returns the offset after its STOP. Raises ``ValueError`` naming the bound."""
    end = len(data)
    pos = start
    marks: list[int] = []  # the stack's height at each open MARK
    height = 0
    objects = references = 0
    max_objects = limits.max_containers + (end - start) // limits.bytes_per_container
    max_stack, max_marks, max_refs = limits.max_stack, limits.max_marks, limits.max_references
    max_int, max_str = limits.max_int_bytes, limits.max_string_bytes
    table = _TABLE
    find = data.find
    from_bytes = int.from_bytes
    while True:
        if pos >= end:
            raise ValueError("truncated: the pickle ends before its STOP opcode")
        at = pos
        op = table[data[pos]]
        if op is None:
            raise ValueError(f"unknown opcode 0x{data[pos]:02x} at byte {pos}")
        how, size, signed, below, pops, pushes, makes, kind = op
        pos += 1
        if how == _FIXED:
            pos += size
        elif how == _PREFIXED:
            n = from_bytes(data[pos:pos + size], "little", signed=signed)
            pos += size + n
            if n < 0 or n > max_str or (kind == _K_INT and n > max_int):
                raise _too_long(_OPS[data[at]], n, at, limits)
        else:
            for _ in range(size):
                nl = find(b"\n", pos)
                if nl < 0:
                    raise ValueError(f"truncated: the pickle ends inside "
                                     f"{_OPS[data[at]].name} at byte {at}")
                if nl - pos > (3 * max_int if kind == _K_INT else max_str):
                    raise _too_long(_OPS[data[at]], nl - pos, at, limits)
                pos = nl + 1
        if kind == _K_MARK:
            marks.append(height)
            if len(marks) > max_marks:
                raise ValueError(f"containers nested more than {max_marks} deep")
            continue
        if below >= 0:
            if not marks:
                raise ValueError(f"{_OPS[data[at]].name} without a MARK at byte {at}")
            height = marks.pop() - below
        else:
            height -= pops
        if height < (marks[-1] if marks else 0):
            raise ValueError(f"{_OPS[data[at]].name} on an empty stack at byte {at}")
        height += pushes
        if makes:
            if makes == 1:
                objects += 1
                if objects > max_objects:
                    raise ValueError(f"more than {max_objects:,} lists, dicts and tuples "
                                     "for its size")
            else:
                references += 1
                if references > max_refs:
                    raise ValueError(f"more than {max_refs:,} shared references")
        if kind == _K_STOP:
            if pos > end:
                break
            return pos
        if height > max_stack:
            raise ValueError(f"more than {max_stack:,} items on the unpickler's stack "
                             "(nested too deep)")
    raise ValueError("truncated: the pickle ends inside its last opcode")


def _too_long(op: _Op, n: int, at: int, limits: Limits) -> ValueError:
    if n < 0:
        return ValueError(f"{op.name} with a negative length at byte {at}")
    if op.name in _INT_OPS:
        return ValueError(f"an integer of {n:,} bytes at byte {at} (at most "
                          f"{limits.max_int_bytes} bytes)")
    return ValueError(f"a string of {n:,} bytes at byte {at} (at most "
                      f"{limits.max_string_bytes:,})")


_K_OTHER, _K_MARK, _K_STOP, _K_INT = 0, 1, 2, 3
_TABLE: list[tuple | None] = [None] * 256
for _code, _op in _OPS.items():
    _TABLE[_code] = (_op.how, _op.size, _op.signed, _op.below, _op.pops, _op.pushes, _op.makes,
                     _K_MARK if _op.name == "MARK" else _K_STOP if _op.name == "STOP"
                     else _K_INT if _op.name in _INT_OPS else _K_OTHER)


# -- the result walk ------------------------------------------------------------------------------


def _children(obj: Any) -> Any:
    if isinstance(obj, (list, tuple, set, frozenset)):
        return obj
    if isinstance(obj, dict):
        return [x for kv in obj.items() for x in kv]
    if isinstance(obj, _Inert):
        return list(obj.__dict__.values())
    return ()


def check_result(obj: Any, limits: Limits = LIMITS) -> None:
    """Bound the built result: its depth, and its size walked as a tree (a shared reference
    counts as often as it is referenced). Every object is visited once, without recursion."""
    size: dict[int, int] = {}  # id -> expanded size of a container (``obj`` keeps them alive)
    stack: list[tuple[Any, int, bool]] = [(obj, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            total = 1
            for child in _children(node):
                if isinstance(child, (bytes, str, bytearray)):
                    total += 1 + len(child)
                elif isinstance(child, int):
                    total += 1
                else:
                    total += size.get(id(child), 1)
            if total > limits.max_expanded:
                raise ValueError(f"it expands to more than {limits.max_expanded:,} items "
                                 "(shared references nested in each other)")
            size[key] = total
            continue
        if key in size:
            continue
        children = _children(node)
        if not children:
            continue
        if depth > limits.max_depth:
            raise ValueError(f"containers nested more than {limits.max_depth} deep")
        size[key] = 0  # in progress: a reference back to it (a cycle) counts once
        stack.append((node, depth, True))
        for child in children:
            if not isinstance(child, (bytes, str, int, float, bytearray)) and id(child) not in size:
                stack.append((child, depth + 1, False))


def safe_loads(data: bytes, limits: Limits = LIMITS) -> Any:
    """Unpickle ``data`` (Python 2 strings as bytes) within ``limits``: the first pickle in it,
    as ``pickle.loads`` reads it. Raises ``PickleRefused`` for a refused class and
    ``ValueError`` for anything malformed or out of bounds."""
    if len(data) > limits.max_bytes:
        raise ValueError(f"{len(data):,} bytes (at most {limits.max_bytes:,})")
    try:
        stop = scan(data, 0, limits)
    except IndexError:
        raise ValueError("truncated") from None
    try:
        obj = SafeUnpickler(io.BytesIO(data[:stop]), encoding="bytes", errors="strict").load()
    except PickleRefused:
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except MemoryError:
        raise ValueError("too large") from None
    except Exception as exc:  # noqa: BLE001 - any malformed pickle becomes one ValueError
        raise ValueError(f"{type(exc).__name__}: {exc}"[:200]) from None
    check_result(obj, limits)
    return obj


#: Mailman 2.1's charsets by language (Mailman/Defaults.py, LC_DESCRIPTIONS).
LANGUAGE_CHARSETS = {
    "ar": "utf-8", "ast": "iso-8859-1", "ca": "utf-8", "cs": "iso-8859-2", "da": "iso-8859-1",
    "de": "iso-8859-1", "el": "iso-8859-7", "en": "us-ascii", "eo": "iso-8859-3",
    "es": "iso-8859-1", "et": "iso-8859-15", "eu": "iso-8859-15", "fa": "utf-8",
    "fi": "iso-8859-1", "fr": "iso-8859-1", "gl": "utf-8", "he": "utf-8", "hr": "iso-8859-2",
    "hu": "iso-8859-2", "ia": "iso-8859-15", "it": "iso-8859-1", "ja": "euc-jp",
    "ko": "euc-kr", "lt": "iso-8859-13", "nl": "iso-8859-1", "no": "iso-8859-1",
    "pl": "iso-8859-2", "pt": "iso-8859-1", "pt_BR": "iso-8859-1", "ro": "utf-8",
    "ru": "koi8-r", "sk": "utf-8", "sl": "iso-8859-2", "sr": "utf-8", "sv": "iso-8859-1",
    "tr": "iso-8859-9", "uk": "utf-8", "vi": "utf-8", "zh_CN": "utf-8", "zh_TW": "utf-8",
}


def charset_for(language: str | None) -> str:
    return LANGUAGE_CHARSETS.get(language or "en", "us-ascii")


def decode_text(value: Any, charset: str, failures: list[str] | None = None) -> Any:
    """Python 2 byte strings to text: the list's charset, else Latin-1 (noted in failures)."""
    if isinstance(value, bytes):
        try:
            return value.decode(charset)
        except (UnicodeDecodeError, LookupError):
            if failures is not None:
                failures.append(value[:40].decode("latin-1"))
            return value.decode("latin-1")
    return value
