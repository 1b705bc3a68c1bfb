"""Files for the old host, which stays as the front door after the move (IPv4, and every
address of a web name that stays on it: emitters/dns_plan.py).

* the old MTA's files for the freeze and the forward, from its plugin (migrate/core/mta.py; Exim's
  are in emitters/old_mta.py).
* ``files/old/aliases-forward.txt``: list addresses on domains that stay on the old host (a
  system alias piping into the local Mailman, such as ``announce@netsight.example``) become
  forwards to the list's address on its moved domain.
* ``files/old/apache-proxy.conf``: an Apache 2.4 virtual host that proxies ``/mailman/``,
  ``/pipermail/``, ``/icons/`` and acme-client's challenges to the new host, for clients that
  reach the web host over IPv4; with HTTPS on the new host and an HTTPS virtual host on the old
  one, a second one on port 443 with the old certificate that asks the new host over HTTPS.
"""

from __future__ import annotations

from migrate.core.model import DomainRole, Finding, Inventory, RouteVia, Severity, Target
from migrate.core.mta import Kept, lookup

from emitters.common import (Emitted, canonical_address, is_domain, is_list_name, is_local_part,
                             is_path, other_targets, route_alias)
from emitters.guard import comment, conf_str
from emitters.new_host import ListLocations, NewHost, web_aliases, web_hosts, web_tls

ALIASES = "files/old/aliases-forward.txt"
APACHE = "files/old/apache-proxy.conf"


def emit_old_host(inv: Inventory, target: Target, release, host: NewHost) -> Emitted:
    out = Emitted()
    domains = [d for d in target.email_domains if is_domain(d)]
    address = (target.ipv6 or target.ipv4)[0]
    plugin = lookup(inv.mta.kind)
    if plugin is not None:  # else the runbook's blocker: plan.mta-no-adapter
        back = host.handback
        kept = Kept(tuple(back.addresses), tuple(back.domains), tuple(back.lists)) \
            if back.relay else Kept()
        files, findings = plugin.writer.old_host(inv, target, domains, kept)
        out.files.update(files)
        out.findings += findings
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
    out.files[APACHE] = _apache(inv, target, address, host.web.lists)
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


def _apache(inv: Inventory, target: Target, address: str, served: ListLocations) -> str:
    hosts = [h for h in web_hosts(inv, target) if is_domain(h)] or [target.hostname]
    aliases = [a for a in web_aliases(inv, hosts) if is_domain(a)]
    tls = web_tls(target)
    host = f"[{address}]" if ":" in address else address
    lines = [
        f"# Apache 2.4 on {comment(inv.host.hostname or 'the old host')} after the move: the "
        "front door (IPv4, and IPv6 where",
        "# a web name stays on this host: dns/records.md) for Mailman's pages, proxied to "
        f"{comment(target.hostname)}.",
        "# Needs mod_proxy and mod_proxy_http",
        "# (LoadModule lines in httpd.conf). Replaces the Mailman ScriptAlias and the pipermail",
        "# Alias of the old virtual hosts. Check: apachectl configtest.",
    ]
    old_tls = next((vh for vh in (inv.web.virtual_hosts if inv.web else [])
                    if vh.tls and is_path(vh.certificate or "") and is_path(vh.private_key or "")
                    and vh.server_name and is_domain(vh.server_name)
                    and {vh.server_name, *vh.server_aliases} & set(hosts)), None)
    # every prefix the new host answers for Mailman: where it serves the pages, and the old
    # prefixes it redirects from
    mailman = [s.prefix for s in (served.cgi, served.archive, served.icons)]
    mailman += [m.old for m in served.moved]
    paths = (*mailman, "/.well-known/acme-challenge/")
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
        for path in paths if vh is None else paths[:-1]:
            lines += [f"    ProxyPass        {path} {backend}{path}",
                      f"    ProxyPassReverse {path} {backend}{path}"]
        lines += ["</VirtualHost>"]
    return "\n".join(lines) + "\n"
