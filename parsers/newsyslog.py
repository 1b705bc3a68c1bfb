"""Log rotation of Mailman's logs: FreeBSD's ``newsyslog.conf``.

newsyslog.conf(5) lines are ``logfilename [owner:group] mode count size when flags
[/pid_file] [sig_num]``, whitespace separated, ``#`` comments. ``owner:group`` is optional (it
is there when the second field holds a ``:``, or the older ``.``). FreeBSD 9 and later read
more files through ``<include> PATTERN`` lines (the default file includes
``/etc/newsyslog.conf.d/*`` and ``/usr/local/etc/newsyslog.conf.d/*``, where ports drop their
entries); ``<default>``/``<globdefault>`` entries are read as entries of that name.

An entry concerns Mailman when its file is under Mailman's log folder (``VAR/logs``) or its path
says ``mailman``. Mailman 2 writes its logs forever without rotation: no entry for them is a
finding. Its long-running qrunners keep their logs open and reopen them only when told
(``mailmanctl reopen``, or SIGHUP to the master whose pid is in ``data/master-qrunner.pid``):
an entry without that pid file has newsyslog signal syslogd instead, and the qrunners go on
writing into the rotated file (lost once it is compressed and removed) - also a finding.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

from migrate.core.model import ConfigFile, Finding, LogRotation, Severity, Source
from parsers.base import Tree, folder_entries, present, read_text

MAIN = "/etc/newsyslog.conf"
#: FreeBSD's default includes, read even when the main file is missing
DEFAULT_INCLUDES = ("/etc/newsyslog.conf.d/*", "/usr/local/etc/newsyslog.conf.d/*")
_MODE = re.compile(r"^[0-7]{3,4}$")


@dataclass
class NewsyslogResult:
    entries: list[LogRotation] = field(default_factory=list)  # Mailman's
    files: list[ConfigFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def parse_entry(line: str) -> LogRotation | None:
    """One newsyslog.conf entry; None for blank lines and comments. Raises ValueError when
    the fields do not fit the format."""
    text = line.split("#", 1)[0].strip() if not line.lstrip().startswith("<") else line.strip()
    if not text:
        return None
    words = text.split()
    name = words.pop(0)
    owner = None
    if words and not _MODE.match(words[0]) and (":" in words[0] or "." in words[0]):
        owner = words.pop(0)
    if len(words) < 4:
        raise ValueError("too few fields (want mode, count, size and when)")
    mode, count, size, when = words[:4]
    if not _MODE.match(mode):
        raise ValueError(f"mode {mode!r} is not octal")
    if not count.isdigit():
        raise ValueError(f"count {count!r} is not a number")
    flags = words[4] if len(words) > 4 and not words[4].startswith("/") else None
    rest = words[5:] if flags is not None else words[4:]
    pid_file = rest[0] if rest and rest[0].startswith("/") else None
    return LogRotation(name, line.strip(), owner, mode, int(count), size, when, flags,
                       pid_file)


def parse_newsyslog(tree: Tree, mailman_var: str | None) -> NewsyslogResult:
    """Mailman's entries of the host's newsyslog configuration, with the files read."""
    out = NewsyslogResult()
    seen: set[str] = set()
    logs = posixpath.join(mailman_var, "logs") if mailman_var else None

    def concerns_mailman(path: str) -> bool:
        return bool(logs and (path == logs or path.startswith(logs + "/"))) \
            or "mailman" in path.lower()

    def expand(pattern: str) -> list[str]:
        folder, glob = posixpath.split(pattern)
        return [f"{folder}/{n}" for n in folder_entries(tree, folder)
                if fnmatch.fnmatchcase(n, glob) and not n.startswith(".")]

    def read(path: str, depth: int) -> None:
        if path in seen or depth > 8:
            return
        seen.add(path)
        text = read_text(tree, path, "newsyslog", required=False)
        out.findings += text.findings
        if text.text is None:
            return
        relevant = False
        for n, line in enumerate(text.lines(), 1):
            stripped = line.strip()
            if stripped.lower().startswith("<include>"):
                pattern = stripped[len("<include>"):].strip()
                for included in (expand(pattern) if "*" in pattern or "?" in pattern
                                 else [pattern]):
                    read(included, depth + 1)
                continue
            try:
                entry = parse_entry(line)
            except ValueError as exc:
                if concerns_mailman(line.split()[0] if line.split() else ""):
                    out.findings.append(Finding(
                        "newsyslog.syntax", Severity.WARNING,
                        f"a newsyslog entry for Mailman's logs newsyslog would refuse: {exc}",
                        "Fix or drop it; the new host's entry is written from Mailman's "
                        "defaults.", Source(text.path, n)))
                continue
            if entry is None or not concerns_mailman(entry.path):
                continue
            entry.source = Source(text.path, n)
            out.entries.append(entry)
            relevant = True
            flags = (entry.flags or "").upper()
            if entry.pid_file is None:  # (N only skips the signal: the same result)
                out.findings.append(Finding(
                    "newsyslog.no-reopen", Severity.WARNING,
                    f"rotating {entry.path} signals syslogd, not Mailman: its qrunners keep "
                    "writing into the rotated file" + (" (then compressed and removed: "
                    "those lines are lost)" if set(flags) & set("JXYZ") else ""),
                    f"On the old host add {mailman_var or '/usr/local/mailman'}/data/"
                    "master-qrunner.pid to the entry; the new host's entries name Mailman's "
                    "pid file.", entry.source))
        if relevant and text.config is not None:
            out.files.append(text.config)

    if present(tree, MAIN):
        read(MAIN, 0)
    else:
        for pattern in DEFAULT_INCLUDES:
            for path in expand(pattern):
                read(path, 1)
    if logs and not out.entries:
        out.findings.append(Finding(
            "newsyslog.missing", Severity.INFO,
            f"no newsyslog entry rotates Mailman's logs ({logs})",
            "The new host's newsyslog.conf gets an entry for Mailman's logs; Mailman "
            "reopens its logs by itself.", Source(MAIN)))
    return out
