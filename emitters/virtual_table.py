"""``/etc/mail/virtual`` for the new host: the moved domains that were virtual domains on the
old host (per-domain alias files) keep exactly their own addresses.

OpenSMTPD's ``virtual`` expansion maps ``address@domain`` to other addresses. Each list
address maps to ``NAME@localhost``, which OpenSMTPD matches against the rules again as local
mail and expands through the aliases table into Mailman's pipe (checked with the real daemon
in tests/test_smtpd_delivery.py and tests/test_plan_delivery.py); the domain's other
addresses keep their forward targets. An address the table lacks is refused at RCPT time.
Every list hosted on the domain gets all ten of Mailman's addresses, including any the old
alias file left out (the parity table marks them "added").
"""

from __future__ import annotations

from migrate.model import AliasTargetKind, DomainRole, Finding, Inventory, Severity, Target

from migrate.emitters.common import (MAILMAN_ADDRESSES, Emitted, is_address, is_domain,
                                     is_local_part, list_names)

PATH = "files/new/etc/mail/virtual"
TABLE = "/etc/mail/virtual"


def virtual_domains(inv: Inventory, target: Target) -> list[str]:
    """Moved domains that were served from per-domain alias files on the old host."""
    old = set(inv.mta.domains_by_role(DomainRole.VIRTUAL))
    return [d for d in target.email_domains if d in old and is_domain(d)]


def lists_on(inv: Inventory, domain: str) -> list[str]:
    names, _ = list_names(inv)
    safe = set(names)
    found = {r.list_name for r in inv.mta.list_routes if r.domain == domain}
    found |= {ml.name for ml in inv.lists if ml.host_name == domain}
    return sorted(found & safe)


def emit_virtual(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    domains = virtual_domains(inv, target)
    if not domains:
        return out
    lines = [f"# {TABLE} for {target.hostname}, written by migrate: the addresses of the moved",
             "# virtual domains. After editing: smtpctl update table virtuals."]
    for domain in domains:
        lines += ["", f"# --- {domain}"]
        names = lists_on(inv, domain)
        taken = set()
        for name in names:
            for suffix, _ in MAILMAN_ADDRESSES:
                address = f"{name}{suffix}@{domain}"
                taken.add(address)
                lines.append(f"{address:<48} {name}{suffix}@localhost")
        for alias in inv.mta.aliases:
            if alias.domain != domain:
                continue
            local = alias.name.split("@", 1)[0]
            address = f"{local}@{domain}"
            if address in taken or any(t.kind == AliasTargetKind.PIPE for t in alias.targets):
                continue  # list addresses come from the lists themselves
            targets = [t.value.lstrip("\\") for t in alias.targets
                       if t.kind == AliasTargetKind.ADDRESS and is_address(t.value.lstrip("\\"))]
            if not is_local_part(local) or not targets \
                    or len(targets) != len(alias.targets):
                out.findings.append(Finding(
                    "plan.virtual-alias-left-out", Severity.WARNING,
                    f"{address} is not carried over: only plain addresses can be written into "
                    "the new host's virtual table",
                    "Forward it to an address by hand in the emitted virtual table, or keep it "
                    "on the old host.", alias.source))
                continue
            taken.add(address)
            lines.append(f"{address:<48} {', '.join(targets)}")
    out.files[PATH] = "\n".join(lines) + "\n"
    return out
