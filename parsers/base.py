"""What every parser shares: the read-only view of the old host, and reading text safely.

A ``Tree`` is the old host's file system seen from its own root: paths are absolute host paths
(``/etc/mail/aliases``), symlinks resolve as they would on the host (an absolute link target
stays inside the inspected root). ``migrate.app.sources`` implements it for a local directory; the
SSH source implements the same protocol, so parsers never know where the files come from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from migrate.core.model import ConfigFile, FileMode, Finding, Severity, Source

#: Configuration files larger than this are refused (a misnamed archive or disk image).
MAX_CONFIG_BYTES = 64 * 1024 * 1024
#: What the includes of one configuration may read together, in bytes: as much as one
#: configuration file may hold (a file included again counts again).
MAX_INCLUDED_BYTES = MAX_CONFIG_BYTES


def file_kind(mode: int) -> str:
    """What a file that is not regular is, in words (``stat.S_IFMT`` of its mode)."""
    import stat as st
    for test, words in ((st.S_ISFIFO, "a FIFO"), (st.S_ISCHR, "a character device"),
                        (st.S_ISBLK, "a block device"), (st.S_ISSOCK, "a socket"),
                        (st.S_ISDIR, "a directory"), (st.S_ISLNK, "a symbolic link"),
                        (st.S_ISREG, "a regular file")):
        if test(mode):
            return words
    return "not a regular file"


def not_regular(what: str) -> str:
    """The reason given for a path that is not a regular file (the same locally and over SSH)."""
    return f"not a regular file ({what}); only regular files are read"


def unreadable_hint(reason: str, path: str) -> str:
    """What to do about a file that cannot be read, by why."""
    if reason.startswith("not a regular file"):
        return (f"Put the real file at {path} (a FIFO, device or socket there is never read: "
                "it could block or never end), then inspect again.")
    if reason.startswith("larger than"):
        return f"Check what {path} is: a configuration file is never that large."
    return "Run the inspection as a user who can read it (root, or --sudo over SSH)."


class TreeError(Exception):
    """A path of the inspected tree that cannot be read. ``path`` is the host path."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class NotFound(TreeError):
    def __init__(self, path: str) -> None:
        super().__init__(path, "no such file or directory")


@dataclass(frozen=True)
class Stat:
    kind: str  # "file", "dir", "link", "other"
    size: int
    mode: int  # permission bits, e.g. 0o644
    uid: int
    gid: int
    mtime: float


class Tree(Protocol):
    """Read-only access to the inspected host's files by absolute host path."""

    def resolve(self, path: str) -> str:
        """The path with every symlink followed, as a host path (raises ``TreeError`` on loops)."""

    def exists(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def readlink(self, path: str) -> str | None:
        """The target of a symlink as stored (not resolved), or None if not a symlink."""

    def list_dir(self, path: str) -> list[str]:
        """Entry names of a directory, sorted."""

    def stat(self, path: str, follow: bool = True) -> Stat: ...

    def symlinks(self, path: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Every symlink at any depth below the folder ``path`` (``path`` is resolved first;
        no link below it is ever followed): ``(host path, target as stored)``, sorted, the
        paths under the resolved folder; and every folder below it that could not be listed,
        ``(host path, reason)``. Nothing when ``path`` is not a folder."""

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """The file's content; raises ``TreeError`` if it is unreadable or larger than limit."""

    def open(self, path: str) -> BinaryIO:
        """A binary stream of the file, for reading large files without holding them."""


@dataclass
class TextFile:
    """A text file read for parsing: its lines, fingerprint and any finding about reading it."""

    path: str  # the host path as resolved (the file whose lines are numbered)
    text: str | None  # None when the file could not be used
    config: ConfigFile | None = None
    findings: list[Finding] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The file's lines, broken at ``\\n`` only (as Exim and sh read them; ``str.splitlines``
        would also break at form feeds, ``\\x85`` and other characters that legacy 8-bit files
        hold inside lines), with a CR before the newline removed."""
        if not self.text:
            return []
        lines = self.text.split("\n")
        if lines[-1] == "":
            lines.pop()
        return [line[:-1] if line.endswith("\r") else line for line in lines]


class IncludeBudget:
    """What the includes of one configuration may read in all: ``reads`` files and ``size``
    bytes (``MAX_INCLUDED_BYTES`` unless told).

    Exim reads a file again each time it is included (an aliases file's ``:include:`` too, and
    Apache's ``Include``), and the depth and loop checks do not bound the total: a file that
    includes the next one twice, 14 deep, is 32,767 reads, four times is 358 million. Each
    include spends one read and its file's bytes; once either is spent, no include is read (the
    parser reports the first one it skips, and goes on with the lines around it).
    """

    def __init__(self, reads: int, size: int = MAX_INCLUDED_BYTES) -> None:
        self.reads = reads
        self.size = size
        self.read = 0  # files read so far (or tried: a missing one costs a look-up)
        self.bytes = 0

    @property
    def spent(self) -> bool:
        return self.read >= self.reads or self.bytes >= self.size

    def spend(self, tf: TextFile) -> None:
        self.read += 1
        self.bytes += tf.config.bytes if tf.config else 0

    def describe(self) -> str:
        """What was read, against the budget, in words."""
        return (f"{self.read:,} files, {self.bytes:,} bytes read through includes; "
                f"the budget is {self.reads:,} files or {self.size:,} bytes")


def present(tree: Tree, path: str) -> bool:
    """Something other than a folder is at ``path``: a file of any kind, or a link even when
    it dangles or loops. A parser that looks for a file by name reads it when it is present,
    so a FIFO, a device or a broken link there becomes a finding instead of a silent skip."""
    try:
        if tree.readlink(path) is not None:
            return not tree.is_dir(path)
        return tree.exists(path) and not tree.is_dir(path)
    except (TreeError, OSError):
        return False


def folder_entries(tree: Tree, folder: str) -> list[str]:
    """The entry names of a folder, sorted; none when it is missing or unreadable (the callers
    report what they miss themselves)."""
    try:
        return tree.list_dir(folder) if tree.is_dir(folder) else []
    except (TreeError, OSError):
        return []


def read_text(tree: Tree, path: str, role: str, *, required: bool = True) -> TextFile:
    """Read a configuration file as text, turning every way it can be unusable into a finding.

    Decoding: UTF-8, else Latin-1 (lossless for the legacy 8-bit files these hosts have) with an
    info finding. A NUL byte means the file is binary, not configuration: an ``input.binary``
    error naming the line it is on. Unreadable files are ``input.unreadable`` errors; a missing
    file is ``input.missing`` (error if ``required``, else no finding).
    """
    try:
        real = tree.resolve(path)
        data = tree.read_bytes(real, limit=MAX_CONFIG_BYTES)
    except NotFound:
        findings = []
        if required:
            findings.append(Finding(
                "input.missing", Severity.ERROR, f"{path} does not exist",
                "Check that the inspected root is the old host's / (or its snapshot) "
                "and that the file was copied.", Source(path)))
        return TextFile(path, None, findings=findings)
    except TreeError as exc:
        return TextFile(path, None, findings=[Finding(
            "input.unreadable", Severity.ERROR, f"cannot read {exc.path}: {exc.reason}",
            unreadable_hint(exc.reason, exc.path), Source(exc.path))])
    config = ConfigFile(real, hashlib.sha256(data).hexdigest(), len(data), role)
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return TextFile(real, None, config, [Finding(
            "input.binary", Severity.ERROR,
            f"{real} holds binary data (a NUL byte on line {line}), not text",
            f"Replace {real} with the real {role} file from the old host "
            "(the copy may be truncated or overwritten).", Source(real, line))])
    findings: list[Finding] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        text = data.decode("latin-1")
        findings.append(Finding(
            "input.encoding", Severity.INFO,
            f"{real} is not UTF-8 (first bad byte on line {line}); read as Latin-1",
            "Nothing to do unless names in this file look wrong in the inventory.",
            Source(real, line)))
    if text.startswith("\ufeff"):
        text = text[1:]
    return TextFile(real, text, config, findings)


def file_mode(tree: Tree, path: str, users: dict[int, str], groups: dict[int, str]
              ) -> FileMode | None:
    """Owner, group (names where the host's passwd/group know the ids) and mode of a path,
    not following a final symlink; None when it cannot be stat'ed."""
    try:
        s = tree.stat(path, follow=False)
    except (TreeError, OSError):
        return None
    return FileMode(path, users.get(s.uid, str(s.uid)), groups.get(s.gid, str(s.gid)),
                    f"{s.mode:04o}")
