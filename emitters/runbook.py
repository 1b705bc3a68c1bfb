"""The cutover runbook: ordered steps per host with exact commands, a check and a way back.

The same steps go into ``plan.yaml`` for ``migrate cutover`` and into ``runbook.md`` for
people. The order follows what loses no mail (pitfalls 7, 21 in the project notes): prepare the
new host while the old one runs (and check that its Mailman takes what smtpd delivers, before
anything is frozen); pre-sync; freeze (the old MTA answers 4xx for the moved
domains, its queue and Mailman's queues drain, Mailman stops); final sync checked against the
manifest; start Mailman on the new host; forward from the old host; switch DNS; verify.

Commands assume the plan directory is at ``$PLAN`` on the host that runs them (the cutover
copies it to ``/root/migrate-plan`` on both hosts). Every value from the inventory in a command
has passed the emitters' safety checks and is shell-quoted.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate.mailman2 import (DELIVERY_QUEUES, DRAIN_QUEUES, INBOUND_QUEUES, OUT_QUEUE,
                              RETRY_QUEUE, SHUNT_QUEUE, SITE_PASSWORD_FILES)
from migrate.model import Finding, Inventory, Severity, Target
from migrate.mta import Adapter, StepParts, lookup
from migrate.steps import (COPY_PLAN, FINAL_SYNC, FREEZE_STEP, HOST_PLAN_DIR, NEW_ACME,
                           NEW_MAILMAN, NEW_SERVICES, RUNBOOK_FILE, UNFREEZE_STEP, Append,
                           Comment, Dns, Put, Run, Smtp, Step, Upload, Wait,
                           action_from_data, runbook_markdown)

from migrate.emitters.acme_client import certificate_names
from migrate.emitters.common import (MM_MAIL_GID, MM_PREFIX, MM_USER, MM_VAR, MTA_USER, Emitted,
                                     Install, Stage, is_domain, list_names)
from migrate.emitters.new_host import NewHost
from migrate.emitters.guard import comment, sh_word
from migrate.emitters.crontab import DEFAULTS as CRON_SCRIPTS
from migrate.emitters.crontab import PATH as CRONTAB
from migrate.emitters.dns_plan import records as dns_records
from migrate.emitters.mailman_cfg import AFTER_COPY, wrapper_check_command
from migrate.emitters.release import Release
from migrate.emitters.rsync_plan import FREEZE_MANIFEST
from migrate.emitters.web_urls import old_urls

WRAPPER_NOTE = (f"the check below runs {MM_PREFIX}/mail/mailman post as {MTA_USER}, as smtpd "
                "would, without a list")
q = sh_word
_step = Step.make


@dataclass
class _Facts:
    """What the phases share, worked out once from the inventory and the target."""

    inv: Inventory
    target: Target
    release: Release | None
    installs: list[Install]
    names: list[str]
    domains: list[str]
    var: str  # Mailman's data on the old host
    apache: str  # the old web server's rc name
    probe: str | None  # a list address on a moved domain
    new_ssh: str
    tls: bool
    acme: bool
    mta: Adapter
    host: NewHost


class _ByHand:
    """The old MTA that no plugin knows (the plan carries the blocker plan.mta-no-adapter):
    its steps are notes for a person, never another MTA's commands."""

    kind = ""
    name = "MTA"
    version = "# check by hand that the old MTA runs and takes the lists' mail"
    reload = "# reload the old MTA by hand"
    queue_step = "old-mta-queue"

    def __init__(self, inv: Inventory, domains: list[str], probe: str | None) -> None:
        self.domains = ", ".join(domains)

    def freeze(self) -> StepParts:
        return StepParts([f"# by hand: make the old MTA answer 4xx for {comment(self.domains)}"],
                         [], [self.unfreeze()])

    def unfreeze(self) -> str:
        return "# by hand: end the freeze of the old MTA"

    def queue(self) -> StepParts:
        return StepParts(["# by hand: deliver the old MTA's queue until it holds no list mail"],
                         [], [])

    def forward(self) -> StepParts:
        return StepParts([f"# by hand: forward {comment(self.domains)} to the new host",
                          self.unfreeze()], [],
                         ["# by hand: stop the forward"])


def _facts(inv: Inventory, target: Target, release: Release | None,
           installs: list[Install], host: NewHost) -> _Facts:
    names, _ = list_names(inv)
    domains = [d for d in target.email_domains if is_domain(d)]
    services = {s.name for s in inv.host.enabled_services()}
    probe = f"{names[0]}@{domains[0]}" if names and domains else None
    return _Facts(
        inv=inv, target=target, release=release, installs=installs, names=names,
        domains=domains,
        var=inv.mailman.var_prefix if inv.mailman and inv.mailman.var_prefix else
        "/usr/local/mailman",
        apache=next((s for s in ("apache24", "apache22", "apache2", "httpd") if s in services),
                    "apache24"),
        probe=probe,
        # as ssh takes it (no brackets); rsync.sh adds them
        new_ssh=f"root@{(target.ipv6 or target.ipv4)[0]}",
        tls=bool(target.tls_certificate and target.tls_key),
        acme=host.web.tls and (release is None or release.has_acme_client),
        mta=_adapter(inv)(inv, domains, probe), host=host)


def _adapter(inv: Inventory):
    """The old MTA's adapter class: its plugin's, else the notes for a person."""
    plugin = lookup(inv.mta.kind)
    return plugin.writer.adapter if plugin else _ByHand


def steps(inv: Inventory, target: Target, release: Release | None, installs: list[Install],
          host: NewHost) -> list[Step]:
    """The runbook: each phase's steps, in order. ``installs``: how the emitted files of the
    new host are installed (each emitter declares its own)."""
    f = _facts(inv, target, release, installs, host)
    out: list[Step] = []
    for build in (_preflight, _prepare, _presync, _freeze, _switch, _verify, _after):
        out += build(f)
    return out


def _preflight(f: _Facts) -> list[Step]:
    """Nothing is changed until all of this holds."""
    inv, target = f.inv, f.target
    total = sum(a.bytes for a in inv.archives) + sum(
        fl.size or 0 for ml in inv.lists for fl in ml.files + ml.held_files)
    need_kb = int(total * 1.2 / 1024) + 1
    return [
        _step(COPY_PLAN, "preflight", "local", "Copy this plan to both hosts",
              f"The steps read their files from {HOST_PLAN_DIR} on each host.",
              [Upload(path=HOST_PLAN_DIR, hosts=["old", "new"])]),
        _step("preflight-dns", "preflight", "local", "DNS TTLs are already lowered",
              f"The switch reaches everyone within {target.dns_ttl} s only if the TTLs were "
              "lowered two old TTLs ago (dns/records.md).",
              [Dns(name=d, type="MX", max_ttl=target.dns_ttl, timeout=0) for d in f.domains]),
        _step("preflight-new", "preflight", "new",
              "The new host has room and the mailman package",
              "The package (smtpd flavour) must be installable; the lists and archives need "
              f"{total / 1e6:.0f} MB plus 20%.",
              ["pkg_info -Q mailman | grep -q '^mailman-2'",
               f"test \"$(df -k /var | awk 'NR==2 {{print $4}}')\" -ge {need_kb}"]),
        _step("preflight-old", "preflight", "old", "The old host is as inspected",
              f"{f.mta.name} and Mailman are where the inventory found them; the files changed "
              "since the inspection are reported (the lists are live: posts arrive, settings "
              "change).",
              [f"test -d {q(f.var + '/lists')}", f.mta.version,
               Run(report=True, command=(
                   "for p in python3 python2.7 python2 python; do if [ -n \"$(command -v "
                   "\"$p\")\" ]; then exec \"$p\" \"$PLAN/rsync/compare-manifest.py\" "
                   "\"$PLAN/rsync/manifest-old.sha256\"; fi; done; echo 'no python'"))]),
    ]


def _install(f: _Facts) -> Step:
    """Every emitted file of the new host, as its emitter declared it."""
    ordered = sorted(f.installs, key=lambda i: i.stage)  # stable: the emitters' order within
    actions: list = []
    for stage in Stage:
        here = [i for i in ordered if i.stage == stage]
        actions += [Append(source=i.source, path=i.path, marker=i.marker) if i.marker else
                    Put(source=i.source, path=i.path, mode=i.mode) for i in here]
        actions += [i.then for i in here if i.then]
    checks = list(dict.fromkeys(i.check for i in ordered if i.check))
    return _step("new-files", "prepare", "new", "Install the emitted configuration",
                 "Every file it replaces is kept in the cutover's journal, so the way back is "
                 "a copy.", actions, checks)


def _prepare(f: _Facts) -> list[Step]:
    """The new host is made ready while the old one runs; its Mailman is checked to take what
    smtpd delivers before anything is frozen."""
    target = f.target
    out = [
        _step("new-packages", "prepare", "new",
              "Install the mailman (smtpd flavour) and rsync packages",
              "The mailman 2 package may be missing on recent releases; nothing else can go "
              "ahead without it. GNU rsync receives the sync.",
              ["pkg_info -Q mailman", "pkg_add mailman rsync"],
              ["pkg_info -e 'mailman-*'", f"test -x {MM_PREFIX}/mail/mailman"],
              ["pkg_delete mailman rsync"]),
        _step("new-groups", "prepare", "new", "Let smtpd and the web server into _mailmanq",
              "The package's README: the MTA user and www must be in _mailmanq to reach the "
              "queue.",
              [f"usermod -G _mailmanq {MTA_USER}", "usermod -G _mailmanq www"],
              [f"id -Gn {MTA_USER} | grep -qw _mailmanq", "id -Gn www | grep -qw _mailmanq"]),
    ]
    if f.tls:
        out.append(_step(
            "new-certificate", "prepare", "new", "A certificate for smtpd and httpd",
            "smtpd and httpd refuse to start when a configured certificate is missing. A "
            "self-signed one serves until DNS points here; then acme-client replaces it.",
            [f"test -f {q(target.tls_certificate)} || openssl req -x509 -newkey rsa:2048 "
             f"-nodes -days 30 -subj /CN={q(target.hostname)} -keyout {q(target.tls_key)} "
             f"-out {q(target.tls_certificate)}"],
            [f"test -s {q(target.tls_certificate)}", f"test -s {q(target.tls_key)}"]))
    out.append(_install(f))
    # the mail wrapper as smtpd runs it: the earliest point it can run (the package and the
    # plan's mm_cfg.py are in place), while the old host still takes every post
    out.append(_step(
        "new-wrapper-group", "prepare", "new", "Mailman's mail wrapper takes smtpd's deliveries",
        f"smtpd runs the aliases' pipes as {MTA_USER}; the wrapper of the package's smtpd "
        f"flavour expects the group {MM_MAIL_GID}, and one built for another group (the "
        "postfix or sendmail flavour) refuses every post with \"Group mismatch error\". "
        "The check runs the wrapper as "
        f"{MTA_USER} with no list: it queues nothing, and fails with Mailman's own message. "
        "It runs again before mail is routed here and in the verification.",
        [f"# {WRAPPER_NOTE}"],
        [wrapper_check_command()]))
    out.append(_step(
        NEW_SERVICES, "prepare", "new", "Enable and start httpd, slowcgi and smtpd",
        "Mailman itself starts only after the final sync.",
        ["rcctl enable httpd", "rcctl enable slowcgi", "rcctl set slowcgi flags -p /",
         "rcctl restart slowcgi httpd smtpd"],
        ["rcctl check slowcgi", "rcctl check httpd", "rcctl check smtpd"],
        # the way back: the new host stops taking list mail (its files are restored after)
        ["rcctl stop smtpd httpd slowcgi", "rcctl disable httpd slowcgi"]))
    return out


def _presync(f: _Facts) -> list[Step]:
    return [_step(
        "presync", "presync", "old", "Copy lists and archives while the old host runs",
        "Most bytes move now; the final sync during the freeze then copies only changes. Can "
        "be repeated.",
        [f"NEW={f.new_ssh} sh \"$PLAN/rsync/presync.sh\""])]


def _freeze(f: _Facts) -> list[Step]:
    """The old MTA answers 4xx for the moved domains, its queue and Mailman's queues drain,
    Mailman stops, and the final sync is checked against the freeze manifest (pitfalls 7, 21
    in the project notes)."""
    inv, var, mta = f.inv, f.var, f.mta
    freeze, queue = mta.freeze(), mta.queue()
    cron_re = "/cron/(" + "|".join(CRON_SCRIPTS) + ")([^A-Za-z0-9_]|$)"
    cron_files = sorted({j.source.file for j in inv.housekeeping.cron_jobs
                         if j.script and j.source and j.source.file.startswith("/")})
    cron_dirs = sorted({c.rsplit("/", 1)[0] or "/" for c in cron_files})
    cron = Comment(paths=cron_files, match=cron_re, marker="cron")
    touch = "touch " + " ".join(q(d) for d in cron_dirs)
    # every queue that holds a post or a command on its way (archive: a post not yet in the
    # archive mbox; commands: a -request mail; news: a post for the gateway); shunt waits for a
    # person and is reported by the inspection
    queues = " ".join(q(f"{var}/qfiles/{qn}") for qn in DRAIN_QUEUES)
    return [
        _step(FREEZE_STEP, "freeze", "old",
              f"Freeze: the old {mta.name} answers 4xx for the moved domains",
              "Senders keep list mail in their queues and retry; nothing new arrives that the "
              "final sync would miss.", freeze.run, freeze.check, freeze.rollback),
        _step(mta.queue_step, "freeze", "old",
              f"Wait until the old {mta.name} holds no list mail",
              "Mail accepted before the freeze must reach the old Mailman first.",
              queue.run, queue.check, queue.rollback),
        _step("old-mailman-drain", "freeze", "old", "Drain Mailman's queues, then stop Mailman",
              "Queued posts, commands and bounces are processed on the old host, and posts "
              "waiting for the archive reach its mbox (" + ", ".join(DRAIN_QUEUES) + "); queue "
              "files never leave the host. Deliveries Mailman parked in retry (its SMTP "
              "connection was refused, as while the freeze reloads the MTA) go back to out at "
              "once: RetryRunner would wait 15 minutes.",
              [f"while [ \"$(find {queues} -type f 2>/dev/null | wc -l)\" -gt 0 ]; do "
               f"for f in {q(f'{var}/qfiles/{RETRY_QUEUE}')}/*.pck; do "
               f"[ ! -f \"$f\" ] || mv \"$f\" {q(f'{var}/qfiles/{OUT_QUEUE}')}/; done; sleep 10; "
               "done",
               "service mailman stop"]
              # Mailman's cron jobs stop here: digests and reminders never go out from both
              + ([cron, touch + "  # cron rereads its tables"] if cron_files else []),
              [f"test \"$(find {queues} -type f 2>/dev/null | wc -l)\" -eq 0"],
              ([cron.undo(), touch] if cron_files else []) + ["service mailman start"]),
        _step(FINAL_SYNC, "freeze", "old", "Final sync, checked against the freeze manifest",
              "Copies what changed since the pre-sync (by checksum): the lists with their held "
              "posts and pending confirmations, the archives and the site's adm.pw and "
              "creator.pw, and sets owners and public archive links. The freeze manifest, "
              "written on the old host once Mailman has stopped, proves every list file, held "
              "post and archive mbox arrived whole; the held posts, request.pck and pending.pck "
              "of every list are compared on both hosts.",
              [f"NEW={f.new_ssh} sh \"$PLAN/rsync/final.sh\""],
              [f"ssh {q(f.new_ssh)} {q(f'cd / && sha256 -c {FREEZE_MANIFEST}')}"]),
    ]


def _switch(f: _Facts) -> list[Step]:
    """Mailman starts on the new host, the old host forwards, DNS names the new host."""
    inv, target, mta = f.inv, f.target, f.mta
    wrapper_check = wrapper_check_command()
    # the site's password files: carried by the final sync where the old host has them
    # (checked here); where it has none, setting one is the operator's (mmsitepass asks)
    carried = sorted({fl.path.rsplit("/", 1)[1] for fl in (inv.mailman.site_files
                                                           if inv.mailman else [])}
                     & set(SITE_PASSWORD_FILES))
    site_pw = [f"test -s {q(f'{MM_VAR}/data/{name}')}" for name in carried]
    admin = SITE_PASSWORD_FILES[0]  # adm.pw: the site administrator's
    site_note = ([f"# the old host has no {comment(f.var)}/data/{admin}: to give the site "
                  "administrator "
                  f"one on this host, run `{MM_PREFIX}/bin/mmsitepass` (it asks)"]
                 if inv.mailman and admin not in carried else [])
    forward = mta.forward()
    # the way back stops the new host taking mail first (senders retry, and reach the old host
    # once DNS names it again), lets its Mailman take whole what it took (a post left in its
    # queues would be neither archived nor sent), and lists what it archived since the switch
    # (not in the old host's archive) and the deliveries still waiting for the MTA
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
        "# the archive mboxes listed above took posts here after the switch: copy them back "
        f"to the old host ({comment(f.var)}/archives/private/) and run its bin/arch --wipe for "
        "those lists before it takes mail again; deliveries still waiting go out when smtpd "
        "and Mailman run here once more (after DNS names the old host again)"]
    out = [
        _step(NEW_MAILMAN, "switch", "new", "Instantiate the lists and start Mailman",
              "fix_url (host names, public archive links), owners and check_perms, which must "
              "then find nothing; the wrapper's group check again, before any mail is routed "
              "here; the site's adm.pw and creator.pw, where the old host had them, came with "
              "the final sync.",
              [f"sh \"$PLAN/{AFTER_COPY}\"", "rcctl enable mailman", "rcctl start mailman"]
              + ([f"crontab -u {MM_USER} \"$PLAN/{CRONTAB}\"  # Mailman's jobs, old schedules"]
                 if inv.mailman else []) + site_note,
              ["rcctl check mailman", wrapper_check]
              + ([f"crontab -u {MM_USER} -l >/dev/null"] if inv.mailman else []) + site_pw,
              drain_new + ([f"crontab -u {MM_USER} -r"] if inv.mailman else [])
              + ["rcctl stop mailman"]),
        _step(UNFREEZE_STEP, "switch", "old", "Forward the moved domains from the old host",
              "Mail that still reaches the old host (IPv4-only senders, old DNS caches) goes on "
              "to the new one; the freeze ends.", forward.run, forward.check, forward.rollback),
        _step("old-web-proxy", "switch", "old", "Proxy Mailman's pages to the new host",
              "Clients that reach the web host over IPv4 keep working.",
              ["# replace the Mailman ScriptAlias/Alias with files/old/apache-proxy.conf",
               f"apachectl configtest && service {f.apache} reload"],
              ["apachectl configtest"]),
        _step("dns-switch", "switch", "dns", "Publish the new DNS records",
              "migrate does not change a DNS provider: publish the records of dns/records.md; "
              "this step waits (up to an hour) until they are served.",
              ["# publish the records in dns/records.md now"]
              + [Dns(name=r["name"], type=r["type"], value=r["value"], timeout=3600,
                     interval=30)
                 for r in dns_records(inv, target) if r["type"] in ("MX", "AAAA", "A")],
              [], ["# publish the previous records again"]),
    ]
    if f.acme:
        name = certificate_names(inv, target)[0]
        renew = f"~ 3 * * * acme-client {name} && rcctl reload httpd && rcctl restart smtpd"
        out.append(_step(
            NEW_ACME, "switch", "new", "A Let's Encrypt certificate for every web name",
            "acme-client's challenge needs DNS to name this host, so it runs now; it replaces "
            "the self-signed certificate, and root's crontab renews it daily.",
            [f"acme-client -v {q(name)} || [ $? -eq 2 ]  # 2: the certificate is still fresh",
             "rcctl reload httpd", "rcctl restart smtpd",
             f"crontab -l 2>/dev/null | grep -q {q('acme-client ' + name)} || "
             f"{{ crontab -l 2>/dev/null; echo {q(renew)}; }} | crontab -"],
            [f"openssl verify -CAfile /etc/ssl/cert.pem -untrusted "
             f"{q(target.tls_certificate or '')} {q(target.tls_certificate or '')}"]))
    return out


def _verify(f: _Facts) -> list[Step]:
    inv, target = f.inv, f.target
    probes: list = [Smtp(address=a, port=25, timeout=60, interval=5)
                    for a in target.ipv6 + target.ipv4]
    urls, _ = old_urls(inv, target, f.host.web)
    seen: set[tuple] = set()
    for old in urls:
        for probe in old.probes:
            check = action_from_data(probe, "web probe")
            key = (check.url, check.host_header, check.setting("status"))
            if key not in seen:
                seen.add(key)
                probes.append(check)
    request = _site_request(inv, f.domains)
    return [
        _step("post-checks", "verify", "local",
              "The new host answers: SMTP and every old address",
              "From the machine running migrate: an SMTP greeting on each new address, and "
              "every web address the old host gave out (each list's listinfo, admin and "
              "archive pages, the redirects it had) answers on the new host as the report "
              "says.", probes),
        _step("verify", "verify", "new", "Mail and web work on the new host",
              "A request to the site list's -request address goes through smtpd, the wrapper, "
              "Mailman's qrunners and back out.",
              ([f"echo help | mail -s help {q(request)}"] if request else []) + ["sleep 60"],
              ["! grep -E 'result=(PermFail|TempFail)' /var/log/maillog | tail -n 20 | "
               "grep -q .",
               f"test -z \"$(ls {MM_VAR}/qfiles/{SHUNT_QUEUE})\"", wrapper_check_command()]),
    ]


def _after(f: _Facts) -> list[Step]:
    return [_step("ttl-restore", "after", "dns", "Raise the TTLs again", "After two quiet days.",
                  [f"# set the TTLs back to {f.target.normal_ttl} s"])]


def _site_request(inv: Inventory, domains: list[str]) -> str | None:
    site = (inv.mailman.settings.site_list if inv.mailman and inv.mailman.settings else None) \
        or "mailman"
    names, _ = list_names(inv)
    host = next((ml.host_name for ml in inv.lists if ml.name == site), None)
    if site in names and host in domains:
        return f"{site}-request@{host}"
    return None


def emit_runbook(inv: Inventory, target: Target, release, host: NewHost,
                 files: Emitted) -> Emitted:
    """The steps (for plan.yaml) and runbook.md, both from the one typed list of steps; they
    install the files the emitters before it declared (``files.installs``)."""
    out = Emitted()
    if lookup(inv.mta.kind) is None:
        out.findings.append(Finding(
            "plan.mta-no-adapter", Severity.BLOCKER,
            f"the runbook has no commands for the old host's MTA "
            f"({comment(inv.mta.kind or 'none found')})",
            "migrate freezes and forwards an old MTA it has a plugin for (Exim); move this one "
            "by hand, or add a plugin (ARCHITECTURE.md).", None))
    all_steps = steps(inv, target, release, files.installs, host)
    out.data.steps = all_steps
    # the plan digest is added once plan.yaml's data is known (migrate/planning.py)
    out.files[RUNBOOK_FILE] = runbook_markdown(all_steps, inv.host.hostname, target.hostname,
                                               None)
    return out
