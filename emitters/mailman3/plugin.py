"""Mailman 3 on OpenBSD: core from PyPI in a virtual environment, smtpd delivering over LMTP.

Mail: smtpd's first rule matches every address Mailman 3 answers, from a list table that a hook
fills from the map Mailman rewrites at each list's creation or removal (``mailman_cfg.py``),
and delivers it over LMTP to Mailman's lmtp runner on loopback. Every other old address of a
list (``LIST-admin``, which Mailman 3 does not have and which was Mailman 2's ``-bounces``; the
list at the other moved domains; old aliases of lists) is an alias or virtual entry to the
list's Mailman 3 address (``delivery``), which smtpd matches again. The lists: the old host's
var folder is copied to ``/var/mailman3/import21`` and every list is created and imported from
it (``lists.py``). What waited in Mailman 2 (held posts, subscriptions waiting for the
moderator or a confirmation) is exported on the old host once it stopped and carried in after
the import (``scripts/``: held posts held again with Mailman 2's reason, subscriptions waiting
again, new confirmations); the posts collected for a digest go out from the old host before it
stops.
"""

from __future__ import annotations

from functools import cached_property
from importlib import resources

from migrate.core.mailman2 import ACTION_SUFFIX, MODERATED_SUBSCRIPTIONS
from migrate.core.model import Finding, Inventory, MailingList, Severity
from migrate.core.steps import NEW_MAILMAN, PREFLIGHT_NEW, Run, Step, Wait

from emitters.common import Emitted, is_domain, old_mailman, old_var, room_for
from emitters.destination import Destination, WebFolders, register, request_answered
from emitters.guard import sh_word
from emitters.mailman2.paths import MM_ARCHIVE_PREFIX, MM_CGI_PREFIX, MM_ICONS_PREFIX
from emitters.mailman3 import web as webui
from emitters.mailman3.archives import (IMPORT_SCRIPT as ARCHIVES_SCRIPT, archived_lists,
                                        check_command, emit_archives, mbox_on_new_host)
from emitters.mailman3.housekeeping import CRONTAB, emit_housekeeping
from emitters.mailman3.lists import IMPORT_SCRIPT, emit_lists, lists_in_mailman3
from emitters.mailman3.mailman_cfg import emit_config
from emitters.mailman3.paths import (LMTP_HOST, LMTP_PORT, MAILMAN, MM3_BIN, MM3_DATA,
                                     MM3_GROUP, MM3_IMPORT, MM3_SERVICE, MM3_TABLE, MM3_USER,
                                     MM3_VAR, MM3_VENV, MM3_WAITING, MM3_CONFIG, REQUIREMENTS,
                                     SMTPD_LIST_TABLE, STATIC_URL, WAITING_FOLDER,
                                     WAITING_IMPORTER, WEB_BIN, WEB_DATA, WEB_NONE, WEB_PREFIXES,
                                     WEB_PYTHON, WEB_REQUIREMENTS, WEB_SERVICE, WEB_SOCKET,
                                     WEB_STATIC_PARENT, WEB_TASKS_SERVICE, WEB_USER, WEB_VENV)
from emitters.new_host import NewHost
from emitters.rc_conf_local import disable_script, enable_script
from emitters.rsync_plan import FREEZE_MANIFEST

LOCK_FILE = "files/new/mailman3/requirements.txt"
WEB_LOCK_FILE = "files/new/mailman3/web-requirements.txt"
#: The old host's scripts, run by its Mailman 2 (a folder on PYTHONPATH, module names kept).
OLD_SCRIPTS = "files/old/mailman3"
DIGESTS_SCRIPT = f"{OLD_SCRIPTS}/old_digests.py"
EXPORT_SCRIPT = f"{OLD_SCRIPTS}/export_waiting.py"
WAITING_SCRIPT = "files/new/mailman3/import_waiting.py"
#: Where Mailman 3's prototype archiver keeps every archived post, a maildir per list.
PROTOTYPE = f"{MM3_VAR}/archives/prototype"
#: Where a mail to a list's -request address waits until Mailman 3 has answered it.
COMMAND_QUEUE = "command"
#: Mailman 3's queues that hold a message on its way (mailman/config/schema.cfg, runners).
INBOUND = ("in", "pipeline", COMMAND_QUEUE, "archive", "bounces", "digest", "virgin")
q = sh_word
_step = Step.make


@register
class Mailman3(Destination):
    kind = "mailman3"
    name = "Mailman 3"
    #: the ports' meta package that depends on the default python 3 ("Allows adding it with
    #: pkg_add python3 rather than needing to know the correct subdir name (as you would with
    #: pkg_add python%3.7)": ports meta/python3, commit 65a6d83 of a mirror of OpenBSD ports)
    #: sassc: mailman-web's compress step compiles HyperKitty's and Postorius's SCSS with it;
    #: rust: pip builds nh3, comrak and cryptography (the web UI's) from source, as PyPI has no
    #: OpenBSD wheels of them
    packages = ("python3", "sassc", "rust")
    user = MM3_USER
    group = MM3_GROUP
    var = MM3_IMPORT
    services = (MM3_SERVICE, WEB_SERVICE, WEB_TASKS_SERVICE)
    # the old public archives are served as they are (a rebuild would renumber them); the CGI
    # prefix and mailman-web's own prefixes go to Django whole (web.py), which redirects
    # Mailman 2's pages to Postorius and HyperKitty (scripts/mailman2_urls.py)
    web = WebFolders(cgi=WEB_NONE, icons=f"{MM3_VAR}/web/icons",
                     archive=f"{MM3_IMPORT}/archives/public", cgi_prefix=MM_CGI_PREFIX,
                     icons_prefix=MM_ICONS_PREFIX, archive_prefix=MM_ARCHIVE_PREFIX,
                     cgi_socket=WEB_SOCKET,
                     more=((STATIC_URL, WEB_STATIC_PARENT, None),
                           *((p, WEB_NONE, WEB_SOCKET) for p in WEB_PREFIXES)),
                     app="mailman-web", app_pages=webui.PAGES, app_finding="plan.mailman3-web")
    loopback_prefixes = webui.LOOPBACK_PREFIXES
    lmtp = f"{LMTP_HOST}:{LMTP_PORT}"
    lmtp_table = SMTPD_LIST_TABLE
    delivery_note = ("Each list address is its Mailman 3 address, which smtpd delivers over "
                     f"LMTP ({LMTP_HOST}:{LMTP_PORT}).")

    @cached_property
    def lists(self) -> list[tuple[MailingList, str]]:
        """The lists Mailman 3 takes, each with its domain there (worked out once)."""
        return lists_in_mailman3(self.inv, self.target)

    @cached_property
    def hosts(self) -> dict[str, str]:
        """A list's domain in Mailman 3, by name."""
        return {ml.name: host for ml, host in self.lists}

    def delivery(self, list_name: str, action: str) -> str:
        """The list's Mailman 3 address for Mailman 2's command: the same name, but
        ``-admin`` (Mailman 2: the same as ``-bounces``, Mailman/MTA/Utils.py) is
        ``-bounces``; at the list's Mailman 3 domain."""
        suffix = ACTION_SUFFIX["bounces" if action == "admin" else action]
        return f"{list_name}{suffix}@{self.hosts.get(list_name, 'localhost')}"

    def alias_value(self, delivery: str) -> str:
        return delivery  # an address: smtpd matches it again, in Mailman's table

    stopping_why = ("every digest collected so far goes out now, for every list (Mailman 2's "
                    "senddigests would skip the lists whose digests are not periodic), as "
                    "Mailman 3 does not import them.")

    def _as_old_mailman(self, script: str, command: str) -> str:
        """Run ``command`` on the old host as its Mailman's user (a list loaded by root could
        be saved root's), with the plan's ``script`` in a folder of its own named ``$D``
        (Mailman's user cannot read the plan under /root) and Mailman 2's Python as ``$PY``
        (the interpreter of its bin/withlist); ``command`` is one word for ``su -c``."""
        prefix, user = old_mailman(self.inv)
        withlist = q(f"{prefix}/bin/withlist")
        return (f"D=$(mktemp -d) && cp \"$PLAN/{script}\" \"$D/\" && chmod -R a+rX \"$D\" && "
                f"PY=$(sed -n '1s/^#! *\\([^ ]*\\).*/\\1/p' {withlist}) && export D PY && "
                f"su -m {q(user)} -c {q(command)}; rc=$?; rm -rf \"$D\"; [ $rc -eq 0 ]")

    def old_mailman_stopping(self) -> list[str]:
        prefix, _ = old_mailman(self.inv)
        # env(1): su -m runs root's shell, csh on older FreeBSD, which has no VAR=value prefix
        return [self._as_old_mailman(DIGESTS_SCRIPT, f"env PYTHONPATH=\"$D\" {q(prefix)}"
                                     "/bin/withlist -a -l -r old_digests.send")]

    carried_folders = (WAITING_FOLDER,)

    def old_mailman_stopped(self) -> tuple[list[str], list[str]]:
        """What waited in Mailman 2 (held posts, subscriptions waiting for the moderator or a
        confirmation), exported by export_waiting.py into data/ once nothing can change it,
        as Mailman's user with its own Python; the final sync carries it. The way back
        removes it."""
        prefix, _ = old_mailman(self.inv)
        export = f"{old_var(self.inv)}/data/{WAITING_FOLDER}"
        names = [ml.name for ml, _ in self.lists]
        if not names:
            return [], []
        args = " ".join(q(a) for a in [prefix, export, *names])
        return ([f"rm -rf {q(export)}",
                 self._as_old_mailman(EXPORT_SCRIPT, f"\"$PY\" \"$D/export_waiting.py\" {args}")],
                [f"rm -rf {q(export)}"])

    def emit(self, host: NewHost) -> Emitted:
        out = Emitted()
        release = self.release
        if not release.mailman3_python:
            out.findings.append(Finding(
                "plan.mailman3-python", Severity.BLOCKER,
                f"OpenBSD {release}'s python3 package is not known to be 3.9 or later, which "
                "Mailman 3 core needs (the ports' default was 3.9 from 7.1)",
                "Plan for OpenBSD 7.1 or later (--openbsd), or with --list-manager mailman2 "
                "where the release has the mailman package.", None))
        if release.mailman2_package_known:
            why = (f"OpenBSD {release} has the mailman 2 package: Mailman 3 is planned because "
                   "the target asks for it")
        else:
            why = (f"OpenBSD {release} is not known to have the mailman 2 package (known "
                   "through 6.9; Python 2, which it needs, left the ports tree), so Mailman 3 "
                   "is the list manager unless the target names one")
        out.findings.append(Finding(
            "plan.list-manager", Severity.INFO, why,
            "Mailman 3 imports the lists (mailman3/import.md says what it carries); plan with "
            "--list-manager mailman2 where `pkg_info -Q mailman` finds the package and the "
            "lists should move as they are.", None))
        out.findings.append(Finding(
            "plan.mailman3-web", Severity.INFO,
            "the lists' Mailman 2 pages (listinfo, subscription, admin, admindb, options, "
            "roster, private archives) answer with a permanent redirect to their Postorius or "
            "HyperKitty page; each private archive article to the same message in HyperKitty, "
            "where the list's privacy applies; the public archives are served as they were",
            "web-parity.md lists every old address and what answers it now; members log in to "
            "Postorius with their address (Mailman 3 has no list passwords).", None))
        out.files[LOCK_FILE] = REQUIREMENTS.read_text(encoding="utf-8")
        out.files[WEB_LOCK_FILE] = WEB_REQUIREMENTS.read_text(encoding="utf-8")
        web = host.web
        cgi_prefixes = sorted({web.lists.cgi.prefix, *(m.old for m in web.lists.moved
                                                       if m.kind == "cgi")})
        out.add(webui.emit_web(self.inv, self.target, self.lists, web.served + [
            a for a in web.aliases if is_domain(a)], web.tls, cgi_prefixes), "mailman3_web")
        scripts = resources.files("emitters.mailman3") / "scripts"
        out.add(emit_archives(self.inv, self.lists, (scripts / "hyperkitty_archive.py")
                              .read_text(encoding="utf-8")), "mailman3_archives")
        for path, name in ((DIGESTS_SCRIPT, "old_digests.py"),
                           (EXPORT_SCRIPT, "export_waiting.py"),
                           (WAITING_SCRIPT, "import_waiting.py")):
            out.files[path] = (scripts / name).read_text(encoding="utf-8")
        out.install(WAITING_SCRIPT, WAITING_IMPORTER, mode="0444")
        out.findings += _not_carried(self.inv)
        out.add(emit_config(self.inv, self.target, release), "mailman3_cfg")
        out.add(emit_housekeeping(self.inv, self.target, release), "mailman3_housekeeping")
        out.add(emit_lists(self.lists), "mailman3_lists")
        return out

    def preflight(self, total: int) -> list[Step]:
        # the archives three times over: their copy, the copy prepared for HyperKitty and
        # HyperKitty's database (measured: about the size of the mbox it imported)
        archives = sum(a.bytes for a in self.inv.archives)
        room = room_for(total + 2 * archives)
        return [_step(
            PREFLIGHT_NEW, "preflight", "new", "The new host has room and Python 3",
            "Mailman 3 core needs Python 3.9 or later (the python3 package); the lists and "
            f"archives need {room} in {room.folder} (their size, the archives twice more for "
            "HyperKitty's import, plus 20%).",
            ["pkg_info -Q python | grep -q '^python-3\\.'", room.check])]

    def install(self) -> list[Step]:
        packages = " ".join(self.packages + ("rsync",))  # GNU rsync receives the sync
        venv_python = f"{MM3_VENV}/bin/python"
        return [
            _step("new-packages", "prepare", "new", "Install Python 3, rsync, sassc and Rust",
                  "Mailman 3 runs on the python3 package; GNU rsync receives the sync; the web "
                  "UI's style sheets are compiled with sassc, and pip builds three of its "
                  "Python packages with Rust (PyPI has no OpenBSD wheels of them).",
                  [f"pkg_add {packages}"],
                  ["python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))'"],
                  [f"pkg_delete {packages}"]),
            _step("new-mailman3-user", "prepare", "new",
                  f"Mailman 3's user {MM3_USER} and its folders",
                  "Mailman 3 runs as its own system user, never as root; its var folder "
                  "holds the database, queues, logs and the copied Mailman 2 lists.",
                  [f"id {MM3_USER} >/dev/null 2>&1 || useradd -s /sbin/nologin -d {MM3_VAR} "
                   f"-c 'Mailman 3' -g =uid -r 800..899 {MM3_USER}",
                   # with the folders the sync copies each list into: rsync makes only the
                   # last one of a path
                   f"install -d -o {MM3_USER} -g {MM3_GROUP} -m 0755 {MM3_VAR} {MM3_DATA} "
                   f"{MM3_IMPORT} {MM3_IMPORT}/lists {MM3_IMPORT}/archives/private "
                   f"{MM3_IMPORT}/archives/public {MM3_VAR}/web {self.web.cgi}"],
                  [f"id {MM3_USER}", f"test -d {MM3_IMPORT}"],
                  [f"userdel {MM3_USER}"]),
            _step("new-mailman3-venv", "prepare", "new",
                  f"Mailman 3 core in {MM3_VENV}, at the plan's pinned versions",
                  "A virtual environment of the python3 package; pip installs exactly the "
                  "versions of the plan's lock file, the ones the plan was tested with.",
                  [f"python3 -m venv {MM3_VENV}",
                   f"{venv_python} -m pip install --no-cache-dir -r \"$PLAN/{LOCK_FILE}\"",
                   f"{venv_python} -m pip check"],
                  [f"{MM3_BIN} --version"],
                  [f"rm -rf {MM3_VENV}"]),
            _step("new-mailman3-web-venv", "prepare", "new",
                  f"Mailman 3's web UI in {WEB_VENV}, its user {WEB_USER}, its folders",
                  "Postorius and HyperKitty (mailman-web, Django) in a virtual environment of "
                  "their own, at the pinned versions of the plan's second lock file, run by "
                  "their own system user; its folders: the database's, the FastCGI socket's "
                  "(group www, for httpd) and the static files' (httpd serves them).",
                  [f"id {WEB_USER} >/dev/null 2>&1 || useradd -s /sbin/nologin -d {WEB_DATA} "
                   f"-c 'Mailman 3 web' -g =uid -r 800..899 {WEB_USER}",
                   webui.web_folders_command(),
                   f"python3 -m venv {WEB_VENV}",
                   f"{WEB_PYTHON} -m pip install --no-cache-dir -r \"$PLAN/{WEB_LOCK_FILE}\"",
                   f"{WEB_PYTHON} -m pip check"],
                  [f"id {WEB_USER}", f"test -x {WEB_BIN}"],
                  [f"rm -rf {WEB_VENV}", f"userdel {WEB_USER}"]),
            _step("new-mailman3-secrets", "prepare", "new",
                  "Mailman 3's secrets, made on this host",
                  "Core's REST password (for Postorius and HyperKitty) and HyperKitty's "
                  "archiver key (for core), each in the files of both sides, and Django's "
                  "secret key: made here with openssl, never written into the plan.",
                  [f"sh \"$PLAN/{webui.SECRETS_SCRIPT}\""],
                  [f"test -s {p}" for p in webui.SECRET_FILES]),
        ]

    def prepared(self) -> list[Step]:
        # Mailman 3 reads its configuration, creates its database and answers, before any
        # list is imported or mail routed here (and stops again: it starts at the switch)
        return [_step(
            "new-mailman3-check", "prepare", "new", "Mailman 3 reads its configuration",
            "`mailman info` loads /etc/mailman.cfg and opens (creates) the database; the "
            "Mailman 3 user runs it, as the service will.",
            [f"su -s /bin/sh {MM3_USER} -c {q(f'{MAILMAN} info')}"],
            [f"su -s /bin/sh {MM3_USER} -c {q(f'{MAILMAN} info')} | grep -q 'GNU Mailman 3'"]),
            _step("new-mailman3-web-check", "prepare", "new",
                  "The web UI's database and static files",
                  "mailman-web creates its database (SQLite, in write-ahead-log mode: the "
                  "archives' import, the FastCGI server and the task cluster write to it at "
                  "once), copies the static files where httpd serves them and compiles its "
                  "style sheets (sassc), as the web user; Django checks its settings.",
                  [webui.as_web(f"{WEB_BIN} migrate --no-input"),
                   webui.as_web(webui.WAL_COMMAND),
                   webui.as_web(f"{WEB_BIN} collectstatic --no-input --verbosity 0"),
                   webui.as_web(f"{WEB_BIN} compress --verbosity 0")],
                  [webui.as_web(f"{WEB_BIN} check --deploy --fail-level ERROR "
                                ">/dev/null 2>&1"),
                   webui.as_web(webui.WAL_CHECK)])]

    def start(self) -> list[Step]:
        as_user = f"su -s /bin/sh {MM3_USER} -c"
        queues = " ".join(q(f"{MM3_VAR}/queue/{name}") for name in INBOUND)
        # each list at the domain the plan gives it (its Mailman 2 host name where that moves)
        where = " ".join(f"--list {q(f'{ml.name}={ml.name}@{host}')}"
                         for ml, host in self.lists)
        carry = (f"{MM3_VENV}/bin/python {WAITING_IMPORTER} -C {MM3_CONFIG} {where} "
                 f"{MM3_WAITING}")
        # the way back stops smtpd here first (senders retry and reach the old host once DNS
        # names it again), lets Mailman 3 finish what it took, then stops it, and names the
        # lists that took posts here since the switch
        drain_new = [
            "rcctl stop smtpd  # no more posts arrive here; senders retry",
            Wait(command=f"test \"$(find {queues} -type f 2>/dev/null | wc -l)\" -eq 0",
                 timeout=900, interval=10),
            # a count per list: a report shows the operator its last 20 lines only, and a
            # list may have taken hundreds of posts
            Run(report=True, command=(
                f"for d in {PROTOTYPE}/*/; do n=$(find \"$d\" -type f -path '*/new/*' -newer "
                f"{FREEZE_MANIFEST} | wc -l); [ \"$n\" -eq 0 ] || echo \"${{d%/}}: $n post(s) "
                "since the switch\"; done 2>/dev/null; echo \"deliveries waiting: $(find "
                f"{MM3_VAR}/queue/out {MM3_VAR}/queue/retry -type f 2>/dev/null | wc -l)\"")),
            "# the lists above took posts here after the switch (one file each in the list's "
            f"folder, those newer than {FREEZE_MANIFEST}: find FOLDER -type f -path '*/new/*' "
            f"-newer {FREEZE_MANIFEST}): append them to the lists' archive mboxes on the old "
            "host and run its bin/arch --wipe for those lists before it takes mail again; "
            "deliveries still waiting go out when smtpd and Mailman 3 run here once more",
        ]
        return [_step(
            NEW_MAILMAN, "switch", "new", "Import the lists into Mailman 3 and start it",
            "Every list is created and imported from its copied config.pck (import21, with the "
            "charset its text was read in); what waited in Mailman 2 is carried (held posts "
            "held again for the moderators with their Mailman 2 reason, subscriptions waiting "
            "for the moderator again, each unconfirmed subscriber sent a new confirmation: the "
            "old link no longer works); then Mailman 3 starts and writes its table of list "
            "addresses, which smtpd reads next, and tells the moderators what waits.",
            [f"sh \"$PLAN/{IMPORT_SCRIPT}\"",
             f"{as_user} {q(carry)}",
             *map(enable_script, self.services),
             f"rcctl start {' '.join(self.services)}",
             f"{as_user} {q(f'{MAILMAN} aliases')}",
             f"{as_user} {q(f'{MAILMAN} notify')}  # the moderators learn what waits",
             f"crontab -u {MM3_USER} \"$PLAN/{CRONTAB}\"  # Mailman 3's jobs, old schedules",
             # HyperKitty's record of every list, with core's archive policy, before any post
             # (read from core's REST API, which its rest runner opens once it runs)
             Wait(command="nc -z 127.0.0.1 8001", timeout=120, interval=2),
             webui.as_web(f"{WEB_PYTHON} {webui.WEB_SETUP} "
                          + " ".join(q(d) for d in self.web_setup_args())),
             f"crontab -u {WEB_USER} \"$PLAN/{webui.CRONTAB}\"  # the web UI's jobs"],
            [*(f"rcctl check {s}" for s in self.services), f"test -s {MM3_TABLE}",
             f"crontab -u {MM3_USER} -l >/dev/null", f"crontab -u {WEB_USER} -l >/dev/null"]
            + [f"grep -q {q(f'^{ml.name}@{host} ')} {MM3_TABLE}"
               for ml, host in self.lists],
            drain_new + [f"crontab -u {WEB_USER} -r", f"crontab -u {MM3_USER} -r",
                         f"rcctl stop {' '.join(self.services)}",
                         *map(disable_script, self.services)])]

    def app_url(self, list_name: str, page: str) -> str | None:
        host = self.hosts.get(list_name)
        if host is None:
            return None
        return webui.page_path(page, f"{list_name}.{host}", f"{list_name}@{host}")

    def web_setup_args(self) -> list[str]:
        """web_setup.py's arguments: the site's web name, then the lists' mail domains."""
        names = [h for h in [self.target.web_host] if h and is_domain(h)]
        site = names[0] if names else self.target.hostname
        return [site, *sorted({host for _, host in self.lists})]

    def archives(self) -> list[Step]:
        """Every archived post into HyperKitty, as the inspection counted it."""
        archived = archived_lists(self.inv, self.lists)
        if not archived:
            return []
        return [_step(
            "new-archives", "verify", "new", "Every archived post into HyperKitty",
            "Each list's copied mbox is prepared as the inspection counted it (a copy: body "
            "lines starting 'From ' escaped, a Message-ID for each post, a date in the month "
            "the archive shows it) and imported into HyperKitty; then HyperKitty's posts are "
            "compared with it, month by month. The lists take mail meanwhile; a second run "
            "adds nothing.",
            [f"sh \"$PLAN/{ARCHIVES_SCRIPT}\""],
            [f"test ! -f {q(mbox_on_new_host(name))} || {check_command(name, address)}"
             for name, address in archived])]

    def verify(self) -> list[Step]:
        return self.archives() + self._verify_mail()

    def _verify_mail(self) -> list[Step]:
        domains = [d for d in self.target.email_domains if is_domain(d)]
        request = next((f"{ml.name}-request@{host}" for ml, host in self.lists
                        if host in domains), None)
        return [_step(
            "verify", "verify", "new", "Mail and web work on the new host",
            "A request to a list's -request address goes through smtpd, LMTP, Mailman 3's "
            "runners and back out.",
            [f"echo help | mail -s help {q(request)}",
             request_answered(request, f"{MM3_VAR}/queue/{COMMAND_QUEUE}")]
            if request else [],
            ["! grep -E 'result=(PermFail|TempFail)' /var/log/maillog | tail -n 20 | "
             "grep -q .",
             f"test -z \"$(ls {MM3_VAR}/queue/shunt)\""])]


def _not_carried(inv: Inventory) -> list[Finding]:
    """Requests Mailman 3 cannot take over: unsubscriptions waiting for the moderator
    (Mailman 3 would unsubscribe at once, as import21 drops the unsubscription policy), and
    subscriptions waiting for the moderator on a list whose policy no longer asks the
    moderator (changed after they were made: import21 gives Mailman 3 that policy, which would
    subscribe them at once, so the import of what waits refuses them, in the freeze)."""
    out = []
    for ml in inv.lists:
        if ml.held_subscriptions > 0 and ml.subscribe_policy not in MODERATED_SUBSCRIPTIONS:
            out.append(Finding(
                "plan.mailman3-subscriptions-waiting", Severity.BLOCKER,
                f"list {ml.name} has {ml.held_subscriptions} subscription request(s) waiting "
                f"for the moderator, but its subscribe_policy "
                f"({'unknown' if ml.subscribe_policy is None else ml.subscribe_policy}) does "
                "not ask the moderator: Mailman 3, which takes that policy over, would "
                "subscribe them without the moderator",
                "Have the moderators decide them in the list's admindb page on the old host, "
                "then inspect again; the count must be 0.", ml.source))
        unsubscriptions = ml.held_count - ml.held_posts - ml.held_subscriptions
        if unsubscriptions > 0:
            out.append(Finding(
                "plan.mailman3-unsubscriptions-waiting", Severity.BLOCKER,
                f"list {ml.name} has {unsubscriptions} unsubscription request(s) waiting for "
                "the moderator, which Mailman 3 cannot take over (it would unsubscribe at "
                "once: import21 drops the unsubscription policy)",
                "Have the moderators decide them in the list's admindb page on the old host, "
                "then inspect again; the count must be 0.", ml.source))
    return out
