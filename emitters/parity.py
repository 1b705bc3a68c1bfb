"""Routing parity: for every address that reached a list on the old host, what carries it on
the new host (or from the old host to the new one)."""

from __future__ import annotations

from migrate.model import DomainRole, Inventory, Target

from migrate.emitters.aliases import mailman_aliases
from migrate.emitters.common import MAILMAN_ADDRESSES, Emitted, list_names
from migrate.emitters.virtual_table import lists_on, virtual_domains

PARITY = "parity.md"


def parity_rows(inv: Inventory, target: Target) -> list[dict]:
    names, _ = list_names(inv)
    safe = set(names)
    moved = set(target.email_domains)
    virtual = set(virtual_domains(inv, target))
    hosts = {ml.name: ml.host_name for ml in inv.lists}
    local = set(inv.mta.domains_by_role(DomainRole.LOCAL))
    new_aliases = {alias: pipe for name in names for alias, pipe in mailman_aliases(name)}
    rows: list[dict] = []
    seen = set()
    for r in sorted(inv.mta.list_routes, key=lambda r: (r.list_name, r.domain, r.address)):
        key = (r.address, r.domain)
        if key in seen:
            continue
        seen.add(key)
        old = r.router if r.via == "router" else f"{r.via} {r.source}" if r.source else r.via
        row = {"address": f"{r.address}@{r.domain}", "list": r.list_name, "old": old}
        if r.list_name not in safe:
            row.update(new="left out (unsafe name)", status="missing")
        elif r.domain in virtual:
            pipe = new_aliases.get(r.address)
            listed = r.list_name in lists_on(inv, r.domain)
            row.update(new=f"virtual {r.address}@{r.domain} -> {r.address}@localhost, alias "
                           f"{r.address}: {pipe}" if pipe and listed else "no virtual entry",
                       status="ok" if pipe and listed else "missing")
        elif r.domain in moved:
            pipe = new_aliases.get(r.address)
            row.update(new=f"alias {r.address}: {pipe}" if pipe else "no alias",
                       status="ok" if pipe else "missing")
        elif r.domain in local and hosts.get(r.list_name) in moved:
            row.update(new=f"old host forwards to {r.address}@{hosts[r.list_name]}",
                       status="forward")
        else:
            row.update(new="domain does not move", status="not moved")
        rows.append(row)
    # addresses the old host lacked but Mailman needs: the new host has them all
    for name in names:
        for domain in sorted({hosts.get(name)} & moved):
            for suffix, _ in MAILMAN_ADDRESSES:
                if (f"{name}{suffix}", domain) in seen:
                    continue
                via = (f"virtual {name}{suffix}@{domain} -> {name}{suffix}@localhost, "
                       if domain in virtual else "")
                rows.append({"address": f"{name}{suffix}@{domain}", "list": name,
                             "old": "none (missing on the old host)",
                             "new": f"{via}alias {name}{suffix}: {new_aliases[name + suffix]}",
                             "status": "added"})
    return rows


def emit_parity(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    rows = parity_rows(inv, target)
    out.data["parity"] = rows
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = ["# Routing parity", "",
             "Every address that reached a list on the old host, and what carries it after the "
             "move. " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".", "",
             "| address | list | old host | new host | status |", "|---|---|---|---|---|"]
    lines += [f"| {r['address']} | {r['list']} | {r['old']} | {r['new'].replace('|', '&#124;')}"
              f" | {r['status']} |" for r in rows]
    out.files[PARITY] = "\n".join(lines) + "\n"
    return out
