"""DNS for the move: records to change, when, and how to check them.

The new host is reachable over IPv6 (and IPv4 if it has an address); the old host keeps its
IPv4 address as the front door: a second, lower-priority MX for IPv4-only senders (its Exim
forwards to the new host) and the web host's A record (its Apache proxies to the new host).

Schedule: lower the TTL of every record that changes to ``dns_ttl`` at least two old TTLs
(48 h with a one-day TTL) before the switch, switch, then restore ``normal_ttl`` once the new
host has run for a couple of days.

A name the old host answers to that more than the lists depend on (``shared_names``: the MX of
a domain that stays, the MTA's own name, the IMAP server's name, other web content) never
moves: when it is a web host of the lists, its A/AAAA records stay on the old host, whose
Apache proxies Mailman's pages to the new host, and the lists' mail moves by MX to the new
host's own name (the clean way, a warning); when the clean way cannot be taken (the new host
would carry the name itself, the old host goes away, or nothing proxies) it is a blocker.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from migrate.core.model import (AddressFamily, DomainRole, Finding, Inventory, NameUse, Severity,
                                Source, Target)

from emitters.common import Emitted, is_domain
from emitters.guard import md_block, md_text, refuse, sh_word
from emitters.new_host import web_hosts
from emitters.old_host import APACHE

RECORDS = "dns/records.md"
CHECKS = "dns/checks.sh"


def _safe_name(name: str | None) -> bool:
    """A host name a zone file and dig take as it is (letters, digits, dots, dashes)."""
    return bool(name) and re.fullmatch(r"[A-Za-z0-9][-.A-Za-z0-9]*", name) is not None


def is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


#: The uses that make a name the old host's own: the MX of the mail domains it keeps serving is
#: likely such a name, and the moved domains' backup MX names the old host by one.
_OWN = (NameUse.HOSTNAME, NameUse.MTA)
#: The roles of the domains whose mail the old host keeps taking when they do not move.
_STAYING = (DomainRole.LOCAL, DomainRole.RELAY, DomainRole.VIRTUAL)


@dataclass
class SharedName:
    """A name the old host answers to that more than the lists under it depend on."""

    name: str
    reasons: list[str]  # what depends on it, for people
    source: Source | None = None


def shared_names(inv: Inventory, target: Target) -> list[SharedName]:
    """The names of ``Host.names`` that the old host serves more than the lists under: mail for
    its domains that do not move (their MX is likely its own name), mail for the name itself
    when it stays, the MTA's own name (its HELO and bounces, while the old host runs), an IMAP
    server's name, other web content under it."""
    moved = {d.lower() for d in target.email_domains}
    staying = sorted({d.name.lower() for d in inv.mta.domains if d.role in _STAYING
                      and d.name.lower() not in moved and "." in d.name})
    uses: dict[str, dict[NameUse, str]] = {}
    sources: dict[str, Source | None] = {}
    for n in inv.host.names:
        uses.setdefault(n.name.lower(), {}).setdefault(n.use, n.detail)
        sources.setdefault(n.name.lower(), n.source)
    out: list[SharedName] = []
    for name, used in uses.items():
        reasons = []
        others = [d for d in staying if d != name]
        if others and set(used) & set(_OWN):
            shown = ", ".join(others[:4]) + (" ..." if len(others) > 4 else "")
            one = len(others) == 1
            reasons.append(f"mail for {shown}, which {'stays' if one else 'stay'} on the old "
                           f"host ({'its' if one else 'their'} MX is likely this name)")
        if NameUse.MAIL_DOMAIN in used and name not in moved:
            reasons.append(f"mail for {name} itself, which stays on the old host")
        if NameUse.MTA in used and target.old_host_stays:
            reasons.append(f"the old MTA's own name ({used[NameUse.MTA]}: its HELO, its "
                           "bounces)")
        if NameUse.IMAP in used:
            reasons.append(f"the IMAP server ({used[NameUse.IMAP]}): people's mail programs")
        paths = [a.url_path for vh in (inv.web.virtual_hosts if inv.web else [])
                 if name in {n.lower() for n in [vh.server_name, *vh.server_aliases] if n}
                 for a in vh.other_aliases]
        if paths:
            reasons.append(f"other web content ({', '.join(dict.fromkeys(paths))})")
        if reasons:
            out.append(SharedName(name, reasons, sources[name]))
    return out


@dataclass
class _Names:
    """What the plan does with the names the old host answers to."""

    kept: list[SharedName] = field(default_factory=list)  # the clean way: they stay
    blocked: list[tuple[SharedName, str, str]] = field(default_factory=list)  # why, what to do
    moving: set[str] = field(default_factory=set)  # names whose address records move
    backup: str | None = None  # the old host's name for the moved domains' backup MX
    no_backup: str | None = None  # the old host's name, left out as backup MX: it moves


def _names(inv: Inventory, target: Target) -> _Names:
    host = target.hostname.lower()
    webs = [w.lower() for w in web_hosts(inv, target) if is_domain(w)]
    out = _Names()
    for shared in shared_names(inv, target):
        if shared.name == host:
            out.blocked.append((shared, "it is the new host's own name (hostname), whose "
                                "address records move to the new host",
                                f"Give the new host a name of its own (hostname in "
                                f"target.yaml) and leave {shared.name} on the old host: the "
                                "lists' mail then moves by MX to the new name, and the old "
                                "host's Apache proxies Mailman's pages."))
        elif shared.name not in webs:
            continue  # the plan leaves its records alone
        elif not target.old_host_stays:
            out.blocked.append((shared, "the old host goes away (old_host_stays: false), so "
                                "the name cannot stay on it, and the plan moves its address "
                                "records to the new host",
                                "Move what depends on the name to another host first (or "
                                "keep the old host: old_host_stays: true), or serve the "
                                "lists' pages under a name of their own (web_host)."))
        elif not target.front_door:
            out.blocked.append((shared, "the old host does not proxy Mailman's pages "
                                "(front_door: false), so the name cannot stay on it, and the "
                                "plan moves its address records to the new host",
                                "Let the old host proxy the pages (front_door: true), or serve "
                                "the lists' pages under a name of their own (web_host)."))
        else:
            out.kept.append(shared)
    kept = {k.name for k in out.kept}
    out.moving = ({host} | set(webs)) - kept
    # the backup MX names the old host by a name that stays on it: never one the plan moves
    # (a list domain named as the old host would point at itself once its records moved)
    own = [inv.host.hostname or ""] + [n.name for n in inv.host.names if n.use in _OWN]
    own = list(dict.fromkeys(n.lower().rstrip(".") for n in own if _safe_name(n)))
    out.backup = next((n for n in own if n not in out.moving), None)
    out.no_backup = own[0] if own and out.backup is None else None
    return out


def _old_addresses(inv: Inventory) -> list[tuple[str, str]]:
    """(record type, address) of the old host's own addresses (not its aliases)."""
    return [("A" if a.family == AddressFamily.INET else "AAAA", a.address)
            for a in inv.host.addresses if not a.alias
            and is_ip(a.address, 4 if a.family == AddressFamily.INET else 6)]


def _listens_v6(listen: list[str]) -> bool:
    """Some Listen line of the old Apache takes IPv6: a bare port (every address), ``*:``
    or an IPv6 address in brackets."""
    words = [line.split()[0] for line in listen if line.split()]
    return any(":" not in w or w.startswith(("[", "*:")) for w in words)


def ttl_lead_hours(target: Target) -> int:
    """How many hours before the switch the TTLs go down to ``dns_ttl``: two old TTLs
    (``normal_ttl``), and at least 48 h (dns/records.md, the runbook's preflight-dns step)."""
    return max(48, 2 * target.normal_ttl // 3600)


def records(inv: Inventory, target: Target, names: _Names | None = None) -> list[dict]:
    """The records as they should be after the switch (name, type, value, why); those that
    stay as they are (a name others depend on) have ``stays``. ``names``: what ``_names``
    gives, when the caller has it already."""
    host = target.hostname
    names = names or _names(inv, target)
    kept = {k.name for k in names.kept}
    out: list[dict] = []
    for v6 in target.ipv6:
        out.append({"name": host, "type": "AAAA", "value": v6, "why": "the new host"})
    for v4 in target.ipv4:
        out.append({"name": host, "type": "A", "value": v4, "why": "the new host"})
    old_ipv4 = [a for a in target.old_ipv4 if is_ip(a, 4)]
    # A moved domain that is also a name others depend on always gets its MX: an MX record
    # sits beside the name's A/AAAA records (only a CNAME shuts out the others), so mail for
    # the domain goes to the new host while the name's addresses stay on the old host; and a
    # domain whose MX names it still reaches the old host (an MX target is looked up by its
    # address records, never by its own MX). So no moved domain is ever left without an MX.
    for domain in target.email_domains:
        if not is_domain(domain):
            continue
        out.append({"name": domain, "type": "MX", "value": f"10 {host}.",
                    "why": "mail goes to the new host"})
        if target.front_door and names.backup and old_ipv4 and not target.ipv4:
            out.append({"name": domain, "type": "MX", "value": f"20 {names.backup}.",
                        "why": "IPv4-only senders reach the old host, which forwards"})
        spf = ["v=spf1", "mx"]
        if not target.smarthost:
            spf += [f"ip6:{a}" for a in target.ipv6] + [f"ip4:{a}" for a in target.ipv4]
        out.append({"name": domain, "type": "TXT", "value": f"\"{' '.join(spf)} ~all\"",
                    "why": "SPF for list mail: merge with the domain's existing record"})
    for web in web_hosts(inv, target):
        if not is_domain(web) or web == host or web.lower() in kept:
            continue
        for v6 in target.ipv6:
            out.append({"name": web, "type": "AAAA", "value": v6, "why": "Mailman's pages"})
    if target.front_door and old_ipv4:
        for web in web_hosts(inv, target):
            if is_domain(web) and web.lower() not in kept:
                out.append({"name": web, "type": "A", "value": old_ipv4[0],
                            "why": "stays on the old host, which proxies to the new one"})
    for addr in target.ipv6 + target.ipv4:
        out.append({"name": ipaddress.ip_address(addr).reverse_pointer, "type": "PTR",
                    "value": f"{host}.", "why": "ask the address's owner (hosting provider)"})
    for shared in names.kept:
        for kind, addr in _old_addresses(inv):
            out.append({"name": shared.name, "type": kind, "value": addr, "stays": True,
                        "why": "stays on the old host: " + "; ".join(shared.reasons)})
    return out


def _name_findings(inv: Inventory, target: Target, names: _Names) -> list[Finding]:
    out = []
    for shared, why, hint in names.blocked:
        out.append(Finding(
            "plan.dns-shared-name", Severity.BLOCKER,
            f"{shared.name} is a name the old host answers to, and more than the lists depend "
            f"on it ({'; '.join(shared.reasons)}); {why}", hint, shared.source))
    v6 = any(kind == "AAAA" for kind, _ in _old_addresses(inv))
    deaf = v6 and inv.web is not None and inv.web.listen and not _listens_v6(inv.web.listen)
    for shared in names.kept:
        out.append(Finding(
            "plan.dns-name-stays", Severity.WARNING,
            f"{shared.name} stays on the old host: {'; '.join(shared.reasons)} depend on it, so "
            "the plan leaves its A/AAAA records as they are",
            f"The lists' mail for {shared.name} moves by its MX record to "
            f"{target.hostname}; Mailman's pages under {shared.name} reach the new host through "
            f"the old host's Apache ({APACHE}), over IPv4 and IPv6, so people see no change; "
            f"{RECORDS} lists the name among those that stay, and {CHECKS} checks that it "
            "still names the old host. "
            + ("The old Apache listens on IPv4 only (Listen "
               + ", ".join(inv.web.listen) + "): add Listen [::]:80 there, or IPv6 clients "
               "of the name reach no web server. " if deaf else "")
            + "To take the old host out of the pages' way later, give them a name of their "
            "own (web_host in target.yaml).", shared.source))
    if names.no_backup and target.front_door and not target.ipv4 and target.email_domains \
            and any(is_ip(a, 4) for a in target.old_ipv4):
        out.append(Finding(
            "plan.dns-no-backup-mx", Severity.WARNING,
            f"the moved domains get no backup MX on the old host: its name {names.no_backup} "
            "moves to the new host, and the old host has no other name",
            "IPv4-only senders cannot reach the new host (it has no IPv4 address): give the "
            "old host a name of its own that stays (rc.conf's hostname), or the new host an "
            "IPv4 address (ipv4 in target.yaml).", inv.host.hostname_source))
    return out


def emit_dns(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    names = _names(inv, target)
    all_rows = records(inv, target, names)
    rows = [r for r in all_rows if not r.get("stays")]
    out.findings += _name_findings(inv, target, names)
    if inv.host.hostname and not _safe_name(inv.host.hostname):
        out.findings.append(refuse(
            "host.hostname", inv.host.hostname, RECORDS, inv.host.hostname_source,
            "The old host's name must be a host name for its MX record; fix it in rc.conf "
            "(or the inventory) and inspect again. The record is left out until then."))
    for i, a in enumerate(inv.host.addresses):
        if not is_ip(a.address, 4 if a.family == AddressFamily.INET else 6):
            out.findings.append(refuse(f"host.addresses[{i}].address", a.address, RECORDS,
                                       a.source))
    if target.smarthost:
        out.findings.append(Finding(
            "plan.spf-smarthost", Severity.INFO,
            f"list mail leaves through the smarthost {target.smarthost}: the moved domains' "
            "SPF must allow the smarthost (not the new host's address)",
            "Keep the smarthost's include/ip entries in each domain's SPF record.", None))
    hours = ttl_lead_hours(target)
    lines = [
        f"# DNS for moving to {md_text(target.hostname)}",
        "",
        f"1. **{hours} h before the switch**: lower the TTL of every record below (and of the "
        f"records they replace) to {target.dns_ttl} s.",
        "2. **At the switch** (the runbook's DNS step): publish these records.",
        f"3. **Two days after**: raise the TTLs back to {target.normal_ttl} s.",
        "",
        "| name | type | value | why |",
        "|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(md_text(r[k]) for k in ("name", "type", "value", "why")) + " |"
              for r in rows]
    lines += ["", "As zone file lines (TTL while moving):", ""]
    lines += md_block([f"{r['name']}. {target.dns_ttl} IN {r['type']} {r['value']}"
                       for r in rows])
    if names.kept:
        lines += ["", "## Names that stay on the old host", "",
                  "More than the lists depends on these names: their address records stay as "
                  "they are (leave them, and their TTLs, alone). The old host's Apache proxies "
                  f"Mailman's pages under them to the new host ({APACHE}), over IPv4 and IPv6; "
                  "their lists' mail goes to the new host by the MX records above.", "",
                  "| name | type | value | why |", "|---|---|---|---|"]
        for shared in names.kept:
            stays = [r for r in all_rows if r.get("stays") and r["name"] == shared.name] or [
                {"name": shared.name, "type": "A/AAAA", "value": "as they are today",
                 "why": "stays on the old host: " + "; ".join(shared.reasons)}]
            lines += ["| " + " | ".join(md_text(r[k]) for k in ("name", "type", "value", "why"))
                      + " |" for r in stays]
    lines += ["", f"Checks: `sh {CHECKS}` from any host with dig(1)."]
    out.files[RECORDS] = "\n".join(lines) + "\n"
    q = sh_word
    checks = ["#!/bin/sh", "# After the switch: what the world sees. Exit 1 on the first "
              "difference.", "set -u", "fail=0",
              "check() { got=$(dig +short \"$2\" \"$1\" | sort | tr '\\n' ' ');",
              "  case \"$got\" in *\"$3\"*) echo \"ok   $1 $2 $3\";;",
              "  *) echo \"FAIL $1 $2: want $3, got $got\"; fail=1;; esac; }"]
    if names.kept:  # a name that stays must not name the new host, even beside the old one
        checks += ["absent() { got=$(dig +short \"$2\" \"$1\" | sort | tr '\\n' ' ');",
                   "  case \" $got\" in *\" $3 \"*) echo \"FAIL $1 $2: must not be $3, got "
                   "$got\"; fail=1;;",
                   "  *) echo \"ok   $1 $2 not $3\";; esac; }"]
    for r in all_rows:  # the names that stay too: they still name the old host
        if r["type"] in ("AAAA", "A", "MX"):
            checks.append(f"check {q(r['name'])} {r['type']} {q(r['value'].rstrip('.'))}")
    for shared in names.kept:
        checks += [f"absent {q(shared.name)} {'AAAA' if ':' in a else 'A'} {q(a)}"
                   for a in target.ipv6 + target.ipv4]
    checks += ["exit $fail"]
    out.files[CHECKS] = "\n".join(checks) + "\n"
    return out
