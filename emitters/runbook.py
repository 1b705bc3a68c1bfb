"""The cutover runbook: ordered steps per host with exact commands, a check and a way back.

The same steps go into ``plan.yaml`` for ``migrate cutover`` and into ``runbook.md`` for
people. The order follows what loses no mail (pitfalls 7, 21 in the project notes): prepare the
new host while the old one runs (and check that its list manager takes what smtpd delivers,
before anything is frozen); pre-sync; freeze (the old MTA answers 4xx for the moved
domains, its queue and Mailman's queues drain, Mailman stops); final sync checked against the
manifest; start the list manager on the new host, then its smtpd with the list-taking
smtpd.conf; forward from the old host; switch DNS; verify.

The list manager's own steps come from the target's destination (emitters/destination.py):
its install, its checks once the files are in place, its start at the switch with the way
back, its verification. Services are enabled (``rc_conf_local.py``) only in the step that
starts them: nothing enabled or installed before the switch starts the list manager or takes
list mail at boot.

Commands assume the plan directory is at ``$PLAN`` on the host that runs them, always in
double quotes (the cutover copies it to ``steps.HOST_PLAN_DIR`` on both hosts; the copy-plan
step says how by hand, to the hosts as the plan knows them). Every value from the inventory in
a command has passed the emitters' safety checks and is shell-quoted. What a step edits is one
file, named with the place in words (the patterns stay in plan.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate.core.mailman2 import CRON_SCRIPTS, DRAIN_QUEUES, OUT_QUEUE, RETRY_QUEUE
from migrate.core.model import Finding, Inventory, OriginKind, Severity, Target
from migrate.core.mta import Adapter, StepParts, lookup
from migrate.core.steps import (COPY_PLAN, FINAL_SYNC, FREEZE_STEP, HOST_PLAN_DIR, NEW_ACME,
                                NEW_SERVICES, NEW_SMTPD, PREFLIGHT_DNS, RUNBOOK_FILE,
                                UNFREEZE_STEP, Append, Comment, Dns, Put, Run, Smtp, Step, Upload,
                                action_from_data, runbook_markdown)

from emitters.acme_client import certificate_names
from emitters.common import Emitted, Install, Stage, is_domain, list_names, old_var
from emitters.guard import comment, sh_word
from emitters.destination import Destination
from emitters.dns_plan import is_ip, records as dns_records, ttl_lead_hours
from emitters.new_host import NewHost
from emitters.rc_conf_local import disable, enable
from emitters.release import Release
from emitters.rsync_plan import manifest_check, prefix_check
from emitters.web_urls import old_urls

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
    old_ssh: str | None  # how the machine holding the plan reaches the old host (root@HOST)
    old_port: int | None  # its SSH port, when the inspection went over SSH to another than 22
    tls: bool
    acme: bool
    mta: Adapter
    host: NewHost
    dest: Destination  # the list manager on the new host



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
    # a list's own address on a moved domain (not the first name at the first domain: on a
    # virtual domain that name may be no list's, and the forward router rightly leaves it)
    moved = {d.lower() for d in domains}
    probe = next((f"{ml.name}@{ml.host_name}" for ml in sorted(inv.lists, key=lambda m: m.name)
                  if ml.name in names and (ml.host_name or "").lower() in moved), None)
    return _Facts(
        inv=inv, target=target, release=release, installs=installs, names=names,
        domains=domains,
        var=old_var(inv),
        apache=next((s for s in ("apache24", "apache22", "apache2", "httpd") if s in services),
                    "apache24"),
        probe=probe,
        # as ssh takes it (no brackets); rsync.sh adds them
        new_ssh=f"root@{(target.ipv6 or target.ipv4)[0]}",
        old_ssh=_old_ssh(inv), old_port=inv.source.port if inv.source.host else None,
        tls=bool(target.tls_certificate and target.tls_key),
        acme=host.web.tls and (release is None or release.has_acme_client),
        mta=_adapter(inv)(inv, domains, probe), host=host, dest=host.destination)


def _old_ssh(inv: Inventory) -> str | None:
    """The old host as the machine holding the plan reaches it: the host the inspection went
    to over SSH, else the name the old host gives itself; root, as the plan's folder on it is
    in root's home (``HOST_PLAN_DIR``). None when neither is a host name or address."""
    host = inv.source.host if inv.source.kind == OriginKind.SSH and inv.source.host \
        else inv.host.hostname
    if not host or not (is_domain(host) or is_ip(host, 4) or is_ip(host, 6)):
        return None
    return f"root@{host}"


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
    return [
        _step(COPY_PLAN, "preflight", "local", "Copy this plan to both hosts",
              f"The steps read their files from {HOST_PLAN_DIR} on each host. From the "
              "machine that holds the plan: the folder is made, then the plan's files are "
              "copied into it; files already there that the plan does not have stay (the "
              "syncs keep their records there)."
              + ("" if f.old_ssh else " The inventory does not say how to reach the old host: "
                 "copy the plan there the same way."),
              [Upload(path=HOST_PLAN_DIR, hosts=["old"], to=f.old_ssh, port=f.old_port),
               Upload(path=HOST_PLAN_DIR, hosts=["new"], to=f.new_ssh)]),
        _step(PREFLIGHT_DNS, "preflight", "local", "DNS TTLs are already lowered",
              f"The switch reaches everyone within {target.dns_ttl} s only if the TTLs of the "
              f"records it changes were lowered to {target.dns_ttl} s at least "
              f"{ttl_lead_hours(target)} h (two old TTLs of {target.normal_ttl} s) before it "
              "(dns/records.md).",
              [Dns(name=d, type="MX", max_ttl=target.dns_ttl, timeout=0) for d in f.domains]),
        *f.dest.preflight(total),
        *_handback_reachable(f),
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


def _handback_reachable(f: _Facts) -> list[Step]:
    """The new host hands the moved domains' other addresses back to the old host: it must
    reach the old host's SMTP port at the address it relays them to."""
    back = f.host.handback
    if not back or back.host is None:
        return []
    return [_step("preflight-handback", "preflight", "new",
                  "The new host reaches the old host's SMTP server",
                  f"After the switch it relays {len(back.addresses)} address(es) of the moved "
                  f"domains{' and their catch-alls' if back.domains else ''} back to the old "
                  f"host at {back.host} (handback), which keeps serving them.",
                  [], [f"nc -z -w 10 {q(back.host)} 25"])]


def _install(f: _Facts) -> Step:
    """Every emitted file of the new host, as its emitter declared it, but for those that
    wait for the switch (``Stage.SWITCH``: only their plan copies are checked here)."""
    ordered = sorted(f.installs, key=lambda i: i.stage)  # stable: the emitters' order within
    actions: list = []
    for stage in Stage:
        here = [i for i in ordered if i.stage == stage and stage != Stage.SWITCH]
        actions += [Append(source=i.source, path=i.path, marker=i.marker) if i.marker else
                    Put(source=i.source, path=i.path, mode=i.mode) for i in here]
        actions += [i.then for i in here if i.then]
    checks = list(dict.fromkeys(i.precheck if i.stage == Stage.SWITCH else i.check
                                for i in ordered if i.check))
    return _step("new-files", "prepare", "new", "Install the emitted configuration",
                 "Every file it replaces is kept in the cutover's journal, so the way back is "
                 "a copy.", actions, checks)


def _prepare(f: _Facts) -> list[Step]:
    """The new host is made ready while the old one runs; its list manager is checked to take
    what smtpd delivers before anything is frozen. Nothing enabled here takes list mail or
    starts the list manager at boot: both wait for the switch."""
    target = f.target
    out = f.dest.install()
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
    out += f.dest.prepared()
    # slowcgi gets -p / so that it can run CGI programs outside /var/www (its default chroot)
    web = ("httpd", ""), ("slowcgi", "-p /")
    out.append(_step(
        NEW_SERVICES, "prepare", "new", "Enable and start httpd and slowcgi",
        "smtpd keeps the host's own configuration until the switch, and the list manager "
        "starts only after the final sync: a reboot before then starts neither.",
        [enable(name, flags) for name, flags in web] + ["rcctl restart slowcgi httpd"],
        ["rcctl check slowcgi", "rcctl check httpd"],
        # the way back: the new host stops serving (its files are restored after)
        ["rcctl stop httpd slowcgi"] + [disable(name) for name, _ in web]))
    return out


def _smtpd(f: _Facts) -> Step:
    """smtpd takes list mail from now on: the files that waited for the switch (its
    smtpd.conf, checked in the prepare phase) are installed, smtpd starts at boot and now.
    Until here the host's own smtpd.conf stayed, so a reboot before the switch takes no list
    mail; the way back stops smtpd, and the journal puts the host's files back."""
    here = [i for i in f.installs if i.stage == Stage.SWITCH]
    checks = list(dict.fromkeys(i.check for i in here if i.check))
    return _step(NEW_SMTPD, "switch", "new", "smtpd takes list mail here",
                 f"{f.dest.name} runs; the old host forwards to this one next.",
                 [Put(source=i.source, path=i.path, mode=i.mode) for i in here]
                 + [i.then for i in here if i.then]
                 + [enable("smtpd"), "rcctl restart smtpd"],
                 checks + ["rcctl check smtpd"],
                 ["rcctl stop smtpd"])


def _presync(f: _Facts) -> list[Step]:
    run = [f"NEW={f.new_ssh} sh \"$PLAN/rsync/presync.sh\""]
    steps = [_step(
        "presync", "presync", "old", "Copy lists and archives while the old host runs",
        "Most bytes move now, and both hosts record what they hold (size, times, inode and "
        "checksum of every file): the final sync during the freeze then reads and copies only "
        "what changed since. Can be repeated; a repeat reads only what changed.", run)]
    if f.target.second_presync:
        steps.append(_step(
            "presync-again", "presync", "old", "Copy again what changed during the first copy",
            "The first copy of a big host takes long while its lists go on: this second one, "
            "just before the freeze, moves and records what changed meanwhile, so the final "
            "sync inside the freeze window has only the last minutes' change left "
            "(--no-second-presync leaves it out).", run))
    return steps


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
    scripts = ", ".join(CRON_SCRIPTS)
    # one file each: every edit of the runbook names the one file it changes
    cron = [Comment(paths=[c], match=cron_re, marker="cron",
                    lines=f"the lines that run Mailman's cron scripts ({scripts})")
            for c in cron_files]
    touch = "touch " + " ".join(q(d) for d in cron_dirs)
    # every queue that holds a post or a command on its way (archive: a post not yet in the
    # archive mbox; commands: a -request mail; news: a post for the gateway); shunt waits for a
    # person and is reported by the inspection
    queues = " ".join(q(f"{var}/qfiles/{qn}") for qn in DRAIN_QUEUES)
    drain = (f"while [ \"$(find {queues} -type f 2>/dev/null | wc -l)\" -gt 0 ]; do "
             f"for f in {q(f'{var}/qfiles/{RETRY_QUEUE}')}/*.pck; do "
             f"[ ! -f \"$f\" ] || mv \"$f\" {q(f'{var}/qfiles/{OUT_QUEUE}')}/; done; sleep 2; "
             "done")
    stopping = f.dest.old_mailman_stopping()
    stopped, restart = f.dest.old_mailman_stopped()
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
              "once: RetryRunner would wait 15 minutes." + (
                  f" {f.dest.name} needs more of the old Mailman before it stops: "
                  f"{f.dest.stopping_why}" if stopping else ""),
              [drain, *stopping, *([drain] if stopping else []), "service mailman stop",
               *stopped]
              # Mailman's cron jobs stop here: digests and reminders never go out from both
              + ([*cron, touch + "  # cron rereads its tables"] if cron_files else []),
              [f"test \"$(find {queues} -type f 2>/dev/null | wc -l)\" -eq 0"],
              ([*(c.undo() for c in cron), touch] if cron_files else []) + restart
              + ["service mailman start"]),
        _step(FINAL_SYNC, "freeze", "old", "Final sync, checked against the freeze manifest",
              "Copies only what changed since the pre-sync, by its record: the lists with "
              "their held posts and pending confirmations, the archives and the site's adm.pw "
              "and creator.pw (a file whose size, mtime, ctime and inode are as recorded is not "
              "read; an archive mbox that only grew moves its new tail), and sets owners and "
              "public archive links. The freeze manifest, made on the old host once Mailman has "
              "stopped, proves every carried file on the new host equals the old one; the held "
              "posts, request.pck and pending.pck of every list are compared on both hosts. "
              "It prints the window's parts (delta, copy, verify) and the bytes moved.",
              [f"NEW={f.new_ssh} sh \"$PLAN/rsync/final.sh\""],
              [f"ssh {q(f.new_ssh)} {q(manifest_check(f.dest))}"]),
    ]


def _switch(f: _Facts) -> list[Step]:
    """The list manager starts on the new host, then smtpd takes list mail there, the old
    host forwards, DNS names the new host."""
    inv, target, mta = f.inv, f.target, f.mta
    forward = mta.forward()
    out = f.dest.start() + [
        _smtpd(f),
        _step(UNFREEZE_STEP, "switch", "old", "Forward the moved domains from the old host",
              "Mail that still reaches the old host (IPv4-only senders, old DNS caches) goes on "
              "to the new one; the freeze ends.", forward.run, forward.check, forward.rollback),
        _step("old-web-proxy", "switch", "old", "Proxy Mailman's pages to the new host",
              "Clients that reach the web host through the old host (over IPv4, and every "
              "client of a web name that stays there: dns/records.md) keep working.",
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
    return [
        _step("post-checks", "verify", "local",
              "The new host answers: SMTP and every old address",
              "From the machine running migrate: an SMTP greeting on each new address, and "
              "every web address the old host gave out (each list's listinfo, admin and "
              "archive pages, the redirects it had) answers on the new host as the report "
              "says.", probes),
    ] + _prefixes(f) + f.dest.verify()


def _prefixes(f: _Facts) -> list[Step]:
    command = prefix_check(f.inv)
    if command is None:
        return []
    return [_step(
        "old-archive-prefixes", "verify", "old",
        "The appended archive mboxes, read whole on the old host",
        "Inside the freeze window the final sync appended to each archive mbox that only grew, "
        "trusting the record's head, tail and samples of the part copied before. The old host "
        "is frozen now: each such mbox is read whole against the pre-sync's checksum, outside "
        "the window. A difference (an edit in place of the same length, between the pre-sync "
        "and the freeze) stops the cutover and says how to put it right on the new host.",
        [command])]


def _after(f: _Facts) -> list[Step]:
    return [_step("ttl-restore", "after", "dns", "Raise the TTLs again", "After two quiet days.",
                  [f"# set the TTLs back to {f.target.normal_ttl} s"])]


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
    # the plan digest is added once plan.yaml's data is known (migrate/app/planning.py)
    out.files[RUNBOOK_FILE] = runbook_markdown(all_steps, inv.host.hostname, target.hostname,
                                               None)
    return out
