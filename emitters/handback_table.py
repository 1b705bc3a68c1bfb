"""``/etc/mail/handback`` for the new host: the moved domains' addresses that are not lists' and
that the old host keeps serving (``Target.old_host_stays``): aliases, people's mailboxes,
forward files. smtpd.conf relays mail for each to the old host's address, whose MTA delivers
it as it always did; the old host's forward router lets mail from the new host, and these
addresses, through to its own routers (emitters/old_mta.py), so nothing loops.

One address per line: a list table (``table handback file:/etc/mail/handback``), which
``smtpd.conf``'s ``rcpt-to <handback>`` matches against each recipient. The addresses are the
new host's (``emitters.new_host``, ``HandBack``); this module writes them.
"""

from __future__ import annotations

from migrate.core.model import Inventory, Target

from emitters.common import Emitted
from emitters.guard import comment
from emitters.new_host import NewHost

PATH = "files/new/etc/mail/handback"
TABLE = "/etc/mail/handback"


def emit_handback(inv: Inventory, target: Target, release, host: NewHost) -> Emitted:
    out = Emitted()
    back = host.handback
    if not back.addresses:
        return out
    lines = [f"# {TABLE} for {comment(target.hostname)}, written by migrate: the moved domains'",
             f"# addresses that {comment(inv.host.hostname or 'the old host')} keeps serving; "
             f"smtpd relays them to {comment(back.host or '?')}.",
             "# After editing: smtpctl update table handback.", ""]
    lines += back.addresses
    out.files[PATH] = "\n".join(lines) + "\n"
    out.install(PATH, TABLE, check="smtpd -n")
    return out
