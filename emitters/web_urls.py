"""The old host's web addresses that must keep working after the move, and how the new host
answers each: the report lists them and the cutover's post-checks ask the new host for each.

For every list: its listinfo page, its admin page and its archive (``/pipermail/NAME/`` when
public, Mailman's ``private/NAME/`` page when not), at the URL the old host gave out (the
list's ``web_page_url``). With HTTPS on the new host an old ``http://`` address must answer
with a permanent redirect to the same path over HTTPS, and the HTTPS address with the page;
without it, the ``http://`` address with the page. An old ``https://`` address on a new host
without HTTPS breaks: a warning. Redirects of the old web server are listed with what the new
httpd.conf does with them: the usual ``/`` to ``/mailman/listinfo`` is built in (and checked);
any other is for a person to carry (the parser's finding has the httpd.conf equivalent).

The probes ask the new host's first address directly, sending the web host name as the Host
(and as the TLS server name), so they work before and after DNS names the new host.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from migrate.model import Finding, Inventory, Severity, Target

from migrate.emitters.common import Emitted, is_domain, list_names
from migrate.emitters.httpd_conf import web_aliases, web_hosts, web_tls
from migrate.emitters.mailman_cfg import list_url_host


@dataclass
class OldUrl:
    url: str  # as the old host gave it out
    kind: str  # "listinfo", "admin", "archive", "private archive", "redirect"
    new: str  # what the new host answers, in words
    probes: list[dict] = field(default_factory=list)  # post-check actions; none: by hand


def _base(address: str, tls: bool) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{'https' if tls else 'http'}://{host}"


def _probes(url: str, host: str, address: str, tls: bool, expect: str | None) -> list[dict]:
    path = urllib.parse.urlsplit(url).path or "/"
    common = {"host_header": host, "timeout": 60, "interval": 5}
    out = []
    if tls and url.startswith("http://"):
        out.append({"do": "http", "url": _base(address, False) + path, "status": 301,
                    "location": f"https://{host}{path}", **common})
    page = {"do": "http", "url": _base(address, tls) + path, **common}
    if expect:
        page["expect"] = expect
    return out + [page]


def old_urls(inv: Inventory, target: Target) -> tuple[list[OldUrl], list[Finding]]:
    findings: list[Finding] = []
    hosts = [h for h in web_hosts(inv, target) if is_domain(h)]
    if not hosts or not (target.ipv6 or target.ipv4):
        return [], findings
    address = (target.ipv6 + target.ipv4)[0]
    tls = web_tls(target)
    names, _ = list_names(inv)
    lists = {ml.name: ml for ml in inv.lists}
    out: list[OldUrl] = []
    broken: list[str] = []
    for name in names:
        ml = lists.get(name)
        page_url = (ml.web_page_url if ml else None) or f"http://{hosts[0]}/mailman/"
        host = list_url_host(page_url, hosts, hosts[0])
        m = re.match(r"(https?)://[^/]+(/.*?)/?$", page_url)
        scheme, prefix = (m.group(1), m.group(2)) if m else ("http", "/mailman")
        base = f"{scheme}://{host}{prefix}"
        public = not (ml and ml.archive_private)
        archive = (f"{scheme}://{host}/pipermail/{name}/" if public
                   else f"{base}/private/{name}/")
        for kind, url, expect in (("listinfo", f"{base}/listinfo/{name}", name),
                                  ("admin", f"{base}/admin/{name}", None),
                                  ("archive" if public else "private archive", archive, None)):
            if scheme == "https" and not tls:
                broken.append(url)
                out.append(OldUrl(url, kind, "breaks: the new host has no HTTPS"))
                continue
            new = ("301 to the same path over HTTPS, which answers 200"
                   if tls and scheme == "http" else "200, as before")
            out.append(OldUrl(url, kind, new, _probes(url, host, address, tls, expect)))
    if broken:
        findings.append(Finding(
            "plan.https-links-break", Severity.WARNING,
            f"{len(broken)} old https:// addresses (such as {broken[0]}) will not answer: the "
            "plan has no HTTPS", "Plan with --tls acme (or tls: acme in target.yaml).", None))
    web = inv.web
    served = set(hosts) | set(web_aliases(inv, hosts))
    redirects = list(web.redirects) if web else []
    for vh in web.virtual_hosts if web else []:
        if {vh.server_name, *vh.server_aliases} & served:
            redirects += [a for a in vh.aliases if a.kind in ("redirect", "redirect_match",
                                                               "rewrite_rule")]
    seen: set[str] = set()
    for r in redirects:
        line = r.line or f"{r.kind} {r.url_path} {r.target}"
        if line in seen:
            continue
        seen.add(line)
        where = f" ({r.source})" if r.source else ""
        root = r.url_path in ("/", "^/$", "^/?$") and r.target.rstrip("/").endswith(
            "/mailman/listinfo")
        if root:
            url = f"{'https' if tls else 'http'}://{hosts[0]}/"
            probe = {"do": "http", "url": _base(address, tls) + "/", "host_header": hosts[0],
                     "status": 302, "location": "/mailman/listinfo", "timeout": 60,
                     "interval": 5}
            out.append(OldUrl(url, "redirect", f"302 to /mailman/listinfo, as `{line}`{where}",
                              [probe]))
        else:
            out.append(OldUrl(line, "redirect", f"not carried: add it to httpd.conf by hand "
                              f"(see the finding at{where or ' the old configuration'})"))
    return out, findings


def emit_web_urls(inv: Inventory, target: Target, release) -> Emitted:
    """The findings of the old-URL survey (the report and the runbook call ``old_urls``)."""
    out = Emitted()
    _, out.findings = old_urls(inv, target)
    return out
