"""Mailman 3's crontab and newsyslog lines on the new host.

The crontab carries each of the old host's Mailman 2 cron jobs that has a Mailman 3 command, at
its old schedule: ``senddigests`` becomes ``mailman digests --periodic`` (the digests of lists
that send them periodically), ``checkdbs`` becomes ``mailman notify`` (the moderators' reminder
of what waits), ``gate_news`` becomes ``mailman gatenews`` (mailman/commands/cli_digests.py,
cli_notify.py, cli_gatenews.py in 3.3.10). The others have no Mailman 3 job: Mailman 3's runners
do bounce processing themselves (``disabled``), members have no list passwords
(``mailpasswds``), there is no pipermail (``nightly_gzip``), and its shunt queue is emptied by
``mailman unshunt`` by hand (``cull_bad_shunt``); the file names each one left.

newsyslog rotates the logs Mailman 3 writes (schema.cfg's ``[logging.*] path``), each as the
old host rotated Mailman's; the master reopens them on SIGHUP (its pid file).
"""

from __future__ import annotations

from migrate.core.mailman2 import CRON_SCRIPTS
from migrate.core.model import Inventory, Target
from migrate.core.steps import HOST_PLAN_DIR

from emitters.common import Emitted, Stage
from emitters.guard import comment
from emitters.mailman2.crontab import schedule_problem
from emitters.mailman2.newsyslog import newsyslog_lines
from emitters.mailman3.paths import MAILMAN, MM3_GROUP, MM3_PID, MM3_USER, MM3_VAR
from emitters.release import Release

CRONTAB = "files/new/crontab._mailman3"
NEWSYSLOG = "files/new/etc/newsyslog.conf.mailman3"
#: Mailman 2's cron script -> the Mailman 3 command that does its work (None: none needed).
JOBS: dict[str, str | None] = {
    "senddigests": "digests --periodic",
    "checkdbs": "notify",
    "gate_news": "gatenews",
    "disabled": None,
    "mailpasswds": None,
    "nightly_gzip": None,
    "cull_bad_shunt": None,
}
#: Why a Mailman 2 job has no Mailman 3 one.
_NO_JOB = {
    "disabled": "Mailman 3's bounce runner warns and removes members itself",
    "mailpasswds": "Mailman 3 lists have no member passwords to remind of",
    "nightly_gzip": "Mailman 3 has no pipermail archive to compress",
    "cull_bad_shunt": "empty Mailman 3's shunt queue by hand (mailman unshunt)",
}
#: The logs Mailman 3 writes by default (mailman/config/schema.cfg, 3.3.10).
LOGS = ("mailman.log", "bounce.log", "smtp.log")
assert set(JOBS) == set(CRON_SCRIPTS) and set(_NO_JOB) == {k for k, v in JOBS.items() if not v}


def emit_housekeeping(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    if inv.mailman is None:
        return out
    lines = [
        f"# crontab of {MM3_USER} on {target.hostname}, written by migrate from the crontabs "
        "of",
        f"# {comment(inv.host.hostname or 'the old host')}: the Mailman 3 commands of its "
        "Mailman jobs, old schedules.",
        f"# Installed by the cutover: crontab -u {MM3_USER} {HOST_PLAN_DIR}/{CRONTAB}",
        "",
    ]
    running: set[str] = set()
    for job in inv.housekeeping.cron_jobs:
        if job.script is None or job.script not in JOBS:
            continue  # the Mailman 2 crontab's findings name the others
        where = comment(job.source) if job.source else "the old host"
        new = JOBS[job.script]
        if new is None:
            lines.append(f"# {where}: cron/{job.script} not carried: {_NO_JOB[job.script]}")
            continue
        problem = schedule_problem(job, f"`mailman {new}`", CRONTAB)
        if problem:
            out.findings.append(problem)
            lines.append(f"# not carried ({where}): schedule {comment(repr(job.schedule))}")
            continue
        if job.script in running:
            lines.append(f"# {where}: cron/{job.script} again, left out")
            continue
        running.add(job.script)
        lines += [f"# {where}: {comment(job.schedule)} {comment(job.command)}",
                  f"{job.schedule} {MAILMAN} {new}"]
    missing = [s for s, new in JOBS.items() if new and s not in running]
    if missing:
        lines += ["", "# Mailman 3 jobs whose Mailman 2 job the old host did not run (enable "
                  "if needed):"]
        lines += [f"#{CRON_SCRIPTS[s]} {MAILMAN} {JOBS[s]}" for s in missing]
    out.files[CRONTAB] = "\n".join(lines) + "\n"

    logs = newsyslog_lines(inv, target, [f"{MM3_VAR}/logs/{name}" for name in LOGS],
                           f"{MM3_USER}:{MM3_GROUP}", MM3_PID, out, NEWSYSLOG)
    out.files[NEWSYSLOG] = "\n".join(logs) + "\n"
    out.install(NEWSYSLOG, "/etc/newsyslog.conf", marker="newsyslog", stage=Stage.FRAGMENT)
    return out
