"""``/etc/mail/aliases`` for the new host: Mailman's ten pipe aliases per list into the OpenBSD
package's wrapper, the old host's other aliases for the moved domains, and the few system
aliases a mail host needs.

OpenSMTPD reads the file as a ``file:`` table (``table aliases file:/etc/mail/aliases``): a
change takes effect with ``smtpctl update table aliases`` (6.4 and later) or ``newaliases``;
releases before 6.0 read ``/etc/mail/aliases.db`` instead, built by ``newaliases`` (makemap;
``Release.aliases_db``). Pipes run as ``_smtpd``, the group the smtpd-flavoured mailman
package's wrapper expects.

Mail for every moved domain is matched against this one table by local part, so a name means
the same on every moved domain: Mailman 2 list names are unique on a host, and Exim's Mailman
router accepted every list on every list domain too. A non-list alias of a moved virtual
domain whose name is already taken by a different definition is left out with a finding.

An old address that reached a list under another name (``club: "|.../mailman post members"``,
also through an ``:include:`` file) is carried as it was, as a pipe into the new wrapper with
the same command and list (plus its other address targets); an address the old host dropped
(``:blackhole:``) goes to ``/dev/null``; one it refused (``:fail:``) has no entry, so smtpd
refuses it too. parity.md checks every old address against these entries. What the file holds
is the new host's address table (``emitters.new_host``); this module writes it.
"""

from __future__ import annotations

from migrate.core.model import Inventory, Target

from emitters.common import ALIASES_FILE, Emitted
from emitters.guard import comment
from emitters.new_host import NewHost
from emitters.release import Release

PATH = ALIASES_FILE


def emit_aliases(inv: Inventory, target: Target, release: Release, host: NewHost) -> Emitted:
    out = Emitted()
    out.findings = list(host.aliases.findings)
    out.files[PATH] = _render(inv, target, release, host.aliases.sections,
                              host.destination.delivery_note)
    out.install(PATH, "/etc/mail/aliases", check="smtpd -n",
                then=("newaliases  # OpenSMTPD before 6.0 reads /etc/mail/aliases.db"
                      if release.aliases_db else None))
    return out


def _render(inv: Inventory, target: Target, release: Release,
            sections: list[tuple[str, list[str]]], note: str) -> str:
    if release.aliases_db:
        reload = "newaliases (OpenSMTPD before 6.0 reads /etc/mail/aliases.db)"
    else:
        reload = "smtpctl update table aliases"
    lines = [
        f"# /etc/mail/aliases for {comment(target.hostname)} (OpenBSD {release}), written by "
        "migrate",
        f"# from the inventory of {comment(inv.host.hostname or 'the old host')}.",
        f"# After editing: {reload}.",
        f"# {note}",
    ]
    for title, body in sections:
        if not body:
            continue
        lines += ["", f"# --- {comment(title)}"]
        lines += body
    return "\n".join(lines) + "\n"
