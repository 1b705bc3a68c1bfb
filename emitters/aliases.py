"""``/etc/mail/aliases`` for the new host: Mailman's ten pipe aliases per list into the OpenBSD
package's wrapper, the old host's other aliases for the moved domains, and the few system
aliases a mail host needs.

OpenSMTPD reads the file as a ``file:`` table (``table aliases file:/etc/mail/aliases``): a
change takes effect with ``smtpctl update table aliases`` (6.4 and later); releases before
6.4 read ``/etc/mail/aliases.db``, built by ``newaliases`` (makemap). Pipes run as ``_smtpd``,
the group the smtpd-flavoured mailman package's wrapper expects.

Mail for every moved domain is matched against this one table by local part, so a name means
the same on every moved domain: Mailman 2 list names are unique on a host, and Exim's Mailman
router accepted every list on every list domain too. A non-list alias of a moved virtual
domain whose name is already taken by a different definition is left out with a finding.
"""

from __future__ import annotations

from migrate.model import AliasTarget, AliasTargetKind, Finding, Inventory, Severity, Target

from migrate.emitters.common import (MAILMAN_ADDRESSES, MM_WRAPPER, Emitted, is_address,
                                     is_local_part, list_names, unsafe)
from migrate.emitters.release import Release
from migrate.emitters.virtual_table import virtual_domains

PATH = "files/new/etc/mail/aliases"


def mailman_aliases(list_name: str) -> list[tuple[str, str]]:
    """(alias name, pipe) for the ten addresses of one list."""
    return [(f"{list_name}{suffix}", f"|{MM_WRAPPER} {command} {list_name}")
            for suffix, command in MAILMAN_ADDRESSES]


def admin_address(inv: Inventory, target: Target) -> str | None:
    """Where root's mail goes on the new host: the site list's first owner."""
    site = (inv.mailman.settings.site_list if inv.mailman and inv.mailman.settings else None) \
        or "mailman"
    for ml in inv.lists:
        if ml.name == site and ml.owners and is_address(ml.owners[0]):
            return ml.owners[0]
    return None


def emit_aliases(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    names, out.findings = list_names(inv)
    entries: dict[str, str] = {}  # alias -> value, in the order written
    sections: list[tuple[str, list[str]]] = []

    admin = admin_address(inv, target)
    system = [("MAILER-DAEMON", "postmaster"), ("postmaster", "root"), ("abuse", "root"),
              ("hostmaster", "root"), ("webmaster", "root")]
    if admin:
        system.append(("root", admin))
    else:
        out.findings.append(Finding(
            "plan.no-admin-address", Severity.WARNING,
            "no address for root's mail on the new host (the site list has no owner with a "
            "full address)",
            "Add `root: you@example.org` to the emitted aliases file before the move; "
            "bounces and cron mail go there.", None))
    sections.append(("System aliases (root's mail goes to the site list's owner)",
                     [_line(n, v) for n, v in system]))
    entries.update(system)

    for name in names:
        lines = []
        for alias, pipe in mailman_aliases(name):
            if alias in entries:
                out.findings.append(Finding(
                    "plan.alias-collision", Severity.ERROR,
                    f"the list address {alias} is also a system alias on the new host",
                    "Rename the list or drop the system alias from the emitted file.", None))
                continue
            entries[alias] = pipe
            lines.append(_line(alias, f'"{pipe}"'))
        sections.append((f"Mailman list {name}", lines))

    # the old per-domain alias files of moved domains become the virtual table
    # (emitters/virtual_table.py); other moved domains' aliases are carried here
    moved = set(target.email_domains) - set(virtual_domains(inv, target))
    carried = []
    for alias in inv.mta.aliases:
        if alias.domain is None or alias.domain not in moved:
            continue
        name = alias.name.split("@", 1)[0]
        if any(t.kind == AliasTargetKind.PIPE and "mailman" in t.value for t in alias.targets):
            continue  # a list address: written above from the list itself
        if not is_local_part(name):
            out.findings.append(unsafe("alias name", alias.name, "the aliases file",
                                       alias.source))
            continue
        values, problems = _targets(alias.targets)
        for problem in problems:
            out.findings.append(Finding(
                "plan.alias-target", Severity.WARNING,
                f"alias {alias.name}@{alias.domain}: {problem}",
                "OpenSMTPD on the new host takes addresses only for carried aliases; forward "
                "it to an address, or keep it on the old host.", alias.source))
        if not values:
            continue
        value = ", ".join(values)
        if name in entries and entries[name] != value:
            out.findings.append(Finding(
                "plan.alias-collision", Severity.WARNING,
                f"{alias.name}@{alias.domain} ({value}) is left out: {name} already means "
                f"{entries[name]} on the new host, where one aliases table serves every moved "
                "domain",
                "Check that the existing meaning is right for this domain too, or give the "
                "domain its own address.", alias.source))
            continue
        if name not in entries:
            entries[name] = value
            carried.append(_line(name, value))
    if carried:
        sections.append(("Carried over from the moved domains' alias files", carried))

    out.files[PATH] = _render(inv, target, release, sections)
    return out


def _targets(targets: list[AliasTarget]) -> tuple[list[str], list[str]]:
    values, problems = [], []
    for t in targets:
        if t.kind == AliasTargetKind.ADDRESS and is_address(t.value.lstrip("\\")):
            values.append(t.value.lstrip("\\"))
        elif t.kind == AliasTargetKind.BLACKHOLE:
            values.append("/dev/null")
        else:
            problems.append(f"target {t.kind.value} {t.value!r} is not carried over")
    return values, problems


def _line(name: str, value: str) -> str:
    return f"{name + ':':<28}{value}"


def _render(inv: Inventory, target: Target, release: Release,
            sections: list[tuple[str, list[str]]]) -> str:
    if release.smtpd_match_grammar:
        reload = "smtpctl update table aliases"
    else:
        reload = "newaliases (OpenSMTPD before 6.4 reads /etc/mail/aliases.db)"
    lines = [
        f"# /etc/mail/aliases for {target.hostname} (OpenBSD {release}), written by migrate",
        f"# from the inventory of {inv.host.hostname or 'the old host'}.",
        f"# After editing: {reload}.",
        "# Pipes run as _smtpd: the mailman package's smtpd flavour expects that group.",
    ]
    for title, body in sections:
        if not body:
            continue
        lines += ["", f"# --- {title}"]
        lines += body
    return "\n".join(lines) + "\n"
