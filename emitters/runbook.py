"""The cutover runbook: ordered steps per host with exact commands, a check and a way back.

The same steps go into ``plan.yaml`` for ``migrate cutover`` and into ``runbook.md`` for
people. The order follows what loses no mail (pitfalls 7, 21 in the project notes): prepare the
new host while the old one runs; pre-sync; freeze (the old Exim answers 4xx for the moved
domains, its queue and Mailman's queues drain, Mailman stops); final sync checked against the
manifest; start Mailman on the new host; forward from the old host; switch DNS; verify.

Commands assume the plan directory is at ``$PLAN`` on the host that runs them (the cutover
copies it to ``/root/migrate-plan`` on both hosts). Every value from the inventory in a command
has passed the emitters' safety checks and is shell-quoted.
"""

from __future__ import annotations

import re
import shlex

from migrate.model import Inventory, Target

from migrate.emitters.common import MM_PREFIX, MM_VAR, Emitted, is_domain, list_names
from migrate.emitters.httpd_conf import web_hosts
from migrate.emitters.virtual_table import virtual_domains

RUNBOOK = "runbook.md"
PHASES = ("prepare", "presync", "freeze", "switch", "verify", "after")
QUEUES = ("in", "out", "virgin", "bounces", "retry")


def _step(sid: str, phase: str, host: str, title: str, why: str, run: list[str],
          check: list[str] | None = None, rollback: list[str] | None = None) -> dict:
    return {"id": sid, "phase": phase, "host": host, "title": title, "why": why, "run": run,
            "check": check or [], "rollback": rollback or []}


def steps(inv: Inventory, target: Target, release=None) -> list[dict]:
    q = shlex.quote
    names, _ = list_names(inv)
    domains = [d for d in target.email_domains if is_domain(d)]
    var = inv.mailman.var_prefix if inv.mailman and inv.mailman.var_prefix else \
        "/usr/local/mailman"
    services = {s.name for s in inv.host.enabled_services()}
    apache = next((s for s in ("apache24", "apache22", "apache2", "httpd") if s in services),
                  "apache24")
    probe = f"{names[0]}@{domains[0]}" if names and domains else None
    new_addr = (target.ipv6 or target.ipv4)[0]
    new_ssh = f"root@[{new_addr}]" if ":" in new_addr else f"root@{new_addr}"
    domain_re = "|".join(re.escape(d) for d in domains) or "^$"
    tls = bool(target.tls_certificate and target.tls_key)
    out: list[dict] = []
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
        ["usermod -G _mailmanq _smtpd", "usermod -G _mailmanq www"],
        ["id -Gn _smtpd | grep -qw _mailmanq", "id -Gn www | grep -qw _mailmanq"]))
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
        "Each file is kept as FILE.pre-migrate first, so the way back is a copy.",
        [f"[ -e /{f} ] && cp -p /{f} /{f}.pre-migrate || true" for f, _ in installs]
        + [f"install -m {m} \"$PLAN/files/new/{f}\" /{f}" for f, m in installs]
        + (["newaliases  # OpenSMTPD before 6.0 reads /etc/mail/aliases.db"]
           if release is not None and release.major < 6 else [])
        + [f"cp -p {MM_PREFIX}/Mailman/mm_cfg.py {MM_PREFIX}/Mailman/mm_cfg.py.pre-migrate",
           f"cat \"$PLAN/files/new{MM_PREFIX}/Mailman/mm_cfg.py.migrate\" >> "
           f"{MM_PREFIX}/Mailman/mm_cfg.py"],
        ["smtpd -n", "httpd -n"],
        [f"[ -e /{f}.pre-migrate ] && mv /{f}.pre-migrate /{f} || rm -f /{f}"
         for f, _ in installs]
        + [f"mv {MM_PREFIX}/Mailman/mm_cfg.py.pre-migrate {MM_PREFIX}/Mailman/mm_cfg.py"]))
    out.append(_step(
        "new-services", "prepare", "new", "Enable and start httpd, slowcgi and smtpd",
        "Mailman itself starts only after the final sync.",
        ["rcctl enable httpd", "rcctl enable slowcgi", "rcctl set slowcgi flags -p /",
         "rcctl restart slowcgi httpd smtpd"],
        ["rcctl check slowcgi", "rcctl check httpd", "rcctl check smtpd"],
        ["rcctl stop httpd slowcgi", "rcctl disable httpd slowcgi", "rcctl restart smtpd"]))
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
    out.append(_step(
        "old-freeze", "freeze", "old", "Freeze: the old Exim answers 4xx for the moved domains",
        "Senders keep list mail in their queues and retry; nothing new arrives that the final "
        "sync would miss.",
        ["# insert files/old/exim-freeze-acl.conf as the first statement of the RCPT ACL",
         "service exim reload"],
        freeze_check,
        ["# remove the freeze statement again", "service exim reload"]))
    out.append(_step(
        "old-exim-queue", "freeze", "old", "Wait until the old Exim holds no list mail",
        "Mail accepted before the freeze must reach the old Mailman first.",
        ["exim -q"],
        [f"! exim -bpr | grep -Eq {q('@(' + domain_re + ')')}"]))
    queues = " ".join(f"{var}/qfiles/{qn}" for qn in QUEUES)
    out.append(_step(
        "old-mailman-drain", "freeze", "old", "Drain Mailman's queues, then stop Mailman",
        "Queued posts and bounces are processed on the old host; queue files are never moved.",
        [f"while [ \"$(find {queues} -type f | wc -l)\" -gt 0 ]; do sleep 10; done",
         "service mailman stop"],
        [f"test \"$(find {queues} -type f | wc -l)\" -eq 0"],
        ["service mailman start"]))
    out.append(_step(
        "final-sync", "freeze", "old", "Final sync, checked against the manifest",
        "Copies what changed since the pre-sync (by checksum) and sets owners and public "
        "archive links; the manifest proves every archive mbox and list file arrived whole.",
        [f"NEW={new_ssh} sh \"$PLAN/rsync/final.sh\""],
        [f"ssh {q(new_ssh)} 'cd / && sha256 -c /root/migrate-plan/rsync/manifest.sha256'"]))
    out.append(_step(
        "new-mailman", "switch", "new", "Instantiate the lists and start Mailman",
        "fix_url, check_perms and the wrapper's group check (the package must be the smtpd "
        "flavour).",
        ["sh \"$PLAN/files/new/root/mailman-after-copy.sh\"", "rcctl enable mailman",
         "rcctl start mailman"],
        ["rcctl check mailman"],
        ["rcctl stop mailman"]))
    out.append(_step(
        "old-forward", "switch", "old", "Forward the moved domains from the old host",
        "Mail that still reaches the old host (IPv4-only senders, old DNS caches) goes on to "
        "the new one; the freeze ends.",
        ["# insert files/old/exim-forward-router.conf first in `begin routers`",
         "# remove the freeze statement from the RCPT ACL",
         "# replace list pipe aliases per files/old/aliases-forward.txt, then: newaliases",
         "service exim reload"],
        [f"exim -bt {q(probe)} | grep -q migrate_forward"] if probe else [],
        ["# remove the forward router, restore the aliases", "service exim reload"]))
    out.append(_step(
        "old-web-proxy", "switch", "old", "Proxy Mailman's pages to the new host",
        "Clients that reach the web host over IPv4 keep working.",
        ["# replace the Mailman ScriptAlias/Alias with files/old/apache-proxy.conf",
         f"apachectl configtest && service {apache} reload"],
        ["apachectl configtest"]))
    out.append(_step(
        "dns-switch", "switch", "dns", "Publish the new DNS records",
        "See dns/records.md; the TTLs were lowered 48 h before.",
        ["# publish the records in dns/records.md"],
        ["sh \"$PLAN/dns/checks.sh\""],
        ["# publish the previous records again"]))
    hosts = [h for h in web_hosts(inv, target) if is_domain(h)]
    web_checks = [f"curl -fsS -H {q('Host: ' + hosts[0])} "
                  f"{q(f'http://[{new_addr}]/mailman/listinfo' if ':' in new_addr else f'http://{new_addr}/mailman/listinfo')}"
                  f" | grep -q {q(names[0])}"] if hosts and names else []
    out.append(_step(
        "verify", "verify", "new", "Mail and web work on the new host",
        "A request to the site list's -request address goes through smtpd, the wrapper, "
        "Mailman's qrunners and back out.",
        ([f"echo help | mail -s help {q(_site_request(inv, domains))}"]
         if _site_request(inv, domains) else []) + ["sleep 60"],
        ["! grep -E 'result=(PermFail|TempFail)' /var/log/maillog | tail -n 20 | grep -q .",
         f"test -z \"$(ls {MM_VAR}/qfiles/shunt)\""] + web_checks))
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
    lines = [f"# Cutover runbook: {inv.host.hostname or 'the old host'} to {target.hostname}",
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
                      "```sh", *s["run"], "```", ""]
            if s["check"]:
                lines += ["Check:", "", "```sh", *s["check"], "```", ""]
            if s["rollback"]:
                lines += ["Way back:", "", "```sh", *s["rollback"], "```", ""]
    out.files[RUNBOOK] = "\n".join(lines)
    return out
