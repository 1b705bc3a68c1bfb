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
refuses it too. parity.md checks every old address against these entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.model import AliasTarget, AliasTargetKind, Finding, Inventory, Severity, Target

from migrate.emitters.common import (DISCARD, Emitted, flat_targets, is_address, is_canonical,
                                     is_local_part, is_wrapper_pipe, list_names, other_targets,
                                     route_action, route_alias, overlay_hint, unsafe)
from migrate.emitters.destination import Destination, destination
from migrate.emitters.guard import comment
from migrate.emitters.release import Release
from migrate.emitters.virtual_table import virtual_domains, virtual_table

PATH = "files/new/etc/mail/aliases"
_REFUSED = (AliasTargetKind.FAIL, AliasTargetKind.DEFER, AliasTargetKind.BLACKHOLE)


def admin_address(inv: Inventory, target: Target) -> str | None:
    """Where root's mail goes on the new host: the site list's first owner."""
    site = (inv.mailman.settings.site_list if inv.mailman and inv.mailman.settings else None) \
        or "mailman"
    for ml in inv.lists:
        if ml.name == site and ml.owners and is_address(ml.owners[0]):
            return ml.owners[0]
    return None


@dataclass
class AliasTable:
    """The new host's aliases: name -> value in the order written, the sections, findings."""

    entries: dict[str, str] = field(default_factory=dict)
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def alias_table(inv: Inventory, target: Target) -> AliasTable:
    """What the new host's aliases file holds (the parity table checks every old list
    address against this, so it reads the same entries the file is written from)."""
    out = AliasTable()
    names, out.findings = list_names(inv)
    entries = out.entries
    sections = out.sections

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
            f"Add `root: you@example.org` {overlay_hint(PATH)} before the move; bounces "
            "and cron mail go there.", None))
    sections.append(("System aliases (root's mail goes to the site list's owner)",
                     [_line(n, v) for n, v in system]))
    entries.update(system)

    dest = destination(inv, target, None)
    for name in names:
        lines = []
        for alias, pipe in dest.addresses(name):
            if alias in entries:
                out.findings.append(Finding(
                    "plan.alias-collision", Severity.ERROR,
                    f"the list address {alias} is also a system alias on the new host",
                    "Rename the list or drop the system alias from the emitted file.", None))
                continue
            entries[alias] = f'"{pipe}"'
            lines.append(_line(alias, f'"{pipe}"'))
        sections.append((f"Mailman list {name}", lines))

    moved = set(target.email_domains) - set(virtual_domains(inv, target))
    sections.append(("Old addresses of the lists under other names (as the old host had them)",
                     _other_names(inv, moved, set(names), out, dest)))
    dropped = _dropped(inv, moved, out)
    vtable = virtual_table(inv, target)
    if any(value == f"{DISCARD}@localhost" for rows in vtable.domains.values()
           for _, value, _ in rows) and _claim(out, DISCARD, "/dev/null", DISCARD, None):
        dropped.append(_line(DISCARD, "/dev/null"))
    sections.append(("Addresses the old host dropped on purpose (:blackhole:)", dropped))

    # the old per-domain alias files of moved domains become the virtual table
    # (emitters/virtual_table.py); other moved domains' aliases are carried here
    carried = []
    for alias in inv.mta.aliases:
        if alias.domain is None or alias.domain not in moved:
            continue
        name = alias.name.split("@", 1)[0]
        if any(is_wrapper_pipe(t) for t in flat_targets(alias.targets)):
            continue  # a list address: carried above from the list routes
        if len(alias.targets) == 1 and alias.targets[0].kind in _REFUSED:
            continue  # refused on purpose: carried above, or refused on the new host too
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
        if not _claim(out, name, value, f"{alias.name}@{alias.domain}", alias.source):
            continue
        carried.append(_line(name, value))
    if carried:
        sections.append(("Carried over from the moved domains' alias files", carried))
    return out


def _claim(out: AliasTable, name: str, value: str, what: str, source) -> bool:
    """Take ``name`` for ``value``; a name already meaning something else is a finding."""
    have = out.entries.get(name)
    if have is None:
        out.entries[name] = value
        return True
    if have != value:
        out.findings.append(Finding(
            "plan.alias-collision", Severity.WARNING,
            f"{what} ({value}) is left out: {name} already means {have} on the new host, "
            "where one aliases table serves every moved domain",
            "Check that the existing meaning is right for this domain too, or give the "
            "domain its own address.", source))
    return False


def _other_names(inv: Inventory, moved: set[str], safe: set[str],
                 out: AliasTable, dest: Destination) -> list[str]:
    """Aliases that reached a list under a name Mailman does not give it (``club:`` piping
    into ``members``), on the moved domains that share the aliases table."""
    values: dict[str, list[str]] = {}
    sources: dict[str, object] = {}
    for route in inv.mta.list_routes:
        if route.domain not in moved or is_canonical(route):
            continue
        if route.address in sources and sources[route.address] != route.source:
            continue  # the same name from another table: the first one is carried
        action = route_action(route)
        if action is None or route.list_name not in safe:
            continue  # an unknown command or an unsafe list: the inventory reports both
        name = route.address
        if not is_local_part(name):
            out.findings.append(unsafe("alias name", name, "the aliases file", route.source))
            continue
        pipe = f'"{dest.delivery(route.list_name, action)}"'
        if name not in values:
            extras, problems = other_targets(route_alias(inv, route))
            for problem in problems:
                out.findings.append(Finding(
                    "plan.alias-target", Severity.WARNING,
                    f"alias {name} (list {route.list_name}): {problem}",
                    "The list part is carried; forward the rest to an address "
                    f"{overlay_hint(PATH)}.", route.source))
            values[name] = extras
            sources[name] = route.source
        if pipe not in values[name]:
            values[name].insert(sum(v.startswith('"|') for v in values[name]), pipe)
    lines = []
    for name, items in values.items():
        value = ", ".join(items)
        if _claim(out, name, value, f"{name} (an old list address)", sources[name]):
            lines.append(_line(name, value))
    return lines


def _dropped(inv: Inventory, moved: set[str], out: AliasTable) -> list[str]:
    lines = []
    for refusal in inv.mta.refused:
        if refusal.domain not in moved or refusal.outcome != "dropped" \
                or refusal.address == "*":
            continue
        if not is_local_part(refusal.address):
            out.findings.append(unsafe("alias name", refusal.address, "the aliases file",
                                       refusal.source))
            continue
        if refusal.address not in out.entries \
                and _claim(out, refusal.address, "/dev/null", refusal.address, refusal.source):
            lines.append(_line(refusal.address, "/dev/null"))
    return lines


def emit_aliases(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    table = alias_table(inv, target)
    out.findings = table.findings
    out.files[PATH] = _render(inv, target, release, table.sections)
    out.install(PATH, "/etc/mail/aliases", check="smtpd -n",
                then=("newaliases  # OpenSMTPD before 6.0 reads /etc/mail/aliases.db"
                      if release.aliases_db else None))
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
    if release.aliases_db:
        reload = "newaliases (OpenSMTPD before 6.0 reads /etc/mail/aliases.db)"
    else:
        reload = "smtpctl update table aliases"
    lines = [
        f"# /etc/mail/aliases for {comment(target.hostname)} (OpenBSD {release}), written by "
        "migrate",
        f"# from the inventory of {comment(inv.host.hostname or 'the old host')}.",
        f"# After editing: {reload}.",
        f"# {destination(inv, target, release).delivery_note}",
    ]
    for title, body in sections:
        if not body:
            continue
        lines += ["", f"# --- {comment(title)}"]
        lines += body
    return "\n".join(lines) + "\n"
