"""Files for the old host, which stays as the IPv4 front door after the move.

* ``files/old/exim-forward-router.conf``: a ``manualroute`` router that sends mail for the moved
  domains to the new host's address; it goes first in ``begin routers`` (in any case before the
  router that hands list mail to Mailman today), with ``no_more`` so no later router sees it.
* ``files/old/exim-freeze-acl.conf``: for the freeze, a ``defer`` statement for the start of the
  RCPT ACL: senders get a 4xx and keep the mail in their own queues until the switch.
* ``files/old/aliases-forward.txt``: list addresses on domains that stay on the old host (a
  system alias piping into the local Mailman, such as ``announce@netsight.example``) become
  forwards to the list's address on its moved domain.
* ``files/old/apache-proxy.conf``: an Apache 2.4 virtual host that proxies ``/mailman/``,
  ``/pipermail/``, ``/icons/`` and acme-client's challenges to the new host, for clients that
  reach the web host over IPv4; with HTTPS on the new host and an HTTPS virtual host on the old
  one, a second one on port 443 with the old certificate that asks the new host over HTTPS.
"""

from __future__ import annotations

import re

from migrate.model import DomainRole, Finding, Inventory, RouteVia, Severity, Target

from migrate.emitters.common import (Emitted, canonical_address, is_domain, is_list_name,
                                     is_local_part, is_path, other_targets, route_alias)
from migrate.emitters.guard import comment, conf_str, refuse
from migrate.emitters.new_host import web_aliases, web_hosts, web_tls

ROUTER = "files/old/exim-forward-router.conf"
FREEZE = "files/old/exim-freeze-acl.conf"
ALIASES = "files/old/aliases-forward.txt"
APACHE = "files/old/apache-proxy.conf"
ROUTER_NAME = "migrate_forward"
#: An Exim driver instance's name (readconf.c: letters, digits and underscores).
_EXIM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")


def emit_old_host(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    domains = [d for d in target.email_domains if is_domain(d)]
    address = (target.ipv6 or target.ipv4)[0]
    mta = inv.mta
    first = mta.routers[0] if mta.routers else None
    routers = {rt.router for rt in mta.list_routes if rt.via == RouteVia.ROUTER}
    mailman_router = next((r for r in mta.routers if r.name in routers), None)
    smtp_transport = None
    for i, t in enumerate(mta.transports):
        if t.driver != "smtp":
            continue
        if _EXIM_NAME.match(t.name):
            smtp_transport = t.name
            break
        out.findings.append(refuse(f"mta.transports[{i}].name", t.name, ROUTER, t.source))
    where = "as the first router after `begin routers`"
    if first is not None and first.source:
        where += f", before {comment(first.name)} ({comment(first.source)})"
    if mailman_router is not None and mailman_router.source:
        where += (f"; in any case before {comment(mailman_router.name)} "
                  f"({comment(mailman_router.source)})")
    transport = smtp_transport or "migrate_smtp"
    lines = [
        f"# For {comment(inv.host.hostname or 'the old host')}'s Exim configuration, written by "
        "migrate.",
        f"# Insert {where}.",
        f"# Mail for the moved domains then goes to the new host {comment(target.hostname)} "
        f"({address}).",
        "# Check: exim -bt LIST@DOMAIN shows router " + ROUTER_NAME + " and the new address.",
        f"{ROUTER_NAME}:",
        "  driver = manualroute",
        "  domains = " + (" : ".join(domains) if domains else "! *"),
        f"  transport = {transport}",
        f"  route_data = <;{address}",  # <; lets the host list hold colons; no space after it
        "  no_more",
    ]
    if smtp_transport is None:
        lines += ["", "# No smtp transport exists yet; add this one to `begin transports`:",
                  "migrate_smtp:", "  driver = smtp"]
        out.findings.append(Finding(
            "plan.old-no-smtp-transport", Severity.INFO,
            "the old Exim has no smtp transport; the forward router comes with one",
            f"Add the transport in {ROUTER} to `begin transports` too.", None))
    out.files[ROUTER] = "\n".join(lines) + "\n"

    acl = mta.options.get("acl_smtp_rcpt")
    freeze = [
        "# The freeze: add as the FIRST statement of the RCPT ACL"
        + (f" ({comment(acl)})" if acl else " (acl_smtp_rcpt)") + " of the old Exim, then "
        "reload it.",
        "# Senders get a temporary error and retry; nothing is accepted that would not move.",
        "# Remove it again when the forward router is in place.",
        "  defer   domains = " + (" : ".join(domains) if domains else "! *"),
        "          message = the list server is moving; please try again in a few minutes",
    ]
    out.files[FREEZE] = "\n".join(freeze) + "\n"

    forwards_, staying = forwards(inv, domains)
    if forwards_:
        out.findings.append(Finding(
            "plan.list-addresses-on-staying-domains", Severity.WARNING,
            f"{len(staying)} list address(es) on domains that stay on the old host reach "
            f"Mailman through its aliases today ({', '.join(sorted(staying)[:4])}"
            f"{' ...' if len(staying) > 4 else ''})",
            f"After the switch, replace those aliases on the old host with the forwards in "
            f"{ALIASES}; otherwise they pipe into a Mailman that no longer runs there.", None))
    out.files[ALIASES] = (
        "# For the old host's aliases file after the move: list addresses on domains that stay\n"
        "# there forward to the list on its moved domain (replace the pipe aliases).\n"
        + "".join(f"{name + ':':<28}{dest}\n" for name, dest in forwards_))
    out.files[APACHE] = _apache(inv, target, address)
    return out


def forwards(inv: Inventory, moved: list[str]) -> tuple[list[tuple[str, str]], set[str]]:
    """(alias, forward addresses) for list addresses that arrive on a domain that stays: each
    goes to Mailman's own address for its list and command on the list's moved domain (an old
    name such as ``news`` piping into ``announce`` forwards to ``announce@HOME``), and keeps
    the alias's other address targets (``board``: the list and the chair)."""
    hosts = {ml.name: ml.host_name for ml in inv.lists}
    local = set(inv.mta.domains_by_role(DomainRole.LOCAL))
    seen: dict[str, tuple[list[str], list[str]]] = {}  # name -> (list addresses, others)
    staying: set[str] = set()
    for route in inv.mta.list_routes:
        if route.domain in moved or route.via != RouteVia.ALIAS or route.domain not in local:
            continue
        home = hosts.get(route.list_name)
        canonical = canonical_address(route)
        if not home or home not in moved or not is_list_name(route.list_name) \
                or canonical is None or not is_local_part(route.address):
            continue
        if route.address not in seen:
            seen[route.address] = ([], other_targets(route_alias(inv, route))[0])
        dests = seen[route.address][0]
        if f"{canonical}@{home}" not in dests:
            dests.append(f"{canonical}@{home}")
        staying.add(f"{route.address}@{route.domain}")
    forwarded = [(name, ", ".join(lists + others)) for name, (lists, others) in seen.items()]
    return sorted(forwarded), staying


def _apache(inv: Inventory, target: Target, address: str) -> str:
    hosts = [h for h in web_hosts(inv, target) if is_domain(h)] or [target.hostname]
    aliases = [a for a in web_aliases(inv, hosts) if is_domain(a)]
    tls = web_tls(target)
    host = f"[{address}]" if ":" in address else address
    lines = [
        f"# Apache 2.4 on {comment(inv.host.hostname or 'the old host')} after the move: the "
        "IPv4 front door",
        f"# for Mailman's pages, proxied to {comment(target.hostname)}. Needs mod_proxy and "
        "mod_proxy_http",
        "# (LoadModule lines in httpd.conf). Replaces the Mailman ScriptAlias and the pipermail",
        "# Alias of the old virtual hosts. Check: apachectl configtest.",
    ]
    old_tls = next((vh for vh in (inv.web.virtual_hosts if inv.web else [])
                    if vh.tls and is_path(vh.certificate or "") and is_path(vh.private_key or "")
                    and vh.server_name and is_domain(vh.server_name)
                    and {vh.server_name, *vh.server_aliases} & set(hosts)), None)
    paths = ("/mailman/", "/pipermail/", "/icons/", "/.well-known/acme-challenge/")
    blocks = [("*:80", f"http://{host}", None)]
    if old_tls is not None and tls:
        blocks.append(("*:443", f"https://{host}", old_tls))
    for listen, backend, vh in blocks:
        names = hosts + aliases if vh is None else [
            n for n in [vh.server_name, *vh.server_aliases] if n and is_domain(n)]
        lines += ["", f"<VirtualHost {listen}>", f"    ServerName {names[0]}"]
        lines += [f"    ServerAlias {h}" for h in names[1:]]
        if vh is not None:
            lines += ["    # The old certificate serves IPv4 clients until it expires; the new",
                      "    # host is asked over HTTPS (it redirects plain HTTP to HTTPS), by",
                      "    # address, so its certificate's names are not checked.",
                      "    SSLEngine on", f"    SSLCertificateFile {conf_str(vh.certificate)}",
                      f"    SSLCertificateKeyFile {conf_str(vh.private_key)}"]
            if vh.certificate_chain and is_path(vh.certificate_chain):
                lines.append(f"    SSLCertificateChainFile {conf_str(vh.certificate_chain)}")
            lines += ["    SSLProxyEngine on", "    SSLProxyCheckPeerName off"]
        lines += ["    ProxyPreserveHost On", "    ProxyRequests Off"]
        for path in paths if vh is None else paths[:3]:
            lines += [f"    ProxyPass        {path} {backend}{path}",
                      f"    ProxyPassReverse {path} {backend}{path}"]
        lines += ["</VirtualHost>"]
    return "\n".join(lines) + "\n"
