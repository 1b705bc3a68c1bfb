"""The old host's web addresses that must keep working after the move, and how the new host
answers each: the cutover's post-checks ask the new host for each (the web parity table,
``emitters.web_parity``, lists every old URL pattern and marks the ones checked here).

For every list: its listinfo page, its admin page and its archive (``/pipermail/NAME/`` when
public, Mailman's ``private/NAME/`` page when not), at the URL the old host gave out (the
list's ``web_page_url``). With HTTPS on the new host an old ``http://`` address must answer
with a permanent redirect to the same path over HTTPS, and the HTTPS address with the page;
without it, the ``http://`` address with the page. An old ``https://`` address on a new host
without HTTPS breaks: a warning. Redirects of the old web server are listed with what the new
httpd.conf does with them (``emitters.httpd_redirects``): the usual ``/`` to
``/mailman/listinfo`` is built in, the others httpd can express are carried into httpd.conf,
and each is checked at a path it matches (its status, and the Location where it is known);
one httpd cannot express is for a person (the finding ``plan.web-redirect-not-carried``).

The probes ask the new host's first address directly, sending the web host name as the Host
(and as the TLS server name), so they work before and after DNS names the new host.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from migrate.core.model import Finding, Inventory, MailingList, Severity, Target

from emitters.common import Emitted, list_names
from emitters.httpd_conf import https_redirect
from emitters.httpd_redirects import Carried, Location
from emitters.new_host import NewHost, WebLocations, list_page_prefix
from emitters.release import Release
from emitters.mailman2.mailman_cfg import list_url_host


@dataclass
class OldUrl:
    url: str  # as the old host gave it out
    kind: str  # "listinfo", "admin", "archive", "private archive", "redirect"
    new: str  # what the new host answers, in words
    probes: list[dict] = field(default_factory=list)  # post-check actions; none: by hand


@dataclass
class _NewHost:
    """Where the post-checks ask: the new host's first address, with or without HTTPS."""

    address: str
    tls: bool
    main: str  # the first web name (the HTTP server block's own name)
    release: Release
    root: Location  # the plan's own answer for the site root

    def base(self, tls: bool) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'https' if tls else 'http'}://{host}"

    def probes(self, scheme: str, host: str, path: str, moved: str | None = None,
               **answer) -> list[dict]:
        """The checks of an old address ``scheme://host/path``: with HTTPS on the new host
        an http:// one answers 301 to HTTPS first; a path below a moved prefix answers 301 to
        its new path (``moved``); then ``answer`` (status, location, expect: a 200 by
        default)."""
        common = {"host_header": host, "timeout": 60, "interval": 5}
        out = []
        if self.tls and scheme == "http":
            out.append({"do": "http", "url": self.base(False) + path, "status": 301,
                        "location": https_redirect(host, self.main, path, self.release),
                        **common})
        if moved is not None:
            out.append({"do": "http", "url": self.base(self.tls) + path, "status": 301,
                        "location": moved, **common})
            path = moved
        page = {"do": "http", "url": self.base(self.tls) + path, **common}
        page.update({k: v for k, v in answer.items() if v is not None})
        return out + [page]


#: What the application's page answers an anonymous visitor (``_app_answer``): the list's
#: page; its settings (a login first); its private archive (refused).
_APP_ANSWERS = {"listinfo": ("listinfo", 200), "admin": ("admin", 302),
                "private archive": ("private", 403)}


def _app_answer(web: WebLocations, name: str, kind: str,
                path: str) -> tuple[str, int, str | None] | None:
    """Where an application at the CGI prefix sends a list's old page, the status that page
    answers and what it must show (the list's name on its page); None where httpd answers the
    path itself (no application, or a public archive's static files)."""
    lists = web.lists
    if lists.app_url is None or kind not in _APP_ANSWERS or lists.serving(path) is not lists.cgi:
        return None
    page, status = _APP_ANSWERS[kind]
    target = lists.app_url(name, page)
    if target is None:
        return None
    return target, status, name if page == "listinfo" else None


def list_web_base(ml: MailingList | None, hosts: list[str],
                  default: str) -> tuple[str, str, str]:
    """(scheme, host, path prefix) of a list's pages as the old host gave them out (its
    ``web_page_url``): ``("http", "lists.example.org", "/mailman/")``; the host is the one the
    list keeps on the new host (``hosts``: the web names that move, the first the default),
    ``default`` the prefix of a list without one (the old host's CGI prefix)."""
    page_url = (ml.web_page_url if ml else None) or ""
    host = list_url_host(page_url, hosts, hosts[0])
    m = re.match(r"(https?)://", page_url)
    return (m.group(1) if m else "http"), host, list_page_prefix(ml) or default


def old_urls(inv: Inventory, target: Target,
             web: WebLocations) -> tuple[list[OldUrl], list[Finding]]:
    """The old addresses of every list and every old redirect, each with the checks that ask
    the new host (``web``: its web locations) for it."""
    findings: list[Finding] = []
    hosts = web.hosts
    if not hosts or not (target.ipv6 or target.ipv4):
        return [], findings
    tls = web.tls
    new_host = _NewHost((target.ipv6 + target.ipv4)[0], tls, hosts[0],
                        Release.parse(target.openbsd), web.lists.root)
    names, _ = list_names(inv)
    lists = {ml.name: ml for ml in inv.lists}
    old = web.lists.old
    out: list[OldUrl] = []
    broken: list[str] = []
    for name in names:
        ml = lists.get(name)
        scheme, host, prefix = list_web_base(ml, hosts, old.cgi)
        base = f"{scheme}://{host}{prefix}"
        public = not (ml and ml.archive_private)
        archive = (f"{scheme}://{host}{old.archive}{name}/" if public
                   else f"{base}private/{name}/")
        for kind, url, expect in (("listinfo", f"{base}listinfo/{name}", name),
                                  ("admin", f"{base}admin/{name}", None),
                                  ("archive" if public else "private archive", archive, None)):
            if scheme == "https" and not tls:
                broken.append(url)
                out.append(OldUrl(url, kind, "breaks: the new host has no HTTPS"))
                continue
            path = urllib.parse.urlsplit(url).path or "/"
            if web.lists.pending and web.lists.serving(path) is web.lists.cgi:
                out.append(OldUrl(url, kind, f"not served yet: {web.lists.pending}"))
                continue
            moved = web.lists.moved_path(path) if web.lists.serving(path) is None else None
            app = _app_answer(web, name, kind, path)
            if app is not None:
                target, status, expect = app
                new = ("301 to the same path over HTTPS, then " if tls and scheme == "http"
                       else "") + f"301 to {target} ({web.lists.app}), which answers {status}"
                out.append(OldUrl(url, kind, new, new_host.probes(
                    scheme, host, path, target, status=status, expect=expect)))
                continue
            new = ("301 to the same path over HTTPS, then " if tls and scheme == "http"
                   else "") + (f"301 to {moved}, which answers 200" if moved else
                               "200, as before")
            out.append(OldUrl(url, kind, new, new_host.probes(scheme, host, path, moved,
                                                              expect=expect)))
    if broken:
        findings.append(Finding(
            "plan.https-links-break", Severity.WARNING,
            f"{len(broken)} old https:// addresses (such as {broken[0]}) will not answer: the "
            "plan has no HTTPS", "Plan with --tls acme (or tls: acme in target.yaml).", None))
    seen: set[str] = set()
    for name, carried in web.redirects.items():
        for c in carried:
            line = c.alias.line or f"{c.alias.kind.value} {c.alias.url_path} {c.alias.target}"
            if line not in seen:
                seen.add(line)
                out.append(_redirect_url(c, line, name, new_host))
    return out, findings


def _redirect_url(c: Carried, line: str, name: str, new_host: _NewHost) -> OldUrl:
    """An old redirect as the report and the post-checks see it."""
    where = f" ({c.alias.source})" if c.alias.source else ""
    if c.ignored:
        return OldUrl(line, "redirect", "ignored by Apache (RewriteEngine is not on), and by "
                      f"the new host{where}")
    if c.builtin == "https":  # the HTTP server's redirect of every request to HTTPS
        to = https_redirect(name, new_host.main, "/", new_host.release)
        probe = {"do": "http", "url": new_host.base(False) + "/", "host_header": name,
                 "status": 301, "location": to, "timeout": 60, "interval": 5}
        return OldUrl(f"http://{name}/", "redirect", f"301 to {to} (the HTTP server's "
                      f"redirect of every address to HTTPS), as `{line}`{where}", [probe])
    if not c.locations:
        return OldUrl(line, "redirect", f"not carried: {c.lost} (see the finding at"
                      f"{where or ' the old configuration'})")
    tls = new_host.tls
    if c.builtin == "root":  # the plan's own location "/"
        root = new_host.root
        url = f"{'https' if tls else 'http'}://{name}/"
        probe = {"do": "http", "url": new_host.base(tls) + "/", "host_header": name,
                 "status": root.code, "location": root.target, "timeout": 60, "interval": 5}
        return OldUrl(url, "redirect", f"{root.code} to {root.target}, as `{line}`{where}",
                      [probe])
    code = c.locations[0].code
    answer = f"{code} to {c.expect}" if c.expect else f"{code}"
    new = f"{answer}, as `{line}`{where}, carried into httpd.conf"
    if c.lost:
        new += f" (in part: {c.lost})"
    if c.sample is None:
        return OldUrl(line, "redirect", new)
    url = f"{c.scheme}://{name}{c.sample}"
    if c.scheme == "https" and not tls:
        return OldUrl(url, "redirect", "breaks: the new host has no HTTPS")
    return OldUrl(url, "redirect", new, new_host.probes(c.scheme, name, c.sample, status=code,
                                                        location=c.expect))


def emit_web_urls(inv: Inventory, target: Target, release, host: NewHost) -> Emitted:
    """The findings of the old-URL survey (web parity and the runbook call ``old_urls``)."""
    out = Emitted()
    _, out.findings = old_urls(inv, target, host.web)
    return out
