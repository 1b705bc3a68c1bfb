"""Mailman 2.1 on OpenBSD (the mailman package, its smtpd flavour): the destination that ships.

Its files are written by ``mailman_cfg.py`` (the mm_cfg.py additions, the after-copy script, the
wrapper check), ``crontab.py`` (the ``_mailman`` crontab) and ``newsyslog.py``; its fixed paths
are ``paths.py``'s. The lists are copied into the package's own var folder as they
are (Mailman 2 reads Mailman 2's files), so instantiating them is ``fix_url``, owners and
``check_perms``; the package's rc script ``mailman`` starts the qrunners, at the switch only.
"""

from __future__ import annotations

from migrate.core.mailman2 import (COMMAND_QUEUE, DELIVERY_QUEUES, INBOUND_QUEUES,
                                   SHUNT_QUEUE, SITE_PASSWORD_FILES)
from migrate.core.model import Finding, Inventory, Severity
from migrate.core.steps import NEW_MAILMAN, PREFLIGHT_NEW, Run, Step, Wait

from emitters.common import MTA_USER, Emitted, is_domain, list_names, old_var, room_for
from emitters.destination import Destination, WebFolders, register, request_answered
from emitters.guard import comment, sh_word
from emitters.new_host import NewHost, list_locations
from emitters.mailman2.crontab import PATH as CRONTAB
from emitters.mailman2.crontab import emit_crontab
from emitters.mailman2.mailman_cfg import AFTER_COPY, emit_mailman, wrapper_check_command
from emitters.mailman2.newsyslog import emit_newsyslog
from emitters.mailman2.paths import (MM_ARCHIVE_PREFIX, MM_CGI, MM_CGI_PREFIX, MM_GROUP,
                                     MM_ICONS, MM_ICONS_PREFIX, MM_MAIL_GID, MM_PREFIX, MM_USER,
                                     MM_VAR, MM_WRAPPER)
from emitters.rc_conf_local import disable_script, enable_script
from emitters.rsync_plan import FREEZE_MANIFEST

WRAPPER_NOTE = (f"the check below runs {MM_PREFIX}/mail/mailman post as {MTA_USER}, as smtpd "
                "would, without a list")
q = sh_word
_step = Step.make


@register
class Mailman2(Destination):
    kind = "mailman2"
    name = "Mailman 2.1"
    packages = ("mailman",)
    user = MM_USER
    group = MM_GROUP
    var = MM_VAR
    services = ("mailman",)
    web = WebFolders(cgi=MM_CGI, icons=MM_ICONS, archive=f"{MM_VAR}/archives/public",
                     cgi_prefix=MM_CGI_PREFIX, icons_prefix=MM_ICONS_PREFIX,
                     archive_prefix=MM_ARCHIVE_PREFIX)
    delivery_note = (f"Pipes run as {MTA_USER}: the mailman package's smtpd flavour expects "
                     "that group.")

    def delivery(self, list_name: str, action: str) -> str:
        """The package's mail wrapper with Mailman's command and the list."""
        return f"|{MM_WRAPPER} {action} {list_name}"

    def emit(self, host: NewHost) -> Emitted:
        out = Emitted()
        if self.release.mailman2_package_known:
            out.findings.append(Finding(
                "plan.mailman-package", Severity.WARNING,
                f"the mailman 2 package (smtpd flavour) must exist for OpenBSD {self.release}",
                "Run `pkg_info -Q mailman` on the new host before anything else (the runbook's "
                "preflight does): the move cannot go ahead without it.", None))
        else:
            out.findings.append(Finding(
                "plan.mailman-package", Severity.WARNING,
                f"it is not known whether OpenBSD {self.release} has the mailman 2 package: "
                "the last release it is known for is 6.9 (the port was still in the tree in "
                "April 2021; Python 2, which it needs, has left the ports tree since)",
                "Run `pkg_info -Q mailman` on the new host before anything else (the runbook's "
                "preflight does, and stops there without it). Without the package, plan for "
                "the release the new host can have it on (--openbsd), or with "
                "--list-manager mailman3.", None))
        lists, _ = list_locations(self.inv, self.target, self, self.release)
        out.add(emit_mailman(self.inv, self.target, self.release, lists), "mailman")
        for emitter in (emit_crontab, emit_newsyslog):
            out.add(emitter(self.inv, self.target, self.release),
                    emitter.__name__.removeprefix("emit_"))
        return out

    def preflight(self, total: int) -> list[Step]:
        room = room_for(total)
        return [_step(
            PREFLIGHT_NEW, "preflight", "new", "The new host has room and the mailman package",
            "The package (smtpd flavour) must be installable; the lists and archives need "
            f"{room} in {room.folder} (their size plus 20%).",
            ["pkg_info -Q mailman | grep -q '^mailman-2'", room.check])]

    def install(self) -> list[Step]:
        packages = " ".join(self.packages + ("rsync",))  # GNU rsync receives the sync
        return [
            _step("new-packages", "prepare", "new",
                  "Install the mailman (smtpd flavour) and rsync packages",
                  "The mailman 2 package may be missing on recent releases; nothing else can "
                  "go ahead without it. GNU rsync receives the sync.",
                  ["pkg_info -Q mailman", f"pkg_add {packages}"],
                  ["pkg_info -e 'mailman-*'", f"test -x {MM_PREFIX}/mail/mailman"],
                  [f"pkg_delete {packages}"]),
            _step("new-groups", "prepare", "new", "Let smtpd and the web server into _mailmanq",
                  "The package's README: the MTA user and www must be in _mailmanq to reach "
                  "the queue.",
                  [f"usermod -G _mailmanq {MTA_USER}", "usermod -G _mailmanq www"],
                  [f"id -Gn {MTA_USER} | grep -qw _mailmanq",
                   "id -Gn www | grep -qw _mailmanq"]),
        ]

    def prepared(self) -> list[Step]:
        # the mail wrapper as smtpd runs it: the earliest point it can run (the package and
        # the plan's mm_cfg.py are in place), while the old host still takes every post
        return [_step(
            "new-wrapper-group", "prepare", "new",
            "Mailman's mail wrapper takes smtpd's deliveries",
            f"smtpd runs the aliases' pipes as {MTA_USER}; the wrapper of the package's smtpd "
            f"flavour expects the group {MM_MAIL_GID}, and one built for another group (the "
            "postfix or sendmail flavour) refuses every post with \"Group mismatch error\". "
            "The check runs the wrapper as "
            f"{MTA_USER} with no list: it queues nothing, and fails with Mailman's own "
            "message. It runs again before mail is routed here and in the verification.",
            [f"# {WRAPPER_NOTE}"],
            [wrapper_check_command()])]

    def start(self) -> list[Step]:
        inv = self.inv
        var = old_var(inv)
        # the site's password files: carried by the final sync where the old host has them
        # (checked here); where it has none, setting one is the operator's (mmsitepass asks)
        carried = sorted({fl.path.rsplit("/", 1)[1] for fl in (inv.mailman.site_files
                                                               if inv.mailman else [])}
                         & set(SITE_PASSWORD_FILES))
        site_pw = [f"test -s {q(f'{MM_VAR}/data/{name}')}" for name in carried]
        admin = SITE_PASSWORD_FILES[0]  # adm.pw: the site administrator's
        site_note = ([f"# the old host has no {comment(var)}/data/{admin}: to give the site "
                      "administrator "
                      f"one on this host, run `{MM_PREFIX}/bin/mmsitepass` (it asks)"]
                     if inv.mailman and admin not in carried else [])
        # the way back stops the new host taking mail first (senders retry, and reach the old
        # host once DNS names it again), lets its Mailman take whole what it took (a post left
        # in its queues would be neither archived nor sent), and lists what it archived since
        # the switch (not in the old host's archive) and the deliveries still waiting for the
        # MTA
        inbound = " ".join(q(f"{MM_VAR}/qfiles/{qn}") for qn in INBOUND_QUEUES)
        waiting = " ".join(q(f"{MM_VAR}/qfiles/{qn}") for qn in DELIVERY_QUEUES)
        drain_new = [
            "rcctl stop smtpd  # no more posts arrive here; senders retry",
            Wait(command=f"test \"$(find {inbound} -type f 2>/dev/null | wc -l)\" -eq 0",
                 timeout=900, interval=10),
            Run(report=True, command=(
                f"find {MM_VAR}/archives/private -type f -name '*.mbox' -newer "
                f"{FREEZE_MANIFEST} 2>/dev/null; echo \"deliveries waiting: $(find {waiting} "
                "-type f 2>/dev/null | wc -l)\"")),
            "# the archive mboxes listed above took posts here after the switch: copy them "
            f"back to the old host ({comment(var)}/archives/private/) and run its bin/arch "
            "--wipe for those lists before it takes mail again; deliveries still waiting go "
            "out when smtpd and Mailman run here once more (after DNS names the old host "
            "again)"]
        cron = inv.mailman is not None
        return [_step(
            NEW_MAILMAN, "switch", "new", "Instantiate the lists and start Mailman",
            "fix_url (host names, public archive links), owners and check_perms, which must "
            "then find nothing; the wrapper's group check again, before any mail is routed "
            "here; the site's adm.pw and creator.pw, where the old host had them, came with "
            "the final sync.",
            [f"sh \"$PLAN/{AFTER_COPY}\"", *map(enable_script, self.services),
             f"rcctl start {' '.join(self.services)}"]
            + ([f"crontab -u {MM_USER} \"$PLAN/{CRONTAB}\"  # Mailman's jobs, old schedules"]
               if cron else []) + site_note,
            [*(f"rcctl check {s}" for s in self.services), wrapper_check_command()]
            + ([f"crontab -u {MM_USER} -l >/dev/null"] if cron else []) + site_pw,
            drain_new + ([f"crontab -u {MM_USER} -r"] if cron else [])
            + [f"rcctl stop {' '.join(self.services)}", *map(disable_script, self.services)])]

    def verify(self) -> list[Step]:
        domains = [d for d in self.target.email_domains if is_domain(d)]
        request = _site_request(self.inv, domains)
        return [_step(
            "verify", "verify", "new", "Mail and web work on the new host",
            "A request to the site list's -request address goes through smtpd, the wrapper, "
            "Mailman's qrunners and back out.",
            [f"echo help | mail -s help {q(request)}",
             request_answered(request, f"{MM_VAR}/qfiles/{COMMAND_QUEUE}")]
            if request else [],
            ["! grep -E 'result=(PermFail|TempFail)' /var/log/maillog | tail -n 20 | "
             "grep -q .",
             f"test -z \"$(ls {MM_VAR}/qfiles/{SHUNT_QUEUE})\"", wrapper_check_command()])]


def _site_request(inv: Inventory, domains: list[str]) -> str | None:
    site = inv.mailman.site_list if inv.mailman else None
    names, _ = list_names(inv)
    host = next((ml.host_name for ml in inv.lists if ml.name == site), None)
    if site in names and host in domains:
        return f"{site}-request@{host}"
    return None
