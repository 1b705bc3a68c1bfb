"""The cutover runbook: ordered steps per host with exact commands, a check and a way back.

The same steps go into ``plan.yaml`` for ``migrate cutover`` and into ``runbook.md`` for
people. The order follows what loses no mail (pitfalls 7, 21 in the project notes): prepare the
new host while the old one runs (and check that its Mailman takes what smtpd delivers, before
anything is frozen); pre-sync; freeze (the old Exim answers 4xx for the moved
domains, its queue and Mailman's queues drain, Mailman stops); final sync checked against the
manifest; start Mailman on the new host; forward from the old host; switch DNS; verify.

Commands assume the plan directory is at ``$PLAN`` on the host that runs them (the cutover
copies it to ``/root/migrate-plan`` on both hosts). Every value from the inventory in a command
has passed the emitters' safety checks and is shell-quoted.
"""

from __future__ import annotations

import re
import shlex

from migrate.mailman2 import DRAIN_QUEUES, SITE_PASSWORD_FILES
from migrate.model import EXIM_CONFIG_ROLES, Inventory, Target

from migrate.emitters.acme_client import certificate_names
from migrate.emitters.common import (MM_MAIL_GID, MM_PREFIX, MM_USER, MM_VAR, MTA_USER, Emitted,
                                     is_domain, list_names)
from migrate.emitters.guard import comment, sh_word
from migrate.emitters.crontab import DEFAULTS as CRON_SCRIPTS
from migrate.emitters.crontab import PATH as CRONTAB
from migrate.emitters.dns_plan import records as dns_records
from migrate.emitters.httpd_conf import web_tls
from migrate.emitters.mailman_cfg import AFTER_COPY, wrapper_check_command
from migrate.emitters.newsyslog import PATH as NEWSYSLOG
from migrate.emitters.release import Release
from migrate.emitters.rsync_plan import FREEZE_MANIFEST
from migrate.emitters.virtual_table import virtual_domains
from migrate.emitters.web_urls import old_urls

RUNBOOK = "runbook.md"
WRAPPER_NOTE = (f"the check below runs {MM_PREFIX}/mail/mailman post as {MTA_USER}, as smtpd "
                "would, without a list")
PHASES = ("preflight", "prepare", "presync", "freeze", "switch", "verify", "after")


def _step(sid: str, phase: str, host: str, title: str, why: str, run: list,
          check: list[str] | None = None, rollback: list | None = None) -> dict:
    """A step: ``run`` and ``rollback`` hold shell commands (strings; ``# ...`` is a note for
    the operator) and structured actions (dicts, see migrate/cutover.py)."""
    return {"id": sid, "phase": phase, "host": host, "title": title, "why": why,
            "actions": [_action(a) for a in run], "check": check or [],
            "rollback": [_action(a) for a in rollback or []]}


def _action(item) -> dict:
    if isinstance(item, dict):
        return item
    if item.lstrip().startswith("#"):
        return {"do": "note", "text": item.lstrip("# ").strip()}
    return {"do": "run", "command": item}


def describe(action: dict, plan_dir: str = "$PLAN") -> str:
    """An action as the command a person would type (runbook.md and the cutover's dry run)."""
    do = action["do"]
    if do == "run":
        return action["command"]
    if do == "wait":
        return (f"until {action['command']}; do sleep {action.get('interval', 5)}; done"
                f"  # at most {action.get('timeout', 600)} s")
    if do == "put":
        return (f"install -m {action.get('mode', '0644')} {plan_dir}/{action['source']} "
                f"{shlex.quote(action['path'])}")
    if do == "append":
        return (f"cat {plan_dir}/{action['source']} >> {shlex.quote(action['path'])}"
                f"  # between '# migrate:{action['marker']}' lines")
    if do == "insert":
        where = "before" if action.get("before") else "after"
        pattern = action.get("before") or action.get("after")
        return (f"# insert {plan_dir}/{action['source']} {where} the first line matching "
                f"/{comment(pattern)}/ in {comment(' or '.join(action['paths']))}, between "
                f"'# migrate:{action['marker']}' lines")
    if do == "unmark":
        return (f"# remove the '# migrate:{action['marker']}' block from "
                f"{comment(' or '.join(action['paths']))}")
    if do == "upload":
        return f"# copy this plan directory to {action['path']} on that host"
    if do == "note":
        return f"# {comment(action['text'])}"
    if do == "smtp":
        return f"# check: an SMTP greeting (220) on [{action['address']}]:{action.get('port', 25)}"
    if do == "http":
        status = action.get("status", 200)
        return (f"# check: {action['url']} (Host: {action.get('host_header')}) answers {status}"
                + (f" and shows {action['expect']!r}" if action.get("expect") else "")
                + (f" to {action['location']}" if action.get("location") else ""))
    if do == "comment":
        return (f"# comment out the lines matching /{comment(action['match'])}/ in "
                f"{comment(', '.join(action['paths']))} (marked '#migrate:{action['marker']}# ')")
    if do == "uncomment":
        return (f"# take the '#migrate:{action['marker']}# ' marks away in "
                f"{comment(', '.join(action['paths']))}")
    if do == "dns":
        what = (f"serves {action['value']}" if action.get("value") is not None
                else f"has a TTL of at most {action['max_ttl']} s")
        return f"# check: DNS {action['name']} {action['type']} {what}"
    return str(action)


def steps(inv: Inventory, target: Target, release=None) -> list[dict]:
    q = sh_word
    names, _ = list_names(inv)
    domains = [d for d in target.email_domains if is_domain(d)]
    var = inv.mailman.var_prefix if inv.mailman and inv.mailman.var_prefix else \
        "/usr/local/mailman"
    services = {s.name for s in inv.host.enabled_services()}
    apache = next((s for s in ("apache24", "apache22", "apache2", "httpd") if s in services),
                  "apache24")
    probe = f"{names[0]}@{domains[0]}" if names and domains else None
    new_addr = (target.ipv6 or target.ipv4)[0]
    new_ssh = f"root@{new_addr}"  # as ssh takes it (no brackets); rsync.sh adds them
    domain_re = "|".join(re.escape(d) for d in domains) or "^$"
    tls = bool(target.tls_certificate and target.tls_key)
    acme = web_tls(target) and (release is None or release >= Release(6, 6))
    cron_re = "/cron/(" + "|".join(CRON_SCRIPTS) + ")([^A-Za-z0-9_]|$)"
    cron_files = sorted({j.source.file for j in inv.housekeeping.cron_jobs
                         if j.script and j.source and j.source.file.startswith("/")})
    cron_dirs = sorted({c.rsplit("/", 1)[0] or "/" for c in cron_files})
    alias_files = sorted({a.table for a in inv.mta.aliases if a.domain is None
                          and a.table.startswith("/")})
    out: list[dict] = []
    out.append(_step(
        "copy-plan", "preflight", "local", "Copy this plan to both hosts",
        "The steps read their files from /root/migrate-plan on each host.",
        [{"do": "upload", "path": "/root/migrate-plan", "hosts": ["old", "new"]}]))
    # preflight: nothing else is changed until all of this holds
    mx = [{"do": "dns", "name": d, "type": "MX", "max_ttl": target.dns_ttl, "timeout": 0}
          for d in domains]
    out.append(_step(
        "preflight-dns", "preflight", "local", "DNS TTLs are already lowered",
        f"The switch reaches everyone within {target.dns_ttl} s only if the TTLs were lowered "
        "two old TTLs ago (dns/records.md).", mx))
    total = sum(a.bytes for a in inv.archives) + sum(
        f.size or 0 for ml in inv.lists for f in ml.files + ml.held_files)
    need_kb = int(total * 1.2 / 1024) + 1
    out.append(_step(
        "preflight-new", "preflight", "new", "The new host has room and the mailman package",
        "The package (smtpd flavour) must be installable; the lists and archives need "
        f"{total / 1e6:.0f} MB plus 20%.",
        ["pkg_info -Q mailman | grep -q '^mailman-2'",
         f"test \"$(df -k /var | awk 'NR==2 {{print $4}}')\" -ge {need_kb}"]))
    out.append(_step(
        "preflight-old", "preflight", "old", "The old host is as inspected",
        "Exim and Mailman are where the inventory found them; the files changed since the "
        "inspection are reported (the lists are live: posts arrive, settings change).",
        [f"test -d {q(var + '/lists')}", "exim -bV | head -n 1",
         {"do": "run", "report": True, "command":
          "for p in python3 python2.7 python2 python; do if [ -n \"$(command -v \"$p\")\" ]; "
          "then exec \"$p\" \"$PLAN/rsync/compare-manifest.py\" "
          "\"$PLAN/rsync/manifest-old.sha256\"; fi; done; echo 'no python'"}]))

    out.append(_step(
        "new-packages", "prepare", "new", "Install the mailman (smtpd flavour) and rsync packages",
        "The mailman 2 package may be missing on recent releases; nothing else can go ahead "
        "without it. GNU rsync receives the sync.",
        ["pkg_info -Q mailman", "pkg_add mailman rsync"],
        ["pkg_info -e 'mailman-*'", f"test -x {MM_PREFIX}/mail/mailman"],
        ["pkg_delete mailman rsync"]))
    out.append(_step(
        "new-groups", "prepare", "new", "Let smtpd and the web server into _mailmanq",
        "The package's README: the MTA user and www must be in _mailmanq to reach the queue.",
        [f"usermod -G _mailmanq {MTA_USER}", "usermod -G _mailmanq www"],
        [f"id -Gn {MTA_USER} | grep -qw _mailmanq", "id -Gn www | grep -qw _mailmanq"]))
    if tls:
        out.append(_step(
            "new-certificate", "prepare", "new", "A certificate for smtpd and httpd",
            "smtpd and httpd refuse to start when a configured certificate is missing. A "
            "self-signed one serves until DNS points here; then acme-client replaces it.",
            [f"test -f {q(target.tls_certificate)} || openssl req -x509 -newkey rsa:2048 "
             f"-nodes -days 30 -subj /CN={q(target.hostname)} -keyout {q(target.tls_key)} "
             f"-out {q(target.tls_certificate)}"],
            [f"test -s {q(target.tls_certificate)}", f"test -s {q(target.tls_key)}"]))
    installs = [("etc/mail/smtpd.conf", 644), ("etc/mail/aliases", 644),
                ("etc/httpd.conf", 644), ("etc/rc.conf.local", 644)]
    if virtual_domains(inv, target):
        installs.insert(2, ("etc/mail/virtual", 644))
    out.append(_step(
        "new-files", "prepare", "new", "Install the emitted configuration",
        "Every file it replaces is kept in the cutover's journal, so the way back is a copy.",
        [{"do": "put", "source": f"files/new/{f}", "path": f"/{f}", "mode": "0644"}
         for f, _ in installs]
        + (["newaliases  # OpenSMTPD before 6.0 reads /etc/mail/aliases.db"]
           if release is not None and release.major < 6 else [])
        + [{"do": "append", "source": f"files/new{MM_PREFIX}/Mailman/mm_cfg.py.migrate",
            "path": f"{MM_PREFIX}/Mailman/mm_cfg.py", "marker": "mm_cfg"}]
        + ([{"do": "append", "source": NEWSYSLOG, "path": "/etc/newsyslog.conf",
             "marker": "newsyslog"}] if inv.mailman else [])
        + ([{"do": "put", "source": "files/new/etc/acme-client.conf",
             "path": "/etc/acme-client.conf", "mode": "0644"}] if acme else []),
        ["smtpd -n", "httpd -n"] + (["acme-client -n >/dev/null"] if acme else [])))
    # the mail wrapper as smtpd runs it: the earliest point it can run (the package and the
    # plan's mm_cfg.py are in place), while the old host still takes every post
    wrapper_check = wrapper_check_command()
    out.append(_step(
        "new-wrapper-group", "prepare", "new", "Mailman's mail wrapper takes smtpd's deliveries",
        f"smtpd runs the aliases' pipes as {MTA_USER}; the wrapper of the package's smtpd "
        f"flavour expects the group {MM_MAIL_GID}, and one built for another group (the "
        "postfix or sendmail flavour) refuses every post with \"Group mismatch error\". "
        "The check runs the wrapper as "
        f"{MTA_USER} with no list: it queues nothing, and fails with Mailman's own message. "
        "It runs again before mail is routed here and in the verification.",
        [f"# {WRAPPER_NOTE}"],
        [wrapper_check]))
    out.append(_step(
        "new-services", "prepare", "new", "Enable and start httpd, slowcgi and smtpd",
        "Mailman itself starts only after the final sync.",
        ["rcctl enable httpd", "rcctl enable slowcgi", "rcctl set slowcgi flags -p /",
         "rcctl restart slowcgi httpd smtpd"],
        ["rcctl check slowcgi", "rcctl check httpd", "rcctl check smtpd"],
        # the way back: the new host stops taking list mail (its files are restored after)
        ["rcctl stop smtpd httpd slowcgi", "rcctl disable httpd slowcgi"]))
    out.append(_step(
        "presync", "presync", "old", "Copy lists and archives while the old host runs",
        "Most bytes move now; the final sync during the freeze then copies only changes. Can "
        "be repeated.",
        [f"NEW={new_ssh} sh \"$PLAN/rsync/presync.sh\""]))
    freeze_check = []
    if probe:
        freeze_check = [
            "printf 'HELO check.example\\r\\nMAIL FROM:<check@check.example>\\r\\nRCPT TO:<"
            f"{probe}>\\r\\nQUIT\\r\\n' | exim -bh 192.0.2.99 | grep -q '^451'"]
    # only Exim's configuration (the main file and its .include files) can hold the ACL: the
    # files its lookups read are data and are never edited
    exim_files = [c.path for c in inv.mta.config_files if c.path.startswith("/")
                  and c.role in EXIM_CONFIG_ROLES]
    acl = inv.mta.options.get("acl_smtp_rcpt", "acl_check_rcpt")
    acl = acl if re.fullmatch(r"[A-Za-z0-9_]+", acl) else "acl_check_rcpt"
    freeze = {"do": "insert", "source": "files/old/exim-freeze-acl.conf", "paths": exim_files,
              "after": rf"^\s*{acl}:\s*$", "marker": "freeze"}
    unfreeze = {"do": "unmark", "paths": exim_files, "marker": "freeze"}
    out.append(_step(
        "old-freeze", "freeze", "old", "Freeze: the old Exim answers 4xx for the moved domains",
        "Senders keep list mail in their queues and retry; nothing new arrives that the final "
        "sync would miss.",
        [freeze, "service exim reload"],
        freeze_check,
        [unfreeze, "service exim reload"]))
    # `exim -bpru` lists each message's undelivered recipients on indented lines below its
    # sender line: only those count. Mailman's own deliveries to the members (sender
    # LIST-bounces@ a moved domain) may stay queued for remote hosts; they need no Mailman.
    out.append(_step(
        "old-exim-queue", "freeze", "old", "Wait until the old Exim holds no list mail",
        "Mail accepted before the freeze must reach the old Mailman first.",
        ["exim -q"],
        [f"! exim -bpru | grep -Eiq {q('^[[:space:]]+[^[:space:]]*@(' + domain_re + ')$')}"]))
    # every queue that holds a post or a command on its way (archive: a post not yet in the
    # archive mbox; commands: a -request mail; news: a post for the gateway); shunt waits for a
    # person and is reported by the inspection
    queues = " ".join(q(f"{var}/qfiles/{qn}") for qn in DRAIN_QUEUES)
    out.append(_step(
        "old-mailman-drain", "freeze", "old", "Drain Mailman's queues, then stop Mailman",
        "Queued posts, commands and bounces are processed on the old host, and posts waiting "
        "for the archive reach its mbox (" + ", ".join(DRAIN_QUEUES) + "); queue files never "
        "leave the host. Deliveries Mailman parked in retry (its SMTP connection was refused, "
        "as while the freeze reloads the MTA) go back to out at once: RetryRunner would wait "
        "15 minutes.",
        [f"while [ \"$(find {queues} -type f 2>/dev/null | wc -l)\" -gt 0 ]; do "
         f"for f in {q(var + '/qfiles/retry')}/*.pck; do "
         f"[ ! -f \"$f\" ] || mv \"$f\" {q(var + '/qfiles/out')}/; done; sleep 10; done",
         "service mailman stop"]
        # Mailman's cron jobs stop here: digests and reminders never go out from both hosts
        + ([{"do": "comment", "paths": cron_files, "match": cron_re, "marker": "cron"},
            "touch " + " ".join(q(d) for d in cron_dirs) + "  # cron rereads its tables"]
           if cron_files else []),
        [f"test \"$(find {queues} -type f 2>/dev/null | wc -l)\" -eq 0"],
        ([{"do": "uncomment", "paths": cron_files, "marker": "cron"},
          "touch " + " ".join(q(d) for d in cron_dirs)] if cron_files else [])
        + ["service mailman start"]))
    out.append(_step(
        "final-sync", "freeze", "old", "Final sync, checked against the freeze manifest",
        "Copies what changed since the pre-sync (by checksum): the lists with their held posts "
        "and pending confirmations, the archives and the site's adm.pw and creator.pw, and sets "
        "owners and public archive links. The freeze manifest, written on the old host once "
        "Mailman has stopped, proves every list file, held post and archive mbox arrived "
        "whole; the held posts, request.pck and pending.pck of every list are compared on "
        "both hosts.",
        [f"NEW={new_ssh} sh \"$PLAN/rsync/final.sh\""],
        [f"ssh {q(new_ssh)} {q(f'cd / && sha256 -c {FREEZE_MANIFEST}')}"]))
    # the site's password files: carried by the final sync where the old host has them
    # (checked here); where it has none, setting one is the operator's (mmsitepass asks)
    carried = sorted({f.path.rsplit("/", 1)[1] for f in (inv.mailman.site_files
                                                         if inv.mailman else [])}
                     & set(SITE_PASSWORD_FILES))
    site_pw = [f"test -s {q(f'{MM_VAR}/data/{name}')}" for name in carried]
    admin = SITE_PASSWORD_FILES[0]  # adm.pw: the site administrator's
    site_note = ([f"# the old host has no {comment(var)}/data/{admin}: to give the site "
                  "administrator "
                  f"one on this host, run `{MM_PREFIX}/bin/mmsitepass` (it asks)"]
                 if inv.mailman and admin not in carried else [])
    out.append(_step(
        "new-mailman", "switch", "new", "Instantiate the lists and start Mailman",
        "fix_url (host names, public archive links), owners and check_perms, which must "
        "then find nothing; the wrapper's group check again, before any mail is routed here; "
        "the site's adm.pw and creator.pw, where the old host had them, came with the final "
        "sync.",
        [f"sh \"$PLAN/{AFTER_COPY}\"", "rcctl enable mailman",
         "rcctl start mailman"]
        + ([f"crontab -u {MM_USER} \"$PLAN/{CRONTAB}\"  # Mailman's jobs, old schedules"]
           if inv.mailman else []) + site_note,
        ["rcctl check mailman", wrapper_check]
        + ([f"crontab -u {MM_USER} -l >/dev/null"] if inv.mailman else []) + site_pw,
        ([f"crontab -u {MM_USER} -r"] if inv.mailman else []) + ["rcctl stop mailman"]))
    first = inv.mta.routers[0] if inv.mta.routers else None
    forward_actions: list = []
    undo_forward: list = []
    if first is not None and first.source and re.fullmatch(r"[A-Za-z0-9_]+", first.name):
        forward_actions.append({"do": "insert", "source": "files/old/exim-forward-router.conf",
                                "paths": [first.source.file], "before": rf"^\s*{first.name}:",
                                "marker": "forward"})
        undo_forward.append({"do": "unmark", "paths": [first.source.file],
                             "marker": "forward"})
    else:
        forward_actions.append("# insert files/old/exim-forward-router.conf first in "
                               "`begin routers`")
    forward_actions.append(unfreeze)
    if alias_files:
        # Exim's lsearch takes the first entry of a name: forwards at the top win
        forward_actions.append({"do": "insert", "source": "files/old/aliases-forward.txt",
                                "paths": alias_files[:1], "before": r"\A",
                                "marker": "alias-forward"})
        undo_forward.append({"do": "unmark", "paths": alias_files[:1],
                             "marker": "alias-forward"})
    out.append(_step(
        "old-forward", "switch", "old", "Forward the moved domains from the old host",
        "Mail that still reaches the old host (IPv4-only senders, old DNS caches) goes on to "
        "the new one; the freeze ends.",
        forward_actions + ["service exim reload"],
        [f"exim -bt {q(probe)} | grep -q migrate_forward"] if probe else [],
        undo_forward + ["service exim reload"]))
    out.append(_step(
        "old-web-proxy", "switch", "old", "Proxy Mailman's pages to the new host",
        "Clients that reach the web host over IPv4 keep working.",
        ["# replace the Mailman ScriptAlias/Alias with files/old/apache-proxy.conf",
         f"apachectl configtest && service {apache} reload"],
        ["apachectl configtest"]))
    planned = [{"do": "dns", "name": r["name"], "type": r["type"], "value": r["value"],
                "timeout": 3600, "interval": 30}
               for r in dns_records(inv, target) if r["type"] in ("MX", "AAAA", "A")]
    out.append(_step(
        "dns-switch", "switch", "dns", "Publish the new DNS records",
        "migrate does not change a DNS provider: publish the records of dns/records.md; "
        "this step waits (up to an hour) until they are served.",
        ["# publish the records in dns/records.md now"] + planned,
        [],
        ["# publish the previous records again"]))
    if acme:
        name = certificate_names(inv, target)[0]
        renew = f"~ 3 * * * acme-client {name} && rcctl reload httpd && rcctl restart smtpd"
        out.append(_step(
            "new-acme", "switch", "new", "A Let's Encrypt certificate for every web name",
            "acme-client's challenge needs DNS to name this host, so it runs now; it replaces "
            "the self-signed certificate, and root's crontab renews it daily.",
            [f"acme-client -v {q(name)} || [ $? -eq 2 ]  # 2: the certificate is still fresh",
             "rcctl reload httpd", "rcctl restart smtpd",
             f"crontab -l 2>/dev/null | grep -q {q('acme-client ' + name)} || "
             f"{{ crontab -l 2>/dev/null; echo {q(renew)}; }} | crontab -"],
            [f"openssl verify -CAfile /etc/ssl/cert.pem -untrusted "
             f"{q(target.tls_certificate or '')} {q(target.tls_certificate or '')}"]))
    probes: list = [{"do": "smtp", "address": a, "port": 25, "timeout": 60, "interval": 5}
                    for a in target.ipv6 + target.ipv4]
    urls, _ = old_urls(inv, target)
    seen: set[tuple] = set()
    for old in urls:
        for probe in old.probes:
            key = (probe["url"], probe.get("host_header"), probe.get("status", 200))
            if key not in seen:
                seen.add(key)
                probes.append(probe)
    out.append(_step(
        "post-checks", "verify", "local", "The new host answers: SMTP and every old address",
        "From the machine running migrate: an SMTP greeting on each new address, and every "
        "web address the old host gave out (each list's listinfo, admin and archive pages, "
        "the redirects it had) answers on the new host as the report says.", probes))
    out.append(_step(
        "verify", "verify", "new", "Mail and web work on the new host",
        "A request to the site list's -request address goes through smtpd, the wrapper, "
        "Mailman's qrunners and back out.",
        ([f"echo help | mail -s help {q(_site_request(inv, domains))}"]
         if _site_request(inv, domains) else []) + ["sleep 60"],
        ["! grep -E 'result=(PermFail|TempFail)' /var/log/maillog | tail -n 20 | grep -q .",
         f"test -z \"$(ls {MM_VAR}/qfiles/shunt)\"", wrapper_check]))
    out.append(_step(
        "ttl-restore", "after", "dns", "Raise the TTLs again",
        "After two quiet days.", [f"# set the TTLs back to {target.normal_ttl} s"]))
    return out


def _site_request(inv: Inventory, domains: list[str]) -> str | None:
    site = (inv.mailman.settings.site_list if inv.mailman and inv.mailman.settings else None) \
        or "mailman"
    names, _ = list_names(inv)
    host = next((ml.host_name for ml in inv.lists if ml.name == site), None)
    if site in names and host in domains:
        return f"{site}-request@{host}"
    return None


def emit_runbook(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    all_steps = steps(inv, target, release)
    out.data["steps"] = all_steps
    lines = [f"# Cutover runbook: {comment(inv.host.hostname or 'the old host')} to "
             f"{comment(target.hostname)}",
             "",
             "Run each step on the host named, in order; `migrate cutover` does the same from "
             "plan.yaml, journaled. `$PLAN` is this directory on that host. A step is done when "
             "its check passes.", ""]
    for phase in PHASES:
        phase_steps = [s for s in all_steps if s["phase"] == phase]
        if not phase_steps:
            continue
        lines += [f"## {phase}", ""]
        for s in phase_steps:
            lines += [f"### {s['id']}: {s['title']} ({s['host']} host)", "", s["why"], "",
                      "```sh", *[describe(a) for a in s["actions"]], "```", ""]
            if s["check"]:
                lines += ["Check:", "", "```sh", *s["check"], "```", ""]
            if s["rollback"]:
                lines += ["Way back:", "", "```sh", *[describe(a) for a in s["rollback"]],
                          "```", ""]
    out.files[RUNBOOK] = "\n".join(lines)
    return out
