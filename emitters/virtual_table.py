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
to addresses becomes ``@domain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.model import AliasTargetKind, DomainRole, Finding, Inventory, Severity, Target

from migrate.emitters.common import (DISCARD, Emitted, canonical_address,
                                     flat_targets, is_address, is_canonical, is_domain,
                                     is_local_part, is_wrapper_pipe, list_names, other_targets,
                                     overlay_hint, route_alias, unsafe)
from migrate.emitters.destination import destination
from migrate.emitters.guard import comment

PATH = "files/new/etc/mail/virtual"
TABLE = "/etc/mail/virtual"
_REFUSED = (AliasTargetKind.FAIL, AliasTargetKind.DEFER, AliasTargetKind.BLACKHOLE)


def virtual_domains(inv: Inventory, target: Target) -> list[str]:
    """Moved domains that were served from per-domain alias files on the old host."""
    old = set(inv.mta.domains_by_role(DomainRole.VIRTUAL))
    return [d for d in target.email_domains if d in old and is_domain(d)]


def lists_on(inv: Inventory, domain: str) -> list[str]:
    """The lists a domain hosts: those reached there under Mailman's own names, and those
    whose host_name it is. A list reached on the domain only under other names (``talks:``
    piping into ``seminar``) is not hosted there: its own addresses stay refused."""
    names, _ = list_names(inv)
    safe = set(names)
    found = {r.list_name for r in inv.mta.list_routes if r.domain == domain and is_canonical(r)}
    found |= {ml.name for ml in inv.lists if ml.host_name == domain}
    return sorted(found & safe)


@dataclass
class VirtualTable:
    """The new host's virtual table: per domain, (key, values, why) in the order written."""

    domains: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # comment lines per domain
    findings: list[Finding] = field(default_factory=list)

    def lookup(self, address: str) -> str | None:
        """What the table maps ``local@domain`` to (the domain's catch-all included)."""
        local, _, domain = address.rpartition("@")
        entries = {key.lower(): value for key, value, _ in self.domains.get(domain, [])}
        return entries.get(address.lower()) or entries.get(f"@{domain}".lower())


def virtual_table(inv: Inventory, target: Target) -> VirtualTable:
    """What the new host's virtual table holds (parity.md checks every old address against
    these entries)."""
    out = VirtualTable()
    names, _ = list_names(inv)
    safe = set(names)
    dest = destination(inv, target, None)
    for domain in virtual_domains(inv, target):
        rows: list[tuple[str, str, str | None]] = []
        notes: list[str] = []
        taken: set[str] = set()

        def add(key: str, value: str, why: str | None = None) -> None:
            taken.add(key.lower())
            rows.append((key, value, why))

        for name in lists_on(inv, domain):
            for local, _ in dest.addresses(name):
                add(f"{local}@{domain}", f"{local}@localhost")
        # old addresses that reached a list under another name, as the old file had them
        other: dict[str, list[str]] = {}
        for route in inv.mta.list_routes:
            if route.domain != domain or is_canonical(route):
                continue
            canonical = canonical_address(route)
            if canonical is None or route.list_name not in safe:
                continue
            local = route.address
            if not (is_local_part(local) or local == "*"):
                out.findings.append(unsafe("virtual address", f"{local}@{domain}",
                                           "the virtual table", route.source))
                continue
            key = f"@{domain}" if local == "*" else f"{local}@{domain}"
            if key.lower() in taken and key not in other:
                continue
            if key not in other:
                extras, problems = other_targets(route_alias(inv, route))
                for problem in problems:
                    out.findings.append(Finding(
                        "plan.virtual-alias-target", Severity.WARNING,
                        f"{key} (list {route.list_name}): {problem}",
                        "The list part is carried; forward the rest to an address "
                        f"{overlay_hint(PATH)}.", route.source))
                other[key] = extras
                taken.add(key.lower())
            value = f"{canonical}@localhost"
            if value not in other[key]:
                other[key].insert(sum(v.endswith("@localhost") for v in other[key]), value)
        for key, values in other.items():
            rows.append((key, ", ".join(values), "an old name of a list"))
        for refusal in inv.mta.refused:
            if refusal.domain != domain:
                continue
            key = f"@{domain}" if refusal.address == "*" else f"{refusal.address}@{domain}"
            if key.lower() in taken:
                continue
            where = f" ({refusal.source})" if refusal.source else ""
            if refusal.outcome == "dropped" and (refusal.address == "*"
                                                 or is_local_part(refusal.address)):
                # mapped to a local name whose alias is /dev/null (emitters/aliases.py)
                add(key, f"{DISCARD}@localhost", f"dropped on the old host{where}")
            elif refusal.address == "*":
                notes.append(f"# every other address: refused, as on the old host{where}")
            elif is_local_part(refusal.address):
                notes.append(f"# {key}: refused, as on the old host{where}")
        for alias in inv.mta.aliases:
            if alias.domain != domain:
                continue
            local = alias.name.split("@", 1)[0]
            address = f"{local}@{domain}"
            if address.lower() in taken or any(is_wrapper_pipe(t)
                                               for t in flat_targets(alias.targets)):
                continue  # list addresses come from the lists and their routes
            if len(alias.targets) == 1 and alias.targets[0].kind in _REFUSED:
                continue  # refused or dropped on purpose: above
            if alias.catch_all:
                address = f"@{domain}"
                if address.lower() in taken:
                    continue
            targets = [t.value.lstrip("\\") for t in alias.targets
                       if t.kind == AliasTargetKind.ADDRESS and is_address(t.value.lstrip("\\"))]
            if not (is_local_part(local) or alias.catch_all) or not targets \
                    or len(targets) != len(alias.targets):
                out.findings.append(Finding(
                    "plan.virtual-alias-left-out", Severity.WARNING,
                    f"{address} is not carried over: only plain addresses can be written into "
                    "the new host's virtual table",
                    f"Forward it to an address {overlay_hint(PATH)}, or keep it on the old "
                    "host.", alias.source))
                continue
            add(address, ", ".join(targets))
        out.domains[domain] = rows
        out.notes[domain] = notes
    return out


def emit_virtual(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    table = virtual_table(inv, target)
    out.findings = table.findings
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
