"""Mailman's cron jobs: which of its ``cron/`` scripts run, when, as whom.

FreeBSD keeps a user's crontab in ``/var/cron/tabs/USER`` (what ``crontab -u mailman`` writes;
the Mailman port's ``pkg-message`` tells the admin to install ``cron/crontab.in`` there), and
system crontabs in ``/etc/crontab`` and ``/etc/cron.d``/``/usr/local/etc/cron.d`` with a user
field after the schedule. Both are read as cron(5) has them:

* a line is an environment setting (``NAME = value``), a comment (``#`` first), or a job:
  five time fields (``min hour mday month wday``, each ``*``, numbers, ranges, lists, steps and
  month/day names) or one ``@keyword`` (``@reboot``, ``@daily``, ``@every_minute``...), then in
  system crontabs the user, then the command to the end of the line;
* a ``%`` in the command starts its standard input (FreeBSD and Vixie cron); kept verbatim.

A job is Mailman's when its command names one of Mailman's cron scripts (``.../cron/NAME``
where NAME is one of ``SCRIPTS``), or when it runs as the Mailman user. A standard job that no
crontab runs is a finding: lists degrade silently without them (no digests, no bounce
processing, no moderator reminders). Commented-out standard jobs count as missing, and say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate.core.mailman2 import CRON_SCRIPTS
from migrate.core.model import ConfigFile, CronJob, Finding, Severity, Source
from parsers.base import Tree, folder_entries, present, read_text

USER_TABS = ("/var/cron/tabs", "/var/spool/cron/crontabs", "/var/spool/cron")
SYSTEM_TABS = ("/etc/crontab",)
SYSTEM_DIRS = ("/etc/cron.d", "/usr/local/etc/cron.d")

#: What a list loses without each of Mailman 2.1's cron scripts (``CRON_SCRIPTS``), and the
#: severity of its absence.
SCRIPTS: dict[str, tuple[Severity, str]] = {
    "checkdbs": (Severity.WARNING, "moderators get no daily reminder of held messages"),
    "disabled": (Severity.WARNING, "bounce-disabled members are never reminded or removed"),
    "senddigests": (Severity.WARNING, "digests go out only when they reach their size limit"),
    "mailpasswds": (Severity.INFO, "no monthly password reminders (often off on purpose)"),
    "gate_news": (Severity.INFO, "no mail-to-news gating (needed only by gatewayed lists)"),
    "nightly_gzip": (Severity.INFO, "the archive's .txt.gz files are not refreshed nightly"),
    "cull_bad_shunt": (Severity.INFO, "the bad and shunt queues are never culled"),
}

_KEYWORDS = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
             "@hourly", "@every_minute", "@every_second"}
_FIELD = re.compile(r"^[\d*,/\-A-Za-z]+$")
_ENV = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
_SCRIPT = re.compile(r"/cron/(" + "|".join(CRON_SCRIPTS) + r")\b")
#: a credential on a command line (``--password=x``, ``-p x`` is too ambiguous to touch)
_SECRET = re.compile(r"(?i)((?:--?)?(?:pass(?:word|wd)?|secret|token)[=:\s]\s*)(\S+)")


@dataclass
class CronResult:
    jobs: list[CronJob] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def script_of(command: str) -> str | None:
    """The Mailman cron script a command runs, or None."""
    m = _SCRIPT.search(command)
    return m.group(1) if m else None


def parse_line(line: str, system: bool) -> tuple[str, str, str] | None:
    """(schedule, user, command) of a crontab job line, '' for the user of a user crontab;
    None for blank lines, comments and environment settings. Raises ValueError on a line
    that is none of these."""
    text = line.strip()
    if not text or text.startswith("#") or _ENV.match(text):
        return None
    words = text.split()
    if words[0].startswith("@"):
        if words[0].lower() not in _KEYWORDS:
            raise ValueError(f"unknown cron keyword {words[0]}")
        head = 1
    else:
        if len(words) < 6 or not all(_FIELD.match(w) for w in words[:5]):
            raise ValueError("not five time fields and a command")
        head = 5
    schedule = " ".join(words[:head])
    rest = text.split(None, head)[head] if len(words) > head else ""
    user = ""
    if system:
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise ValueError("a system crontab line needs a user and a command")
        user, rest = parts
    if not rest:
        raise ValueError("no command")
    return schedule, user, rest


def parse_cron(tree: Tree, mailman_user: str = "mailman") -> CronResult:
    """Every Mailman job of the host's crontabs, and a finding for each standard job none
    runs. ``mailman_user`` is the user Mailman runs as (its crontab is read first)."""
    out = CronResult()
    tabs: list[tuple[str, str | None]] = []  # (path, user of a user crontab or None)
    for folder in USER_TABS:
        names = folder_entries(tree, folder)
        for name in names:
            if not name.startswith(".") and not name.startswith("tmp."):
                tabs.append((f"{folder}/{name}", name))
        if names:
            break  # one spool per system
    tabs += [(path, None) for path in SYSTEM_TABS if present(tree, path)]
    for folder in SYSTEM_DIRS:
        tabs += [(f"{folder}/{n}", None) for n in folder_entries(tree, folder)
                 if not n.startswith(".")]

    commented: dict[str, Source] = {}
    for path, owner in tabs:
        text = read_text(tree, path, "crontab", required=False)
        out.findings += text.findings
        if text.text is None:
            continue
        relevant = False
        for n, line in enumerate(text.lines(), 1):
            stripped = line.lstrip()
            if stripped.startswith("#"):
                script = script_of(stripped)
                if script and re.match(r"#\s*[\d*@]", stripped):
                    commented.setdefault(script, Source(text.path, n))
                continue
            try:
                parsed = parse_line(line, system=owner is None)
            except ValueError as exc:
                if owner == mailman_user or script_of(line):
                    out.findings.append(Finding(
                        "cron.syntax", Severity.WARNING, f"a crontab line cron would refuse: "
                        f"{exc}", "Check the line; the new host's crontab leaves it out.",
                        Source(text.path, n)))
                continue
            if parsed is None:
                continue
            schedule, user, command = parsed
            user = user or owner or ""
            script = script_of(command)
            if script is None and user != mailman_user:
                continue
            relevant = True
            command = _SECRET.sub(r"\1<hidden>", command)  # never into the inventory
            out.jobs.append(CronJob(schedule, user, command, script, Source(text.path, n)))
            if script is None:
                out.findings.append(Finding(
                    "cron.custom", Severity.WARNING,
                    f"a job of the {user} user that is not one of Mailman's scripts: {command}",
                    "Carry it to the new host by hand (its paths and tools differ), or drop "
                    "it.", Source(text.path, n)))
        if relevant and text.config is not None:
            out.files.append(text.config)

    running = {j.script for j in out.jobs if j.script}
    # a missing job belongs where Mailman's other jobs are (or its user's crontab)
    own = next((j.source.file for j in out.jobs if j.script and j.source), None) or next(
        (p for p, o in tabs if o == mailman_user), f"{USER_TABS[0]}/{mailman_user}")
    for script, (severity, loss) in SCRIPTS.items():
        if script in running:
            continue
        where = commented.get(script)
        note = f" (commented out at {where})" if where else ""
        out.findings.append(Finding(
            "cron.missing", severity, f"no crontab runs Mailman's cron/{script}{note}: {loss}",
            "The new host's crontab for Mailman keeps it commented out as the old host had it; "
            "enable the line there if the lists need it.", where or Source(own)))
    return out
