"""The ``_mailman`` crontab of the new host: Mailman's cron jobs with the old schedules.

Each job of the old host that runs one of Mailman's ``cron/`` scripts becomes the same script
of the OpenBSD package (``/usr/local/lib/mailman/cron/NAME``, run by the package's Python 2.7
with ``-S`` as Mailman's own ``crontab.in`` does), at the same time fields, with the old line
and its place in a comment above it. Standard jobs the old host did not run are written
commented out (as the old host had them); jobs that are not Mailman scripts are left out and
named in a comment (their findings say to carry them by hand).

The cutover installs the file with ``crontab -u _mailman`` once Mailman runs on the new host,
after the old host's Mailman jobs were commented out during the freeze: digests, reminders and
bounce processing never run on both hosts.
"""

from __future__ import annotations

import re

from migrate.core.mailman2 import CRON_SCRIPTS
from migrate.core.model import CronJob, Finding, Inventory, Severity, Target
from migrate.core.steps import HOST_PLAN_DIR

from emitters.common import Emitted, overlay_hint

from emitters.mailman2.paths import MM_PREFIX, MM_USER
from emitters.guard import comment, refuse
from emitters.release import Release

PATH = "files/new/crontab._mailman"
PYTHON = "/usr/local/bin/python2.7"

#: The @keywords OpenBSD's cron(8) knows (crontab(5)).
_KEYWORDS = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
             "@hourly"}
_FIELD = re.compile(r"[0-9*,/~-]+|[0-9*,/~-]*[A-Za-z]{3}[0-9A-Za-z*,/~-]*")
#: A script of Mailman's cron/ folder, as the crontab's command names it (a live word there).
_SCRIPT = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


def valid_schedule(schedule: str) -> bool:
    """Time fields cron(5) on OpenBSD reads: five fields of numbers, ranges, lists, steps,
    ``*``, ``~`` and month/day names, or one of its @keywords."""
    words = schedule.split()
    if len(words) == 1:
        return words[0].lower() in _KEYWORDS
    return len(words) == 5 and all(_FIELD.fullmatch(w) for w in words)


def schedule_problem(job: CronJob, what: str, path: str) -> Finding | None:
    """The finding for a job whose schedule OpenBSD's cron would not read (``what``: the job
    as the new crontab would run it, ``path``: that crontab in the plan), or None."""
    if valid_schedule(job.schedule):
        return None
    return Finding(
        "plan.cron-schedule", Severity.WARNING,
        f"the schedule {job.schedule!r} of cron/{job.script} is not one OpenBSD's cron reads",
        f"Write the line for {what} {overlay_hint(path)}.", job.source)


def command(script: str) -> str:
    return f"{PYTHON} -S {MM_PREFIX}/cron/{script}"


def emit_crontab(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    if inv.mailman is None:
        return out
    lines = [
        f"# crontab of {MM_USER} on {target.hostname}, written by migrate from the crontabs of",
        f"# {comment(inv.host.hostname or 'the old host')}: Mailman's jobs with their old "
        "schedules.",
        f"# Installed by the cutover: crontab -u {MM_USER} {HOST_PLAN_DIR}/{PATH}",
        "",
    ]
    seen: set[tuple[str, str]] = set()
    running: set[str] = set()
    left_out: list[str] = []
    for i, job in enumerate(inv.housekeeping.cron_jobs):
        where = comment(job.source) if job.source else "the old host"
        if job.script is None:
            left_out.append(f"# left out ({where}, not a Mailman script): {comment(job.command)}")
            continue
        if not _SCRIPT.match(job.script):
            out.findings.append(refuse(f"housekeeping.cron_jobs[{i}].script", job.script, PATH,
                                       job.source))
            lines.append(f"# not carried ({where}): script {comment(repr(job.script))}")
            continue
        problem = schedule_problem(job, job.script, PATH)
        if problem:
            out.findings.append(problem)
            lines.append(f"# not carried ({where}): schedule {comment(repr(job.schedule))}")
            continue
        if (job.schedule, job.script) in seen:
            lines.append(f"# {where}: the same job again, left out")
            continue
        seen.add((job.schedule, job.script))
        running.add(job.script)
        lines += [f"# {where}: {comment(job.schedule)} {comment(job.command)}",
                  f"{job.schedule} {command(job.script)}"]
    missing = [s for s in CRON_SCRIPTS if s not in running]
    if missing:
        lines += ["", "# Mailman's standard jobs the old host did not run (enable if needed):"]
        lines += [f"#{CRON_SCRIPTS[s]} {command(s)}" for s in missing]
    if left_out:
        lines += ["", "# Jobs of the old host that are not Mailman's scripts (carry by hand):"]
        lines += left_out
    out.files[PATH] = "\n".join(lines) + "\n"
    return out
