"""Write pickles the way Python 2.7's ``cPickle`` wrote them (protocols 0 and 1).

Python 3's pickler cannot reproduce a Python 2 pickle: it has no notion of the
Python 2 ``str`` (a byte string that old code treated as text), it writes
``True``/``False`` with NEWTRUE/NEWFALSE only in protocol 2+, numbers its memo
from 0 instead of 1, and orders dicts by insertion.  Mailman 2.1 list data
(``config.pck``, ``request.pck``, ``pending.pck``, qfiles) was written by
``cPickle``, so this module emits the same opcode stream.

Type mapping (Python 3 value -> Python 2 value it stands for):

=====================  ==================  =====================================
Python 3               Python 2            protocol 1 opcodes
=====================  ==================  =====================================
``bytes``              ``str``             ``U`` SHORT_BINSTRING / ``T`` BINSTRING
``str``                ``unicode``         ``X`` BINUNICODE (UTF-8)
``bool``               ``bool``            ``I01\\n`` / ``I00\\n`` (INT)
``int``                ``int``             ``K`` / ``M`` / ``J`` (or ``I...\\n``)
``float``              ``float``           ``G`` BINFLOAT
``None``               ``None``            ``N``
``list``               ``list``            ``]`` + ``a`` / ``(`` ... ``e``
``tuple``              ``tuple``           ``)`` or ``(`` ... ``t``
``dict``               ``dict``            ``}`` + ``s`` / ``(`` ... ``u``
:class:`Py2Instance`   old-style instance  ``(`` ``c`` GLOBAL ``o`` OBJ ... ``b``
=====================  ==================  =====================================

Details copied from ``Modules/cPickle.c`` (2.7) behaviour:

* memo ids start at 1 (``BINPUT 1`` is the first PUT);
* strings and unicode shorter than 2 characters, ints, floats, bools, None
  and the empty tuple are never memoised;
* containers are memoised right after their EMPTY_* opcode (before their
  items); a tuple is memoised after TUPLE;
* dicts/lists with exactly one item use SETITEM/APPEND, larger ones are
  written in MARK ... SETITEMS/APPENDS batches of at most 1000;
* dict items come out in CPython 2.7's hash-table order (see
  :func:`py2_dict_order`), not insertion order.

Identity: cPickle memoises by object identity.  Interned/shared strings in a
live Mailman process are common (member addresses appear as keys of
``members``, ``user_options``, ``passwords`` ...), so equal strings are
treated as one object here (memo by value); containers are memoised by
identity.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = ["Py2Instance", "dumps", "py2_dict_order", "py2_hash"]

_MASK64 = (1 << 64) - 1
_BATCHSIZE = 1000  # cPickle's BATCHSIZE


@dataclass(eq=False)
class Py2Instance:
    """An instance of a Python 2 old-style class (``class Foo:``).

    ``state`` is the instance ``__dict__``; it is pickled as a dict and
    applied with BUILD.  ``module``/``name`` locate the class, e.g.
    ``Mailman.Bouncer`` / ``_BounceInfo``.
    """

    module: str
    name: str
    state: dict[Any, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Python 2.7 hashing and dict iteration order (64-bit build, no -R).
# ---------------------------------------------------------------------------

def _signed64(x: int) -> int:
    x &= _MASK64
    return x - (1 << 64) if x >> 63 else x


def py2_hash(key: Any) -> int:
    """``hash(key)`` as 64-bit CPython 2.7 computes it without -R."""
    if isinstance(key, bool):
        return int(key)
    if isinstance(key, int):
        if not -(1 << 63) <= key < (1 << 63):
            raise ValueError("long keys are not supported")
        return -2 if key == -1 else key
    if isinstance(key, (bytes, str)):
        units = list(key) if isinstance(key, bytes) else [ord(c) for c in key]
        if not units:
            return 0
        x = units[0] << 7
        for u in units:
            x = ((1000003 * x) ^ u) & _MASK64
        x ^= len(units)
        h = _signed64(x)
        return -2 if h == -1 else h
    raise TypeError(f"no Python 2 hash for {type(key).__name__}")


def _probe_insert(table: list[Any], key: Any, h: int) -> None:
    """Place ``key`` in an open-addressing ``table`` like ``lookdict``."""
    mask = len(table) - 1
    i = h & _MASK64
    slot = i & mask
    perturb = h & _MASK64
    while table[slot] is not None:
        i = (i * 5 + perturb + 1) & _MASK64  # (i << 2) + i + perturb + 1
        perturb >>= 5
        slot = i & mask
    table[slot] = key


def py2_dict_order(keys: Iterable[Any]) -> list[Any]:
    """Iteration order of a Python 2.7 dict built by inserting ``keys``.

    Simulates ``insertdict`` + ``dictresize`` (minimum size 8, resize to the
    smallest power of two above 4*used, or 2*used past 50000 entries, when the
    table is two thirds full).  No deletions are modelled.
    """
    table: list[Any] = [None] * 8
    used = 0
    seen: set[Any] = set()
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        _probe_insert(table, key, py2_hash(key))
        used += 1
        if used * 3 >= len(table) * 2:
            minused = (2 if used > 50000 else 4) * used
            size = 8
            while size <= minused:
                size <<= 1
            old = [k for k in table if k is not None]
            table = [None] * size
            for k in old:
                _probe_insert(table, k, py2_hash(k))
    return [k for k in table if k is not None]


# ---------------------------------------------------------------------------
# The writer.
# ---------------------------------------------------------------------------

def _py2_str_repr(data: bytes) -> bytes:
    """``repr()`` of a Python 2 ``str`` (used by protocol 0's STRING)."""
    quote = b"'"
    if b"'" in data and b'"' not in data:
        quote = b'"'
    out = bytearray(quote)
    for b in data:
        c = bytes([b])
        if c == quote or c == b"\\":
            out += b"\\" + c
        elif c == b"\t":
            out += b"\\t"
        elif c == b"\n":
            out += b"\\n"
        elif c == b"\r":
            out += b"\\r"
        elif b < 0x20 or b >= 0x7F:
            out += b"\\x%02x" % b
        else:
            out += c
    out += quote
    return bytes(out)


def _raw_unicode_escape(text: str) -> bytes:
    """cPickle's ``modified_EncodeRawUnicodeEscape`` for protocol 0 UNICODE."""
    out = bytearray()
    for ch in text:
        o = ord(ch)
        if o >= 0x10000:
            out += b"\\U%08x" % o
        elif o >= 0x100 or ch in "\\\n":
            out += b"\\u%04x" % o
        else:
            out.append(o)
    return bytes(out)


class _Writer:
    def __init__(self, protocol: int) -> None:
        if protocol not in (0, 1):
            raise ValueError("only protocols 0 and 1 are written")
        self.proto = protocol
        self.out = bytearray()
        self.memo: dict[Any, int] = {}
        self.keepalive: list[Any] = []  # ids stay unique while we run

    # -- memo ---------------------------------------------------------------
    def _put(self, key: Any) -> None:
        n = len(self.memo) + 1  # cPickle starts at 1
        self.memo[key] = n
        if self.proto == 0:
            self.out += b"p%d\n" % n
        elif n < 256:
            self.out += b"q" + bytes([n])
        else:
            self.out += b"r" + struct.pack("<i", n)

    def _get(self, key: Any) -> bool:
        n = self.memo.get(key)
        if n is None:
            return False
        if self.proto == 0:
            self.out += b"g%d\n" % n
        elif n < 256:
            self.out += b"h" + bytes([n])
        else:
            self.out += b"j" + struct.pack("<i", n)
        return True

    # -- dispatch -----------------------------------------------------------
    def save(self, obj: Any) -> None:
        if obj is None:
            self.out += b"N"
        elif isinstance(obj, bool):
            self.out += b"I01\n" if obj else b"I00\n"
        elif isinstance(obj, int):
            self._save_int(obj)
        elif isinstance(obj, float):
            if self.proto == 0:
                self.out += b"F" + repr(obj).encode() + b"\n"
            else:
                self.out += b"G" + struct.pack(">d", obj)
        elif isinstance(obj, bytes):
            self._save_str(obj)
        elif isinstance(obj, str):
            self._save_unicode(obj)
        elif isinstance(obj, tuple):
            self._save_tuple(obj)
        elif isinstance(obj, list):
            self._save_list(obj)
        elif isinstance(obj, dict):
            self._save_dict(obj)
        elif isinstance(obj, Py2Instance):
            self._save_inst(obj)
        else:
            raise TypeError(f"cannot write {type(obj).__name__} as Python 2")

    def _save_int(self, v: int) -> None:
        if self.proto == 0 or not -(2**31) <= v < 2**31:
            self.out += b"I%d\n" % v
        elif 0 <= v < 0x100:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 0x10000:
            self.out += b"M" + struct.pack("<H", v)
        else:
            self.out += b"J" + struct.pack("<i", v)

    def _save_str(self, data: bytes) -> None:
        key = ("str", data)
        if len(data) >= 2 and self._get(key):
            return
        if self.proto == 0:
            self.out += b"S" + _py2_str_repr(data) + b"\n"
        elif len(data) < 256:
            self.out += b"U" + bytes([len(data)]) + data
        else:
            self.out += b"T" + struct.pack("<i", len(data)) + data
        if len(data) >= 2:
            self._put(key)

    def _save_unicode(self, text: str) -> None:
        key = ("unicode", text)
        if len(text) >= 2 and self._get(key):
            return
        if self.proto == 0:
            self.out += b"V" + _raw_unicode_escape(text) + b"\n"
        else:
            raw = text.encode("utf-8")
            self.out += b"X" + struct.pack("<i", len(raw)) + raw
        if len(text) >= 2:
            self._put(key)

    def _ident(self, obj: Any) -> tuple[str, int]:
        self.keepalive.append(obj)
        return ("id", id(obj))

    def _save_tuple(self, tup: tuple[Any, ...]) -> None:
        if not tup:
            self.out += b")" if self.proto else b"(t"
            return
        key = self._ident(tup)
        if self._get(key):
            return
        self.out += b"("
        for item in tup:
            self.save(item)
        self.out += b"t"
        self._put(key)

    def _save_list(self, items: list[Any]) -> None:
        key = self._ident(items)
        if self._get(key):
            return
        self.out += b"]" if self.proto else b"(l"
        self._put(key)
        if self.proto == 0:
            for item in items:
                self.save(item)
                self.out += b"a"
            return
        for start in range(0, len(items), _BATCHSIZE):
            batch = items[start:start + _BATCHSIZE]
            if len(batch) == 1:
                self.save(batch[0])
                self.out += b"a"
            else:
                self.out += b"("
                for item in batch:
                    self.save(item)
                self.out += b"e"

    def _save_dict(self, mapping: dict[Any, Any]) -> None:
        key = self._ident(mapping)
        if self._get(key):
            return
        self.out += b"}" if self.proto else b"(d"
        self._put(key)
        order = py2_dict_order(mapping.keys())
        if self.proto == 0:
            for k in order:
                self.save(k)
                self.save(mapping[k])
                self.out += b"s"
            return
        for start in range(0, len(order), _BATCHSIZE):
            batch = order[start:start + _BATCHSIZE]
            if len(batch) == 1:
                self.save(batch[0])
                self.save(mapping[batch[0]])
                self.out += b"s"
            else:
                self.out += b"("
                for k in batch:
                    self.save(k)
                    self.save(mapping[k])
                self.out += b"u"

    def _save_inst(self, inst: Py2Instance) -> None:
        key = self._ident(inst)
        if self._get(key):
            return
        self.out += b"("
        if self.proto == 0:
            # INST: protocol 0 names the class inline.
            self.out += b"i%s\n%s\n" % (inst.module.encode(), inst.name.encode())
        else:
            cls_key = ("class", inst.module, inst.name)
            if not self._get(cls_key):
                self.out += b"c%s\n%s\n" % (inst.module.encode(), inst.name.encode())
                self._put(cls_key)
            self.out += b"o"
        self._put(key)
        self.save(inst.state)
        self.out += b"b"


def dumps(obj: Any, protocol: int = 1) -> bytes:
    """Serialise ``obj`` as Python 2.7's ``cPickle.dumps(obj, protocol)``."""
    writer = _Writer(protocol)
    writer.save(obj)
    writer.out += b"."
    return bytes(writer.out)
