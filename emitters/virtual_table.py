"""``/etc/mail/virtual`` for the new host: the moved domains that were virtual domains on the
old host (per-domain alias files) keep exactly their own addresses.

OpenSMTPD's ``virtual`` expansion maps ``address@domain`` to other addresses. Each list
address maps to ``NAME@localhost``, which OpenSMTPD matches against the rules again as local
mail and expands through the aliases table into Mailman's pipe (checked with the real daemon
in tests/test_smtpd_delivery.py and tests/test_plan_delivery.py); the domain's other
addresses keep their forward targets. An address the table lacks is refused at RCPT time.
Every list hosted on the domain gets all ten of Mailman's addresses, including any the old
alias file left out (the parity table marks them "added"). An address that reached a list under
another name (``talks`` piping into ``seminar``) maps to the list's own address for that
command (``seminar@localhost``); a list reached there only under other names is not hosted
there, so its own addresses stay refused as the old file's catch-all refused them. Addresses
the old file dropped (``:blackhole:``) map to ``migrate-discard@localhost`` (``/dev/null`` in
the aliases); refused ones (``:fail:``, a ``*: :fail:`` catch-all) have no entry. A catch-all
to addresses becomes ``@domain``. The entries are the new host's address table
(``emitters.new_host``); this module writes them.
"""

from __future__ import annotations

from migrate.core.model import Inventory, Target

from emitters.common import VIRTUAL_FILE, Emitted
from emitters.guard import comment
from emitters.new_host import NewHost

PATH = VIRTUAL_FILE
TABLE = "/etc/mail/virtual"


def emit_virtual(inv: Inventory, target: Target, release, host: NewHost) -> Emitted:
    out = Emitted()
    table = host.virtual
    out.findings = list(table.findings)
    if not table.domains:
        return out
    lines = [f"# {TABLE} for {comment(target.hostname)}, written by migrate: the addresses of "
             "the moved",
             "# virtual domains. After editing: smtpctl update table virtuals."]
    for domain, rows in table.domains.items():
        lines += ["", f"# --- {comment(domain)}"]
        for key, value, why in rows:
            if why:
                lines.append(f"# {comment(why)}")
            lines.append(f"{key:<48} {value}")
        lines += [comment(note) for note in table.notes[domain]]
    out.files[PATH] = "\n".join(lines) + "\n"
    out.install(PATH, "/etc/mail/virtual", check="smtpd -n")
    return out
