"""The Exim plugin's writing half (migrate/core/mta.py): the old host's files for the freeze and the
forward, and what the runbook does to the old Exim.

The runbook (emitters/runbook.py) is the same for every old host; what depends on its MTA
comes from its plugin's adapter: how to see that the MTA is there, the freeze (a 4xx for the
moved domains), the wait for its queue to hold no list mail, the forward to the new host, the
end of the freeze, and the reload that makes a change take effect.

* ``files/old/exim-forward-router.conf``: a ``manualroute`` router that sends mail for the moved
  domains to the new host's address; it goes first in ``begin routers`` (in any case before the
  router that hands list mail to Mailman today), with ``no_more`` so no later router sees it.
* ``files/old/exim-freeze-acl.conf``: for the freeze, a ``defer`` statement for the start of the
  RCPT ACL: senders get a 4xx and keep the mail in their own queues until the switch.
"""

from __future__ import annotations

import re

from migrate.core.model import (EXIM_CONFIG_ROLES, EximPart, Finding, Inventory, RouteVia, Severity,
                                Target)
from migrate.core.mta import Kept, StepParts, Writer
from migrate.core.steps import Action, Insert

from emitters.guard import comment, refuse, sh_word
from emitters.old_host import ALIASES

ROUTER = "files/old/exim-forward-router.conf"
FREEZE = "files/old/exim-freeze-acl.conf"
ROUTER_NAME = "migrate_forward"
#: An Exim driver instance's name (readconf.c: letters, digits and underscores).
_EXIM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")


def old_host_files(inv: Inventory, target: Target, domains: list[str],
                   kept: Kept) -> tuple[dict[str, str], list[Finding]]:
    """The forward router and the freeze's ACL statement, for the moved ``domains``; the
    router passes over the addresses the old host keeps serving (``kept``), so the routers
    after it deliver them as before, and what they redirect to a list goes on to the new
    host (a condition on the address, not on where the mail came from)."""
    mta, part = inv.mta, EximPart.of(inv.mta)
    address = (target.ipv6 or target.ipv4)[0]
    files: dict[str, str] = {}
    findings: list[Finding] = []
    first = part.routers[0] if part.routers else None
    routers = {rt.router for rt in mta.list_routes if rt.via == RouteVia.ROUTER}
    mailman_router = next((r for r in part.routers if r.name in routers), None)
    smtp_transport = None
    for i, t in enumerate(part.transports):
        if t.driver != "smtp":
            continue
        if _EXIM_NAME.match(t.name):
            smtp_transport = t.name
            break
        findings.append(refuse(f"mta.transports[{i}].name", t.name, ROUTER, t.source))
    where = "as the first router after `begin routers`"
    if first is not None and first.source:
        where += f", before {comment(first.name)} ({comment(first.source)})"
    if mailman_router is not None and mailman_router.source:
        where += (f"; in any case before {comment(mailman_router.name)} "
                  f"({comment(mailman_router.source)})")
    transport = smtp_transport or "migrate_smtp"
    lines = [
        f"# For {comment(inv.host.hostname or 'the old host')}'s Exim configuration, written by "
        "migrate.",
        f"# Insert {where}.",
        f"# Mail for the moved domains then goes to the new host {comment(target.hostname)} "
        f"({address}).",
        "# Check: exim -bt LIST@DOMAIN shows router " + ROUTER_NAME + " and the new address.",
        f"{ROUTER_NAME}:",
        "  driver = manualroute",
        "  domains = " + (" : ".join(domains) if domains else "! *"),
        f"  transport = {transport}",
        f"  route_data = <;{address}",  # <; lists hold colons; no space after it
    ]
    if kept:
        tests = []
        if kept.addresses:
            tests.append(f"match_address{{$local_part@$domain}}{{<; {' ; '.join(kept.addresses)}}}")
        if kept.domains:
            domain = f"match_domain{{$domain}}{{<; {' ; '.join(kept.domains)}}}"
            if kept.but:
                domain = (f"and{{{{{domain}}}{{!match_address{{$local_part@$domain}}"
                          f"{{<; {' ; '.join(kept.but)}}}}}}}")
            tests.append(domain)
        test = tests[0] if len(tests) == 1 else "or{" + "".join(f"{{{t}}}" for t in tests) + "}"
        lines[-3:-3] = [
            "  # the addresses the old host keeps serving (the new host hands them back): the",
            "  # routers below deliver them as before",
            f"  condition = ${{if {test}{{no}}{{yes}}}}"]
    lines.append("  no_more")
    if smtp_transport is None:
        lines += ["", "# No smtp transport exists yet; add this one to `begin transports`:",
                  "migrate_smtp:", "  driver = smtp"]
        findings.append(Finding(
            "plan.old-no-smtp-transport", Severity.INFO,
            "the old Exim has no smtp transport; the forward router comes with one",
            f"Add the transport in {ROUTER} to `begin transports` too.", None))
    files[ROUTER] = "\n".join(lines) + "\n"

    acl = part.options.get("acl_smtp_rcpt")
    freeze = [
        "# The freeze: add as the FIRST statement of the RCPT ACL"
        + (f" ({comment(acl)})" if acl else " (acl_smtp_rcpt)") + " of the old Exim, then "
        "reload it.",
        "# Senders get a temporary error and retry; nothing is accepted that would not move.",
        "# Remove it again when the forward router is in place.",
        "  defer   domains = " + (" : ".join(domains) if domains else "! *"),
        "          message = the list server is moving; please try again in a few minutes",
    ]
    files[FREEZE] = "\n".join(freeze) + "\n"

    return files, findings


class Exim:
    """Exim 4, as FreeBSD's port installs it (``service exim``)."""

    kind = "exim"
    name = "Exim"
    reload = "service exim reload"
    version = "exim -bV | head -n 1"
    queue_step = "old-exim-queue"

    def __init__(self, inv: Inventory, domains: list[str], probe: str | None) -> None:
        self.inv = inv
        self.domains = domains
        self.probe = probe  # a list address on a moved domain

    def _config_files(self) -> list[str]:
        # only Exim's configuration (the main file and its .include files) can hold the ACL:
        # the files its lookups read are data and are never edited
        return [c.path for c in self.inv.mta.config_files if c.path.startswith("/")
                and c.role in EXIM_CONFIG_ROLES]

    def _freeze(self) -> Insert:
        """The freeze's statement right after the RCPT ACL's ``name:`` line, in the one file of
        Exim's configuration where the inspection found that line (and at that line, then).
        An ACL the inspection did not find is looked for in each of the configuration's files,
        in order (the step stops if none has it)."""
        part = EximPart.of(self.inv.mta)
        acl = part.options.get("acl_smtp_rcpt", "acl_check_rcpt")
        acl = acl if re.fullmatch(r"[A-Za-z0-9_]+", acl) else "acl_check_rcpt"
        start = part.acls.get(acl)
        found = start is not None and start.file in self._config_files()
        return Insert(source=FREEZE, paths=[start.file] if found else self._config_files(),
                      after=rf"^\s*{acl}:\s*$", marker="freeze",
                      line=start.line if found else None)

    def freeze(self) -> StepParts:
        """The RCPT ACL defers the moved domains (a 4xx: senders keep the mail and retry)."""
        check = []
        if self.probe:
            check = ["printf 'HELO check.example\\r\\nMAIL FROM:<check@check.example>\\r\\n"
                     f"RCPT TO:<{self.probe}>\\r\\nQUIT\\r\\n' | exim -bh 192.0.2.99 | "
                     "grep -q '^451'"]
        return StepParts([self._freeze(), self.reload], check,
                         [self._freeze().undo(), self.reload])

    def unfreeze(self) -> Action:
        return self._freeze().undo()

    def queue(self) -> StepParts:
        """Deliver what is queued, and check no list mail is left. ``exim -bpru`` lists each
        message's undelivered recipients on indented lines below its sender line: only those
        count. Mailman's own deliveries to the members (sender LIST-bounces@ a moved domain)
        may stay queued for remote hosts; they need no Mailman."""
        domain_re = "|".join(re.escape(d) for d in self.domains) or "^$"
        pattern = "^[[:space:]]+[^[:space:]]*@(" + domain_re + ")$"
        return StepParts(["exim -q"], [f"! exim -bpru | grep -Eiq {sh_word(pattern)}"], [])

    def forward(self) -> StepParts:
        """A router first in ``begin routers`` sends the moved domains to the new host, the
        freeze ends, and aliases on domains that stay forward to the moved lists."""
        run: list = []
        undo: list = []
        routers = EximPart.of(self.inv.mta).routers
        first = routers[0] if routers else None
        if first is not None and first.source and re.fullmatch(r"[A-Za-z0-9_]+", first.name):
            router = Insert(source=ROUTER, paths=[first.source.file],
                            before=rf"^\s*{first.name}:", marker="forward",
                            line=first.source.line)
            run.append(router)
            undo.append(router.undo())
        else:
            run.append("# insert files/old/exim-forward-router.conf first in `begin routers`")
        run.append(self.unfreeze())
        alias_files = sorted({a.table for a in self.inv.mta.aliases if a.domain is None
                              and a.table.startswith("/")})
        if alias_files:
            # Exim's lsearch takes the first entry of a name: forwards at the top win
            aliases = Insert(source=ALIASES, paths=alias_files[:1], before=r"\A",
                             marker="alias-forward")
            run.append(aliases)
            undo.append(aliases.undo())
        check = ([f"exim -bt {sh_word(self.probe)} | grep -q {ROUTER_NAME}"]
                 if self.probe else [])
        return StepParts(run + [self.reload], check, undo + [self.reload])


WRITER = Writer(adapter=Exim, old_host=old_host_files,
                continued=(ROUTER.rsplit("/", 1)[1], FREEZE.rsplit("/", 1)[1]))
