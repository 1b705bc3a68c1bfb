"""What the runbook does to the old host's MTA, chosen by ``Mta.kind``: an adapter per MTA.

The runbook (emitters/runbook.py) is the same for every old host; what depends on its MTA
comes from here: how to see that the MTA is there, the freeze (a 4xx for the moved domains),
the wait for its queue to hold no list mail, the forward to the new host, and the reload that
makes a change take effect. Exim is the one the inspection reads today; a Postfix or Sendmail
old host would be a second adapter (and a parser), not edits all over the runbook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from migrate.model import EXIM_CONFIG_ROLES, Inventory
from migrate.steps import Action, Insert

from migrate.emitters.guard import sh_word
from migrate.emitters.old_host import ALIASES, FREEZE, ROUTER, ROUTER_NAME


@dataclass
class StepParts:
    """The actions, checks and way back of one step, as the adapter writes them."""

    run: list
    check: list[str]
    rollback: list


class OldMta(Protocol):
    """What an adapter gives the runbook (``Exim`` is the one there is)."""

    name: str  # for people: "Exim"
    version: str  # a command that fails unless the MTA is there
    reload: str  # a command that makes a configuration change take effect
    queue_step: str  # the id of the step that waits for the MTA's queue

    def freeze(self) -> StepParts: ...

    def unfreeze(self) -> Action: ...

    def queue(self) -> StepParts: ...

    def forward(self) -> StepParts: ...


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
        acl = self.inv.mta.options.get("acl_smtp_rcpt", "acl_check_rcpt")
        acl = acl if re.fullmatch(r"[A-Za-z0-9_]+", acl) else "acl_check_rcpt"
        return Insert(source=FREEZE, paths=self._config_files(), after=rf"^\s*{acl}:\s*$",
                      marker="freeze")

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
        first = self.inv.mta.routers[0] if self.inv.mta.routers else None
        if first is not None and first.source and re.fullmatch(r"[A-Za-z0-9_]+", first.name):
            router = Insert(source=ROUTER, paths=[first.source.file],
                            before=rf"^\s*{first.name}:", marker="forward")
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


#: the adapters by ``Mta.kind``: each made with (inventory, moved domains, a probe address)
ADAPTERS: dict[str, type[OldMta]] = {Exim.kind: Exim}


def adapter_for(inv: Inventory) -> type[OldMta] | None:
    """The adapter for the old host's MTA; an inventory that found none gets Exim's (the
    runbook's commands then fail at the preflight, on the old host, before anything
    changes). None for an MTA with no adapter."""
    return ADAPTERS.get(inv.mta.kind or Exim.kind)

