"""``newsyslog.conf`` lines for Mailman's logs on the new host (appended to
``/etc/newsyslog.conf`` by the cutover, between migrate's markers).

OpenBSD's newsyslog(8) reads one file name per line (no globs, no ``<include>``), so the old
host's entry for ``logs/*`` (FreeBSD's ``G`` flag) becomes one line per log Mailman 2.1 writes.
The old entry's count, size and time (``*``, hours, ``@`` and ``$`` forms, which OpenBSD reads
too) are kept; its flags are mapped (FreeBSD's J, X, Y and Z compress: OpenBSD's Z; B stays;
C, G, N and the rest have no OpenBSD meaning and go). Mailman's master process reopens every
log on SIGHUP, so each line names its pid file. Without an old entry: weekly, ten kept.
"""

from __future__ import annotations

import re

from migrate.core.model import Finding, Inventory, LogRotation, Severity, Target

from emitters.common import Emitted, Stage

from emitters.mailman2.paths import MM_GROUP, MM_USER, MM_VAR
from emitters.guard import comment
from emitters.release import Release

PATH = "files/new/etc/newsyslog.conf.mailman"
PID_FILE = f"{MM_VAR}/data/master-qrunner.pid"
#: The logs Mailman 2.1 writes (Mailman/Logging and the qrunners).
LOGS = ("bounce", "error", "fromusenet", "locks", "mischief", "post", "qrunner", "smtp",
        "smtp-failure", "subscribe", "vette")
#: newsyslog's time field: "*", hours, "@" ISO 8601 or "$" day/week/month, alone or after hours
_WHEN = re.compile(r"\*|\d+|(\d+)?(@[0-9T]+|\$[WMDL0-9]+)")


def emit_newsyslog(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    if inv.mailman is None:
        return out
    lines = newsyslog_lines(inv, target, [f"{MM_VAR}/logs/{name}" for name in LOGS],
                            f"{MM_USER}:{MM_GROUP}", PID_FILE, out, PATH)
    out.files[PATH] = "\n".join(lines) + "\n"
    out.install(PATH, "/etc/newsyslog.conf", marker="newsyslog", stage=Stage.FRAGMENT)
    return out


def newsyslog_lines(inv: Inventory, target: Target, logs: list[str], owner: str, pid_file: str,
                    out: Emitted, path: str) -> list[str]:
    """The lines of a list manager's ``logs``, each rotated as the old host rotated Mailman's
    logs (a finding in ``out`` where its time cannot be read), signalling ``pid_file``'s
    process (SIGHUP, newsyslog's default) to reopen them."""
    old = next((e for e in inv.housekeeping.log_rotation if e.path.endswith("*")), None) or \
        next(iter(inv.housekeeping.log_rotation), None)
    count, size, when, flags = 10, "*", "$W0D23", "Z"
    origin = "Mailman's logs were not rotated on the old host: weekly, ten kept"
    if old is not None:
        count = old.count if old.count is not None else count
        size = old.size if old.size and re.fullmatch(r"\*|\d+", old.size) else "*"
        if old.when and _WHEN.fullmatch(old.when):
            when = old.when
        else:
            out.findings.append(Finding(
                "plan.newsyslog-when", Severity.INFO,
                f"the rotation time {old.when!r} of Mailman's logs is not one OpenBSD reads",
                f"{path} rotates weekly instead; change it there if needed.", old.source))
        flags = _flags(old)
        origin = f"as on the old host ({comment(old.source)}: {comment(old.line)})"
    lines = [
        f"# Mailman's logs on {target.hostname}, written by migrate; appended to",
        f"# /etc/newsyslog.conf. Rotation {origin}.",
        "# Mailman's master reopens its logs on SIGHUP (the pid file below).",
    ]
    width = max(len(log) for log in logs) + 2
    for log in logs:
        flag_field = f"{flags:<3} " if flags else ""  # an empty field is left out
        lines.append(f"{log:<{width}} {owner} 664 {count:<3} {size:<5} "
                     f"{when:<8} {flag_field}{pid_file}")
    return lines


def _flags(entry: LogRotation) -> str:
    out = ""
    for ch in (entry.flags or "").upper():
        mapped = "Z" if ch in "JXYZ" else "B" if ch == "B" else ""
        if mapped and mapped not in out:
            out += mapped
    return out
