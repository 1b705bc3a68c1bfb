"""Expected errors and the exit codes every verb shares (documented in README.md)."""

from __future__ import annotations

from enum import IntEnum

from migrate.core.text import visible


class Exit(IntEnum):
    OK = 0  # done, nothing of severity error or blocker
    FINDINGS = 1  # done, but findings of severity error or blocker stand
    USAGE = 2  # wrong usage, or the verb/source is not available (yet)
    INPUT = 3  # unreadable or malformed input
    UNREACHABLE = 4  # the old host: connection refused, timed out, name not resolved
    AUTH = 5  # the old host: authentication (or sudo) refused
    HOSTKEY = 6  # the old host's key is unknown, changed or not the pinned one
    INTERNAL = 70  # a bug: the traceback is in a log file the message names (EX_SOFTWARE)


class MigrateError(Exception):
    """An expected failure: printed as one line (with file and line when known), then exit."""

    def __init__(self, message: str, *, code: Exit = Exit.INPUT, file: str | None = None,
                 line: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.file = file
        self.line = line
        self.hint = hint

    def one_line(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return one_line(text)


def one_line(text: str) -> str:
    """``text`` as one line: line breaks (a YAML error's four lines, a name with a newline)
    become spaces, every other character that is not printable is shown escaped (``visible``)."""
    return visible(" ".join(part.strip() for part in text.splitlines() if part.strip()))
