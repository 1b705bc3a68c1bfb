"""Reading Mailman 2's Python 2 pickles without trusting them.

A pickle is a program: the plain unpickler imports and calls whatever it names. List files come
from the old host, which may have been tampered with, so they are read only with
``SafeUnpickler``: ``find_class`` admits the two classes real list files use
(``Mailman.Bouncer._BounceInfo`` in ``config.pck``, ``Mailman.UserDesc.UserDesc`` in
``pending.pck``), mapped to inert local stand-ins that run no code of the pickle's choosing;
every other class or function (``os.system``, ``builtins.eval``, ...) is refused before it is
looked up, persistent ids are refused, and the result is returned as plain data.

Python 2 ``str`` values arrive as ``bytes`` (``encoding="bytes"``); ``decode_text`` turns them
into text with the list's charset.
"""

from __future__ import annotations

import io
import pickle
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


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` (Python 2 strings as bytes). Raises ``PickleRefused`` for a refused
    class and ``ValueError`` for anything malformed."""
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="bytes", errors="strict").load()
    except PickleRefused:
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except MemoryError:
        raise ValueError("too large") from None
    except Exception as exc:  # noqa: BLE001 - any malformed pickle becomes one ValueError
        raise ValueError(f"{type(exc).__name__}: {exc}"[:200]) from None


def safe_load_all(data: bytes) -> list[Any]:
    """Every pickle in ``data`` one after another (a qfiles entry holds two)."""
    stream = io.BytesIO(data)
    out = []
    while stream.tell() < len(data):
        try:
            out.append(SafeUnpickler(stream, encoding="bytes").load())
        except PickleRefused:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{type(exc).__name__}: {exc}"[:200]) from None
    return out


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
