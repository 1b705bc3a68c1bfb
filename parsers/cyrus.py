"""Cyrus IMAP's ``imapd.conf``: the name its IMAP, POP and LMTP servers say they are.

imapd.conf(5) lines are ``option: value``; blank lines and lines starting with ``#`` are
ignored, and Cyrus refuses to start on a line without the colon. ``servername`` is "the
hostname visible in the greeting messages"; unset, Cyrus takes the host's name (gethostname).
People's mail programs are set up with that name, so it is a name the host answers to
(``NameUse.IMAP``), whatever else moves. The FreeBSD port reads
``/usr/local/etc/imapd.conf``; other systems ``/etc/imapd.conf``; the master's ``-C FILE``
(rc.conf's ``cyrus_imapd_flags``) names another one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from migrate.core.model import ConfigFile, Finding, HostName, NameUse, Severity, Source
from parsers.base import Tree, present, read_text

#: Where imapd.conf is, the FreeBSD port's path first.
CONFIGS = ("/usr/local/etc/imapd.conf", "/etc/imapd.conf")
#: rc.conf's names of the Cyrus service (the port's rc script has had both).
SERVICES = ("cyrus_imapd", "imapd")
_LABEL = r"[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z")


@dataclass
class CyrusResult:
    names: list[HostName] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def config_from_flags(flags: str | None) -> str | None:
    """The ``-C FILE`` of Cyrus master's flags, if they give one."""
    try:
        words = shlex.split(flags or "")
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "-C" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("-C") and len(word) > 2:
            return word[2:]
    return None


def parse_cyrus(tree: Tree, hostname: str | None, config: str | None = None) -> CyrusResult:
    """Read ``config`` (else the first of ``CONFIGS`` the tree holds): the name Cyrus answers
    as (servername, else ``hostname``)."""
    out = CyrusResult()
    path = config or next((p for p in CONFIGS if present(tree, p)), None)
    if path is None:
        return out
    tf = read_text(tree, path, "imapd.conf", required=config is not None)
    out.findings += tf.findings
    if tf.config is not None:
        out.files.append(tf.config)
    if tf.text is None:
        return out
    options: dict[str, tuple[str, Source]] = {}  # name -> value, line
    for number, line in enumerate(tf.text.splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            out.findings.append(Finding(
                "cyrus.syntax", Severity.WARNING,
                f"{tf.path}:{number} is not an 'option: value' line; Cyrus does not start "
                "with it", "Check the line on the old host (Cyrus may not be running).",
                Source(tf.path, number)))
            continue
        options[name.strip().lower()] = (value.strip(), Source(tf.path, number))
    servername = options.get("servername")
    if servername and servername[0]:
        value, source = servername
        if _HOST.match(value):
            out.names.append(HostName(value.lower().rstrip("."), NameUse.IMAP,
                                      "Cyrus servername", source))
        else:
            out.findings.append(Finding(
                "cyrus.servername", Severity.WARNING,
                f"Cyrus's servername {value!r} is not a host name",
                "Check imapd.conf on the old host: the IMAP clients connect to a name that "
                "this is not; the DNS plan cannot tell which names they depend on.", source))
    elif hostname:
        out.names.append(HostName(hostname.lower().rstrip("."), NameUse.IMAP,
                                  "Cyrus IMAP (servername not set: the host's name)",
                                  Source(tf.path)))
    return out
