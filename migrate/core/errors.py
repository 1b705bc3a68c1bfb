"""Expected errors and the exit codes every verb shares (documented in README.md)."""

from __future__ import annotations

from enum import IntEnum

from migrate.core.text import visible


class Exit(IntEnum):
    OK = 0  # done, nothing of severity error or blocker
    FINDINGS = 1  # done, but findings of severity error or blocker stand
    USAGE = 2  # wrong usage, or the verb/source is not available (yet)
    INPUT = 3  # unreadable or malformed input
    UNREACHABLE = 4  # a host: connection refused, timed out, name not resolved
    AUTH = 5  # a host: authentication (or sudo) refused
    HOSTKEY = 6  # a host's key is unknown, changed or not the pinned one
    STEP_FAILED = 7  # a cutover step (or a rollback) failed: the journal says where
    DECLINED = 8  # the confirmation was declined (or not given): nothing was changed
    INTERNAL = 70  # a bug: the traceback is in a log file the message names (EX_SOFTWARE)
    INTERRUPTED = 130  # interrupted (Ctrl-C, SIGINT): the journal says where; --resume


#: What each exit code means, the same for every verb: the one table README.md and every
#: verb's ``--help`` show (tests/test_exit_codes.py holds README's table to it).
EXIT_MEANINGS: dict[Exit, str] = {
    Exit.OK: "done; no finding of severity error or blocker stands",
    Exit.FINDINGS: ("done, but findings of severity error or blocker stand (inspect, plan, "
                    "dry run)"),
    Exit.USAGE: "usage error: a wrong or missing flag, an -o that migrate did not write",
    Exit.INPUT: ("unreadable or malformed input (file and line named): tree, inventory, plan, "
                 "journal"),
    Exit.UNREACHABLE: "a host cannot be reached (refused, timed out, no SSH, stopped answering)",
    Exit.AUTH: "a host refused authentication (or sudo -n)",
    Exit.HOSTKEY: "a host's key is unknown, changed or not the pinned one (its fingerprint shown)",
    Exit.STEP_FAILED: "a cutover step or the rollback failed: `migrate status PLAN_DIR` shows where",
    Exit.DECLINED: "the confirmation was declined or not answered (give --yes): nothing changed",
    Exit.INTERNAL: "internal error (a bug): the message names a log file with the traceback",
    Exit.INTERRUPTED: "interrupted (Ctrl-C): the journal says where; --execute --resume goes on",
}


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
