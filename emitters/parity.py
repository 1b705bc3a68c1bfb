"""Routing parity: for every address that reached a list on the old host, and every address it
refused or dropped on purpose, what the new host does with it (or the old host, forwarding).

The table is checked, not assumed: each row looks the address up in the entries the emitted
``aliases`` and ``virtual`` files are written from (the new host's, ``emitters.new_host``) and
follows them to the delivery the address table gives the list and command of the old host (a
pipe into Mailman's wrapper). A list address that nothing carries is ``missing``, and each
missing row is a blocker finding: after the cutover that address would be rejected.
"""

from __future__ import annotations

from migrate.core.model import DomainRole, Finding, Inventory, RouteVia, Severity, Target

from emitters.common import (ALIASES_FILE as ALIASES, DISCARD, VIRTUAL_FILE as VIRTUAL, Emitted,
                             canonical_address, overlay_hint, route_action)
from emitters.old_host import forwards
from emitters.guard import md_text
from emitters.new_host import AliasTable, NewHost, VirtualTable

PARITY = "parity.md"


def _pipes(aliases: AliasTable, name: str, depth: int = 0) -> set[str]:
    """The pipes a local name expands to through the new aliases (nested names followed)."""
    value = aliases.entries.get(name)
    if value is None or depth > 5:
        return set()
    out: set[str] = set()
    for item in (v.strip() for v in value.split(", ")):
        if item.startswith('"|'):
            out.add(item.strip('"'))
        elif "@" not in item and item != "/dev/null":
            out |= _pipes(aliases, item, depth + 1)
    return out


def _through_virtual(vtable: VirtualTable, aliases: AliasTable, address: str) -> tuple[
        str | None, set[str]]:
    """(the virtual entry, the pipes it reaches) for ``local@domain``."""
    value = vtable.lookup(address)
    if value is None:
        return None, set()
    pipes: set[str] = set()
    for item in value.split(", "):
        local, _, host = item.partition("@")
        if host == "localhost":
            pipes |= _pipes(aliases, local)
    return value, pipes


def _carried(address: str, domain: str, virtual: bool, vtable: VirtualTable,
             aliases: AliasTable, pipe: str) -> tuple[str, bool]:
    """(what carries ``address@domain`` on the new host, whether it reaches ``pipe``)."""
    if virtual:
        entry, pipes = _through_virtual(vtable, aliases, f"{address}@{domain}")
        if entry is None:
            return "no virtual entry", False
        first = entry.split(", ")[0].split("@")[0]
        return (f"virtual {address}@{domain} -> {entry}, alias {first}: "
                f"{aliases.entries.get(first, '?').strip(chr(34))}"), pipe in pipes
    pipes = _pipes(aliases, address)
    value = aliases.entries.get(address)
    return (f"alias {address}: {value.strip(chr(34))}" if value else "no alias"), pipe in pipes


def parity_rows(inv: Inventory, target: Target, host: NewHost) -> list[dict]:
    table = host.addresses
    known = {ml.name for ml in inv.lists}
    moved = set(target.email_domains)
    virtual = set(table.virtual_domains)
    hosts = {ml.name: ml.host_name for ml in inv.lists}
    local = set(inv.mta.domains_by_role(DomainRole.LOCAL))
    aliases, vtable = host.aliases, host.virtual
    forwarded = dict(forwards(inv, sorted(moved))[0])
    rows: list[dict] = []
    seen = set()
    for r in sorted(inv.mta.list_routes, key=lambda r: (r.list_name, r.domain, r.address)):
        action = route_action(r)
        key = (r.address.lower(), r.domain, r.list_name, action)
        if key in seen:
            continue
        seen.add(key)
        # the MTA's own rule by its name (an Exim router), else the table and line
        old = (r.router or str(r.via)) if r.via == RouteVia.ROUTER else \
            f"{r.via} {r.source}" if r.source else str(r.via)
        if r.via != RouteVia.ROUTER and canonical_address(r) not in (None, r.address):
            old += f" ({action} {r.list_name})"
        row = {"address": f"{r.address}@{r.domain}", "list": r.list_name, "old": old,
               "source": r.source}
        if r.list_name not in known:
            # the wrapper refused mail for a list Mailman does not have: so does the new host
            row.update(new="no such list in Mailman: refused, as on the old host",
                       status="rejected")
        elif r.list_name not in table.lists:
            row.update(new="left out (unsafe name)", status="missing")
        elif action is None:
            row.update(new="unknown command for the mail wrapper", status="missing")
        elif r.domain in moved:
            new, ok = _carried(r.address, r.domain, r.domain in virtual, vtable, aliases,
                               table.delivery(r.list_name, action).pipe)
            row.update(new=new, status="ok" if ok else "missing")
        elif r.domain in local and hosts.get(r.list_name) in moved:
            dest = forwarded.get(r.address)
            row.update(new=f"old host forwards to {dest}" if dest else "no forward",
                       status="forward" if dest else "missing")
        else:
            row.update(new="domain does not move", status="not moved")
        rows.append(row)
    # addresses the old host refused or dropped on purpose: the same on the new host
    for f in sorted(inv.mta.refused, key=lambda f: (f.domain, f.address)):
        if f.domain not in moved:
            continue
        address = f"{f.address}@{f.domain}"
        how = {"rejected": ":fail:", "deferred": ":defer:", "dropped": ":blackhole:"}.get(
            f.outcome, f"refused ({f.outcome!r})")  # an edited inventory's unknown outcome
        old = how + (f" {f.source}" if f.source else "")
        if f.address == "*":
            old = "catch-all " + old
        row = {"address": address, "list": "", "old": old, "source": f.source}
        if f.domain in virtual:
            entry = vtable.lookup(address if f.address != "*" else f"@{f.domain}")
            reaches = entry == f"{DISCARD}@localhost" and \
                aliases.entries.get(DISCARD) == "/dev/null"
        else:
            entry = aliases.entries.get(f.address) if f.address != "*" else None
            reaches = entry == "/dev/null"
        if f.outcome == "dropped":
            row.update(new=f"{'virtual ' + address + ' -> ' if f.domain in virtual else ''}"
                           f"{entry or 'no entry'} (dropped)" if reaches else
                           "no entry: refused instead of dropped",
                       status="dropped" if reaches else "changed")
        elif entry is None:
            row.update(new="no entry: smtpd refuses it (550)",
                       status="rejected" if f.outcome == "rejected" else "changed")
        else:
            row.update(new=f"accepted ({entry})", status="changed")
        rows.append(row)
    # addresses the old host lacked but Mailman needs: the new host has them all
    listed = {(r["address"].lower()) for r in rows}
    for name, deliveries in table.lists.items():
        for domain in sorted({hosts.get(name)} & moved):
            for d in deliveries:
                address = d.local
                if f"{address}@{domain}".lower() in listed:
                    continue
                new, ok = _carried(address, domain, domain in virtual, vtable, aliases, d.pipe)
                rows.append({"address": f"{address}@{domain}", "list": name,
                             "old": "none (missing on the old host)", "new": new,
                             "status": "added" if ok else "missing", "source": None})
    return rows


def parity_findings(rows: list[dict]) -> list[Finding]:
    out = []
    for r in rows:
        if r["status"] == "missing":
            out.append(Finding(
                "plan.parity-missing", Severity.BLOCKER,
                f"{r['address']} reached list {r['list']} on the old host ({r['old']}), but "
                f"the new host would reject it: {r['new']}",
                "Fix the old alias and inspect again, or add the address as a pipe into the "
                f"list's wrapper command {overlay_hint(ALIASES)} (or of {VIRTUAL}, for a "
                "virtual domain); the cutover must not run while this stands.", r["source"]))
        elif r["status"] == "changed":
            out.append(Finding(
                "plan.parity-changed", Severity.WARNING,
                f"{r['address']}: the old host gave {r['old']}, the new host: {r['new']}",
                "Check that the new behaviour is acceptable, or change it "
                f"{overlay_hint(ALIASES)} (or of {VIRTUAL}).", r["source"]))
    return out


def emit_parity(inv: Inventory, target: Target, release, host: NewHost) -> Emitted:
    out = Emitted()
    rows = parity_rows(inv, target, host)
    out.findings += parity_findings(rows)
    out.data.parity = [{k: v for k, v in r.items() if k != "source"} for r in rows]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = ["# Routing parity", "",
             "Every address that reached a list on the old host, every address it refused or "
             "dropped on purpose, and what the new host does with each. "
             + md_text(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))) + ".", "",
             "| address | list | old host | new host | status |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(md_text(r[k]) for k in ("address", "list", "old", "new",
                                                       "status")) + " |" for r in rows]
    out.files[PARITY] = "\n".join(lines) + "\n"
    return out
