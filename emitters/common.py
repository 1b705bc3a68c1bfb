"""What every emitter shares: the result type, the new host's fixed paths, and the rules that
keep values from the old host (list names, domains, addresses) out of configs and scripts unless
they are plainly safe.

Values come from an inventory, which comes from an old host nobody fully trusts: a list name
with a quote, ``;``, ``$(...)``, ``../`` or a newline must never reach ``smtpd.conf``, an
aliases file or a shell script. Emitters call ``check_*`` and leave out what fails, with a
blocker finding naming the value; what passes contains no character any of those files treats
specially, so it is written as it is (quoted where the grammar wants quotes anyway).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate.model import Finding, Inventory, Severity, Source

# The OpenBSD mailman package (ports mail/mailman): code in MMHOME, data in MMSPOOL.
MM_PREFIX = "/usr/local/lib/mailman"
MM_VAR = "/var/spool/mailman"
MM_WRAPPER = f"{MM_PREFIX}/mail/mailman"
MM_CGI = f"{MM_PREFIX}/cgi-bin"
MM_ICONS = f"{MM_PREFIX}/icons"
MM_USER = "_mailman"
MM_GROUP = "_mailman"
#: The group the smtpd-flavoured package's mail wrapper expects (--with-mail-gid=_smtpd).
MM_MAIL_GID = "_smtpd"
SLOWCGI_SOCKET = "/var/www/run/slowcgi.sock"  # as seen with httpd's chroot "/"

#: Mailman 2's ten addresses per list: suffix -> the wrapper's command.
MAILMAN_ADDRESSES = (
    ("", "post"), ("-admin", "admin"), ("-bounces", "bounces"), ("-confirm", "confirm"),
    ("-join", "join"), ("-leave", "leave"), ("-owner", "owner"), ("-request", "request"),
    ("-subscribe", "subscribe"), ("-unsubscribe", "unsubscribe"),
)

# Mailman 2.1's ACCEPTABLE_LISTNAME_CHARACTERS is [-+_.=a-z0-9]; a leading dot or dash would
# read as a hidden file or an option.
_LIST_NAME = re.compile(r"[a-z0-9][-+_.=a-z0-9]{0,63}\Z")
_DOMAIN = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                     r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_LOCAL_PART = re.compile(r"[A-Za-z0-9][-+_.=A-Za-z0-9]{0,63}\Z")
_ADDRESS = re.compile(r"[A-Za-z0-9][-+_.=A-Za-z0-9]{0,63}@" + _DOMAIN.pattern[:-2] + r"\Z",
                      re.IGNORECASE)
_PATH = re.compile(r"/[-+_.=/A-Za-z0-9]*\Z")


@dataclass
class Emitted:
    """One emitter's output: files (plan-relative path -> text) and its findings."""

    files: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # machine-readable parts for plan.yaml

    def add(self, other: "Emitted") -> None:
        self.files.update(other.files)
        self.findings.extend(other.findings)
        self.data.update(other.data)


def is_list_name(name: str) -> bool:
    return bool(_LIST_NAME.match(name or ""))


def is_domain(name: str) -> bool:
    return bool(_DOMAIN.match(name or ""))


def is_local_part(name: str) -> bool:
    return bool(_LOCAL_PART.match(name or ""))


def is_address(text: str) -> bool:
    return bool(_ADDRESS.match(text or ""))


def is_path(text: str) -> bool:
    return bool(_PATH.match(text or "")) and "/../" not in text + "/" and "//" not in text


def unsafe(kind: str, value: str, where: str, source: Source | None = None) -> Finding:
    """The blocker for a value that cannot be written safely (the value itself shown escaped)."""
    return Finding(
        "plan.unsafe-value", Severity.BLOCKER,
        f"{kind} {value!r} cannot be written into {where}: it holds characters that the file "
        "or a shell would read as syntax",
        f"Rename the {kind} on the old host (or leave it out of the move) and inspect again; "
        "the plan leaves it out until then.", source)


def list_names(inv: Inventory) -> tuple[list[str], list[Finding]]:
    """The inventory's list names that can be written safely, and blockers for the others."""
    names, findings = [], []
    for ml in inv.lists:
        if is_list_name(ml.name):
            names.append(ml.name)
        else:
            findings.append(unsafe("list name", ml.name, "the aliases file and smtpd.conf",
                                   ml.source))
    return sorted(names), findings
