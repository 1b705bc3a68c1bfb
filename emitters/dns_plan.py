"""DNS for the move: records to change, when, and how to check them.

The new host is reachable over IPv6 (and IPv4 if it has an address); the old host keeps its
IPv4 address as the front door: a second, lower-priority MX for IPv4-only senders (its Exim
forwards to the new host) and the web host's A record (its Apache proxies to the new host).

Schedule: lower the TTL of every record that changes to ``dns_ttl`` at least two old TTLs
(48 h with a one-day TTL) before the switch, switch, then restore ``normal_ttl`` once the new
host has run for a couple of days.
"""

from __future__ import annotations

import ipaddress
import re

from migrate.core.model import AddressFamily, Finding, Inventory, Severity, Target

from emitters.common import Emitted, is_domain
from emitters.guard import md_block, md_text, refuse, sh_word
from emitters.new_host import web_hosts

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


def records(inv: Inventory, target: Target) -> list[dict]:
    """The records as they should be after the switch (name, type, value, why)."""
    host = target.hostname
    out: list[dict] = []
    for v6 in target.ipv6:
        out.append({"name": host, "type": "AAAA", "value": v6, "why": "the new host"})
    for v4 in target.ipv4:
        out.append({"name": host, "type": "A", "value": v4, "why": "the new host"})
    old_name = inv.host.hostname if _safe_name(inv.host.hostname) else None
    old_ipv4 = [a for a in target.old_ipv4 if is_ip(a, 4)]
    for domain in target.email_domains:
        if not is_domain(domain):
            continue
        out.append({"name": domain, "type": "MX", "value": f"10 {host}.",
                    "why": "mail goes to the new host"})
        if target.front_door and old_name and old_ipv4 and not target.ipv4:
            out.append({"name": domain, "type": "MX", "value": f"20 {old_name}.",
                        "why": "IPv4-only senders reach the old host, which forwards"})
        spf = ["v=spf1", "mx"]
        if not target.smarthost:
            spf += [f"ip6:{a}" for a in target.ipv6] + [f"ip4:{a}" for a in target.ipv4]
        out.append({"name": domain, "type": "TXT", "value": f"\"{' '.join(spf)} ~all\"",
                    "why": "SPF for list mail: merge with the domain's existing record"})
    for web in web_hosts(inv, target):
        if not is_domain(web) or web == host:
            continue
        for v6 in target.ipv6:
            out.append({"name": web, "type": "AAAA", "value": v6, "why": "Mailman's pages"})
    if target.front_door and old_ipv4:
        for web in web_hosts(inv, target):
            if is_domain(web):
                out.append({"name": web, "type": "A", "value": old_ipv4[0],
                            "why": "stays on the old host, which proxies to the new one"})
    for addr in target.ipv6 + target.ipv4:
        out.append({"name": ipaddress.ip_address(addr).reverse_pointer, "type": "PTR",
                    "value": f"{host}.", "why": "ask the address's owner (hosting provider)"})
    return out


def emit_dns(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    rows = records(inv, target)
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
    hours = max(48, 2 * target.normal_ttl // 3600)
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
    lines += ["", f"Checks: `sh {CHECKS}` from any host with dig(1)."]
    out.files[RECORDS] = "\n".join(lines) + "\n"
    q = sh_word
    checks = ["#!/bin/sh", "# After the switch: what the world sees. Exit 1 on the first "
              "difference.", "set -u", "fail=0",
              "check() { got=$(dig +short \"$2\" \"$1\" | sort | tr '\\n' ' ');",
              "  case \"$got\" in *\"$3\"*) echo \"ok   $1 $2 $3\";;",
              "  *) echo \"FAIL $1 $2: want $3, got $got\"; fail=1;; esac; }"]
    for r in rows:
        if r["type"] in ("AAAA", "A", "MX"):
            checks.append(f"check {q(r['name'])} {r['type']} {q(r['value'].rstrip('.'))}")
    checks += ["exit $fail"]
    out.files[CHECKS] = "\n".join(checks) + "\n"
    return out
