"""Routing parity: for every address the old host accepted or refused on purpose on a moved
domain, what the new host does with it, in two sections: the lists' addresses (and the list
addresses of domains that stay, which the old host forwards), then everything else (aliases,
people's mailboxes and forward files, catch-alls, refusals, and the rule for every local part
the old host named nowhere).

The table is checked, not assumed: each row looks the address up in the entries the emitted
``aliases`` and ``virtual`` files are written from (the new host's, ``emitters.new_host``) and
follows them to the delivery the address table gives the list and command of the old host (a
pipe into Mailman's wrapper). A list address that nothing carries is ``missing``, and each
missing row is a blocker finding: after the cutover that address would be rejected. The other
addresses are handed back to the old host while it stays (``Target.old_host_stays``: the hand-
back table and smtpd.conf's relay to it), or carried (the entry's recipients are checked), or
dropped as the target says; any other is ``lost``, a blocker naming it.
"""

from __future__ import annotations

from migrate.core.model import DomainRole, Finding, Inventory, RouteVia, Severity, Target

from emitters.common import (ALIASES_FILE as ALIASES, DISCARD, VIRTUAL_FILE as VIRTUAL, Emitted,
                             canonical_address, is_domain, overlay_hint, route_action)
from emitters.old_host import forwards
from emitters.guard import md_text
from emitters.new_host import AliasTable, Handling, NewHost, Other, VirtualTable
from emitters.release import Release

PARITY = "parity.md"


def _reached(aliases: AliasTable, name: str, depth: int = 0) -> set[str]:
    """What a local name expands to through the new aliases (nested names followed): the
    pipes (Mailman 2's deliveries) and the addresses of other domains (Mailman 3's, and any
    forward)."""
    value = aliases.entries.get(name)
    if value is None or depth > 5:
        return set()
    out: set[str] = set()
    for item in (v.strip() for v in value.split(", ")):
        if item.startswith('"|'):
            out.add(item.strip('"'))
        elif "@" in item and not item.endswith("@localhost"):
            out.add(item)
        elif "@" not in item and item != "/dev/null":
            out |= _reached(aliases, item, depth + 1)
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
            pipes |= _reached(aliases, local)
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
    pipes = _reached(aliases, address)
    value = aliases.entries.get(address)
    return (f"alias {address}: {value.strip(chr(34))}" if value else "no alias"), pipe in pipes


def parity_rows(inv: Inventory, target: Target, host: NewHost, release: Release) -> list[dict]:
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
    for row in rows:
        row["section"] = "lists"
    rows += _other_rows(inv, target, host, release)
    return rows


def _other_rows(inv: Inventory, target: Target, host: NewHost, release: Release) -> list[dict]:
    """The second section: every other address of the moved domains."""
    moved = set(target.email_domains)
    virtual = set(host.addresses.virtual_domains)
    aliases, vtable = host.aliases, host.virtual
    refusals = {r.address: r for r in host.refusals}
    rows: list[dict] = []
    for other in host.others:
        rows.append(_other_row(other, host, release))
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
        refusal = refusals.get(address.lower())
        if refusal is not None:
            kept = "its text" if refusal.text_kept else "a text of its own"
            row.update(new=f"smtpd's filter answers {refusal.reply[:3]} at RCPT, with {kept}",
                       status="rejected" if f.outcome == "rejected" else "deferred")
        elif f.outcome == "dropped":
            row.update(new=f"{'virtual ' + address + ' -> ' if f.domain in virtual else ''}"
                           f"{entry or 'no entry'} (dropped)" if reaches else
                           "no entry: refused instead of dropped",
                       status="dropped" if reaches else "changed")
        elif entry is None and f.outcome == "deferred":
            row.update(new="no entry: smtpd refuses it for good (550; this release has no "
                           "filter to answer 4xx): senders' mail bounces at once instead of "
                           "waiting in their queues", status="changed")
        elif entry is None:
            row.update(new="no entry: smtpd refuses it (550)",
                       status="rejected" if f.outcome == "rejected" else "changed")
        else:
            row.update(new=f"accepted ({entry})", status="changed")
        rows.append(row)
    rows += _unknown_rows(inv, target, host, release)
    for row in rows:
        row["section"] = "other"
    return rows


def _recipients(other: Other) -> str:
    """What the old host delivered an accepted address to, in a few words."""
    words = {"address": "", "mailbox": "mailbox ", "pipe": "pipe ", "file": "file ",
             "discard": "discarded", "fail": "refused: "}
    parts = [f"{words.get(r.kind, str(r.kind) + ' ')}{r.value}".strip()
             for r in other.accepted.recipients]
    shown = ", ".join(parts[:4]) + (f" and {len(parts) - 4} more" if len(parts) > 4 else "")
    return shown or "nothing"


def _other_row(other: Other, host: NewHost, release: Release) -> dict:
    acc = other.accepted
    where = acc.router and f"router {acc.router}"
    how = {"alias": "alias", "user": "local user", "forward": "forward file",
           "catch-all": "catch-all"}.get(acc.kind, str(acc.kind))
    old = f"{how} ({', '.join(str(x) for x in (where, acc.source) if x)}) -> {_recipients(other)}"
    row = {"address": other.address, "list": "", "old": old, "source": acc.source}
    if other.handling == Handling.HAND_BACK:
        row.update(new=f"relayed to the old host ({host.handback.host}), which delivers it as "
                       "before", status="handed back")
    elif other.handling == Handling.CARRIED:
        if acc.domain in host.addresses.virtual_domains:
            key = f"@{acc.domain}" if acc.address == "*" else other.address
            have = next((v for k, v, _ in host.virtual.domains.get(acc.domain, [])
                         if k.lower() == key.lower()), None)
            new = f"virtual {key} -> {have}"
        else:
            have = host.aliases.entries.get(acc.address)
            new = f"alias {acc.address}: {have}"
        ok = have == other.value
        row.update(new=new if ok else f"left out: {new if have else 'no entry'}",
                   status="carried" if ok else "lost")
    elif other.handling == Handling.REFUSED:
        have = None if acc.domain in host.addresses.virtual_domains else \
            host.aliases.entries.get(acc.address)
        if have is None:
            row.update(new="no entry: smtpd refuses it at RCPT (550)", status="rejected")
        else:
            row.update(new=f"the new host's own alias {acc.address}: {have}", status="added")
    elif other.handling == Handling.DROPPED:
        row.update(new=f"{_instead(other, host, release)}, as drop_addresses says: {other.problem}",
                   status="dropped by choice")
    else:
        row.update(new=f"{_instead(other, host, release)}: {other.problem}", status="lost")
    return row


#: What smtpd does besides with a local part no alias names: from 6.4 the lists' rule takes only
#: the recipients table's names (emitters/recipients_table.py); before, a local account of the
#: name takes it.
_ACCOUNTS = {False: ", unless the new host has an account of that name (its mailbox there "
                    "takes it: this release's rules cannot restrict the recipients)"}


def _instead(other: Other, host: NewHost, release: Release) -> str:
    """What the new host does with an address it neither hands back nor carries: on a virtual
    domain, the domain's catch-all takes it where one is carried; on a domain of the aliases
    table, its own alias of the name (not the old recipients), else a local account of the
    name would; else smtpd refuses it."""
    acc = other.accepted
    if acc.domain in host.addresses.virtual_domains:
        have = None if acc.address == "*" else host.virtual.lookup(other.address)
        return f"the domain's catch-all ({have}) takes it instead" if have else \
            "refused at RCPT (550)"
    if acc.address == "*":
        return "refused at RCPT (550)"
    have = host.aliases.entries.get(acc.address)
    if have is not None:
        return f"the new host's own alias {acc.address}: {have} takes it instead"
    return "refused at RCPT (550)" + _ACCOUNTS.get(release.smtpd_match_grammar, "")


def _unknown_rows(inv: Inventory, target: Target, host: NewHost,
                  release: Release) -> list[dict]:
    """Per moved domain: every local part the old host named nowhere, and the new host's own
    system aliases on it where the old host had no such address."""
    rows = []
    named: dict[str, set[str]] = {}
    for r in inv.mta.list_routes:
        named.setdefault(r.domain, set()).add(r.address.lower())
    for a in inv.mta.accepted:
        named.setdefault(a.domain, set()).add(a.address.lower())
    for f in inv.mta.refused:
        named.setdefault(f.domain, set()).add(f.address.lower())
    served = {d.name for d in inv.mta.domains}
    for domain in sorted(d for d in set(target.email_domains) & served if is_domain(d)):
        have = named.get(domain, set())
        if "*" not in have:
            new = "handed back to the old host" if domain in host.handback.domains else \
                "no entry: smtpd refuses it at RCPT (550)" + _ACCOUNTS.get(
                    release.smtpd_match_grammar or domain in host.addresses.virtual_domains, "")
            rows.append({"address": f"*@{domain}", "list": "",
                         "old": "every other local part: refused at RCPT (no rule names it)",
                         "new": new, "status": "rejected", "source": None})
        if domain in host.addresses.virtual_domains:
            continue  # the virtual table holds the domain's own addresses only
        for name in host.aliases.system:
            if name.lower() not in have:
                rows.append({"address": f"{name}@{domain}", "list": "",
                             "old": "none (refused on the old host)",
                             "new": f"the new host's own alias {name}: "
                                    f"{host.aliases.entries.get(name, '?')}",
                             "status": "added", "source": None})
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
        elif r["status"] == "lost":
            out.append(Finding(
                "plan.address-lost", Severity.BLOCKER,
                f"{r['address']} worked on the old host ({r['old']}), but the new host would "
                f"not deliver it there: {r['new']}",
                "Keep the old host as the site's mail server and let the new host reach it "
                "(old_host_stays: true, the default, and old_host_address in target.yaml when "
                "the old host's address is not the one the plan found), or forward the "
                f"address to another host's address {overlay_hint(ALIASES)}, or name it in "
                "drop_addresses in target.yaml if it may stop working.", r["source"]))
        elif r["status"] == "changed":
            out.append(Finding(
                "plan.parity-changed", Severity.WARNING,
                f"{r['address']}: the old host gave {r['old']}, the new host: {r['new']}",
                "Check that the new behaviour is acceptable, or change it "
                f"{overlay_hint(ALIASES)} (or of {VIRTUAL}).", r["source"]))
    return out


def emit_parity(inv: Inventory, target: Target, release, host: NewHost) -> Emitted:
    out = Emitted()
    rows = parity_rows(inv, target, host, release)
    out.findings += parity_findings(rows)
    out.data.parity = [{k: v for k, v in r.items() if k != "source"} for r in rows]
    lost = sum(r["status"] in LOST for r in rows)
    lines = ["# Routing parity", "",
             "Every address the old host accepted, refused or dropped on purpose on the moved "
             "domains, and what the new host does with each: "
             f"{lost} address{'es' if lost != 1 else ''} lost.", ""]
    lines += _section("Lists", "every address that reached a list (on a moved domain, or on "
                      "one that stays, which the old host forwards)",
                      [r for r in rows if r["section"] == "lists"], ("address", "list"))
    lines += _section("Everything else", "aliases, people's mailboxes and forward files, "
                      "catch-alls, refusals, and every local part the old host named nowhere",
                      [r for r in rows if r["section"] == "other"], ("address",),
                      choice(target))
    out.files[PARITY] = "\n".join(lines)
    return out


#: The statuses of an address that worked on the old host and would not on the new one.
LOST = ("missing", "lost")


#: The statuses of an address that works on the new host as the old host had it (or better).
KEPT = ("ok", "added", "forward", "rejected", "dropped", "deferred", "handed back", "carried",
        "not moved")


def choice(target: Target) -> str:
    """What the target's choice for the other addresses (``old_host_stays``) means for the
    people behind them."""
    if target.old_host_stays:
        return ("The old host stays the site's mail server (old_host_stays): the new host "
                "relays the other addresses of the moved domains that the old host accepted "
                "(aliases, people's mailboxes and forward files, catch-alls) to it, so the "
                "people behind them keep their mail, mailboxes and forwards where they are; "
                "changing one is done on the old host, as before.")
    return ("The old host goes away (old_host_stays: false): the new host delivers the other "
            "addresses of the moved domains to the same recipients where they are addresses of "
            "other hosts; a mailbox, command or file on the old host cannot follow, and each "
            "such address is lost (a blocker) unless drop_addresses names it.")


def _section(title: str, what: str, rows: list[dict], keys: tuple[str, ...],
             more: str = "") -> list[str]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    keys += ("old", "new", "status")
    head = {"address": "address", "list": "list", "old": "old host", "new": "new host",
            "status": "status"}
    lines = [f"## {title}", "", md_text(f"{what[0].upper()}{what[1:]}: {summary}."), ""]
    if more:
        lines += [md_text(more), ""]
    if rows:
        lines += ["| " + " | ".join(head[k] for k in keys) + " |",
                  "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(md_text(r[k]) for k in keys) + " |" for r in rows]
        lines.append("")
    return lines
