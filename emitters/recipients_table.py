"""``/etc/mail/recipients`` for the new host (OpenBSD 6.4 and later): the local parts the moved
domains that share the aliases table answer to, one per line.

smtpd's ``alias`` action delivers a local part that no alias names to a local account of that
name, so ``daemon@LISTDOMAIN`` or ``www@LISTDOMAIN`` would land in a mailbox nobody reads, where
the old host refused them at RCPT time. smtpd.conf's rule for those domains therefore matches
only the recipients this list table names (``rcpt-to <recipients>``: an entry without a domain
matches that local part on any domain, a ``+tag`` of the address is set aside as the alias
lookup sets it aside); any other is refused at RCPT, as on the old host. The names are the
aliases table's (``emitters.new_host``), so an alias added there must be added here too.
"""

from __future__ import annotations

from migrate.core.model import Inventory, Target

from emitters.common import DISCARD, Emitted
from emitters.guard import comment
from emitters.new_host import NewHost
from emitters.release import Release

PATH = "files/new/etc/mail/recipients"
TABLE = "/etc/mail/recipients"


def recipients(host: NewHost) -> list[str]:
    """The local parts the moved domains of the aliases table take: every name of the table
    but the one the virtual table's dropped addresses reach through ``localhost``."""
    return [name for name in host.aliases.entries if name != DISCARD]


def emit_recipients(inv: Inventory, target: Target, release: Release, host: NewHost) -> Emitted:
    out = Emitted()
    if not release.smtpd_match_grammar:
        return out
    lines = [f"# {TABLE} for {comment(target.hostname)}, written by migrate: the local parts the",
             "# moved domains answer to (every name of /etc/mail/aliases that serves them); any",
             "# other is refused at RCPT time. An alias added there must be added here too.",
             "# After editing: smtpctl update table recipients.", ""]
    lines += recipients(host)
    out.files[PATH] = "\n".join(lines) + "\n"
    out.install(PATH, TABLE, check="smtpd -n")
    return out
