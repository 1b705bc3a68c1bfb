"""Web parity: every URL pattern the old web server answered under the names that move, what
answered it there, and what answers it on the new host (the emitted httpd.conf), like the
routing parity (``emitters.parity``) for mail.

The rows, from the inventory only:

* for each web name that moves: the site root (unless an old redirect answered it), ``http://``
  and ``https://`` where either host serves HTTPS, acme-client's challenge path where the plan
  uses it, the old ServerAlias names, Mailman's ScriptAlias and Aliases (CGI, pipermail,
  icons), and every other Alias or ScriptAlias of the main server or of a virtual host of that
  name (content that is not Mailman's, served under the list's web name);
* every old Redirect, RedirectMatch and RewriteRule of those names, with the httpd.conf
  location that carries it (``emitters.httpd_redirects``);
* for each list: its listinfo, admin, admindb, options and private pages at the address the
  old host gave out (``web_page_url``), and for a public archive ``/pipermail/LIST/``, a
  pattern for its volumes' indexes (``/pipermail/LIST/VOLUME/``: each month, for the usual
  monthly archive, named and counted in the row), one for the article pages and one for the
  ``.txt``/``.txt.gz`` volumes where the old host had them. Every URL of such a pattern is
  answered by the same location; tests/test_web_parity_e2e.py asks for each of them.

Statuses: ``ok`` (the new host answers the same; an ``http://`` address of a plan with HTTPS
answers with a permanent redirect to the same path over HTTPS first), ``changed`` (it answers,
differently: a warning, ``plan.web-parity-changed``, unless another finding already says it),
``missing`` (nothing answers it: a dead link, and a blocker, ``plan.web-parity-missing``), and
``added`` (the new host answers a path the old one did not, such as acme-client's challenges).

A redirect's ``ok`` is a static claim, said in web-parity.md: the plan cannot ask the old Apache,
so the row takes the translation's verdict (``httpd_redirects``: carried whole, without the
request's query string, in part, or not at all), and tests/test_redirect_parity.py holds that
translation to the real Apache 2.4 and OpenBSD httpd: both are asked the URLs it generates from
each pattern (captures, classes, case, ``_``, digits, ``&``, query strings), and every URL of a
redirect carried whole answers with the same status and Location.

Apache's own ``/icons/``, ``/cgi-bin/`` and ``/error/`` of the stock configuration (a folder of
the Apache package, on the main server) are ``changed``, not ``missing``: they hold Apache's
icons, sample scripts and error pages, not the site's pages. An Alias of a virtual host whose
names do not move is not the lists' business and gets no row.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate.core.model import (Finding, Inventory, Severity, Source, Target, WebAlias,
                                WebAliasKind, WebVirtualHost)

from emitters.common import HTTPD_CONF, Emitted, is_domain, overlay_hint, list_names
from emitters.guard import md_text
from emitters.httpd_conf import ACME_DIR, ACME_LOCATION, changed_roots, https_redirect
from emitters.httpd_redirects import Carried, answers_root
from emitters.new_host import NewHost, Served, WebLocations
from emitters.release import Release
from emitters.web_urls import list_web_base, old_urls

WEB_PARITY = "web-parity.md"
STATUSES = ("ok", "changed", "missing", "added")
#: The CGI pages of a list the table lists (Mailman 2's cgi-bin scripts), with what each is.
LIST_PAGES = (("listinfo", "listinfo page"), ("admin", "admin pages"),
              ("admindb", "pending requests (admindb)"), ("options", "members' options"))
_STOCK = {"/icons/": "Apache's own icons (mod_autoindex's)",
          "/cgi-bin/": "Apache's own CGI folder (its sample scripts)",
          "/error/": "Apache's own error documents (httpd-multilang-errordoc.conf)"}


@dataclass
class WebRow:
    url: str  # the old URL or URL pattern, with scheme and host
    what: str
    old: str  # what the old host answered it with
    new: str  # what answers it on the new host
    status: str  # one of STATUSES
    source: Source | None = None
    said_by: str | None = None  # a changed row another finding already reports
    checked: bool = False  # the cutover's post-checks ask the new host for it

    def data(self) -> dict:
        return {"url": self.url, "what": self.what, "old": self.old, "new": self.new,
                "status": self.status, "source": str(self.source) if self.source else None,
                "checked": self.checked}


def _names(vh: WebVirtualHost) -> set[str]:
    return {n.lower() for n in [vh.server_name, *vh.server_aliases] if n}


def _directive(alias: WebAlias) -> str:
    word = "ScriptAlias" if alias.kind == WebAliasKind.SCRIPT_ALIAS else "Alias"
    return f"{word} {alias.url_path} {alias.target}"


def _prefix(url_path: str) -> str:
    """An Alias's URL path as a folder: ``/icons`` and ``/icons/`` are both ``/icons/``."""
    return url_path.rstrip("/") + "/"


#: Stock folders whose path does not name Apache (Debian's conf-available/serve-cgi-bin.conf).
_STOCK_FOLDERS = ("/usr/lib/cgi-bin",)


def _stock(alias: WebAlias) -> bool:
    """Apache's own /icons/, /cgi-bin/ or /error/ (a folder of the Apache package: its path
    names apache or httpd), as the stock configuration maps them on the main server."""
    parts = [p.lower() for p in alias.target.split("/") if p]
    return _prefix(alias.url_path) in _STOCK and (
        any(p.startswith(("apache", "httpd")) for p in parts)
        or alias.target.rstrip("/") in _STOCK_FOLDERS)


def _covers_root(c: Carried) -> bool:
    """An old redirect that answered the site root ``/``."""
    return not c.ignored and answers_root(c.alias)


class _Context:
    """What every row looks at: the web names, HTTPS on each side, the release."""

    def __init__(self, inv: Inventory, target: Target, release: Release,
                 web: WebLocations) -> None:
        self.inv, self.target, self.release = inv, target, release
        self.web = inv.web
        self.hosts = web.hosts
        self.aliases = web.aliases if self.hosts else []
        self.tls = web.tls
        self.redirects = web.redirects
        #: Mailman's locations on the new host (every server block has them), by URL prefix
        self.lists = web.lists
        self.served = {s.prefix: s for s in (web.lists.cgi, web.lists.archive, web.lists.icons)}
        self.moved = {m.old: m for m in web.lists.moved}
        #: every prefix Mailman answers at, served or moved, the longest first
        self.prefixes = sorted([*self.served, *self.moved], key=len, reverse=True)
        self.root = web.lists.root
        #: the old host's prefixes of Mailman's CGI and public archives
        self.old_cgi, self.old_archive = web.lists.old.cgi, web.lists.old.archive
        urls, findings = old_urls(inv, target, web)
        self.probed = {u.url for u in urls if u.probes}
        self.https_break = any(f.id == "plan.https-links-break" for f in findings)
        #: the site roots whose change httpd_conf's finding plan.web-root-changed reports
        self.root_changed = set(changed_roots(inv, self.hosts)[0])

    def vhosts(self, name: str) -> list[WebVirtualHost]:
        return [vh for vh in (self.web.virtual_hosts if self.web else [])
                if name.lower() in _names(vh)]

    def old_schemes(self, name: str) -> list[str]:
        """The schemes the old host answered ``name`` on (the main server: HTTP)."""
        mine = self.vhosts(name)
        if not mine:
            return ["http"]
        return [s for s in ("http", "https") if s in {"https" if vh.tls else "http"
                                                       for vh in mine}]

    def via(self, scheme: str, host: str) -> str:
        """How the new host starts its answer to an old ``scheme://host/...`` address."""
        if scheme == "http" and self.tls:
            return (f"301 to {https_redirect(host, self.hosts[0], '/...', self.release)} "
                    "(the HTTP server's location *), then ")
        return ""

    def unreachable(self, scheme: str) -> bool:
        return scheme == "https" and not self.tls

    def no_https(self, url: str, what: str, old: str, source: Source | None) -> WebRow:
        return WebRow(url, what, old, "nothing: the plan has no HTTPS (connection refused)",
                      "changed", source,
                      said_by="plan.https-links-break" if self.https_break else None)


    def cgi(self, script: str, name: str | None = None) -> str:
        cgi = self.lists.cgi
        if self.lists.app:
            pages = dict(self.lists.app_pages)
            where = pages.get(script, "the page that stands for it")
            path = self.lists.app_url(name, script) if name and self.lists.app_url else None
            where += f" ({path})" if path else ""
            return (f'location "{cgi.location}": {self.lists.app} (FastCGI, {cgi.fastcgi}) '
                    + (f"answers with a 301 to {where}" if script != "SCRIPT" else
                       "answers every path: Mailman 2's pages with a 301 to their new ones"))
        path = f" with PATH_INFO /{name}" if name else ""
        return f'location "{cgi.location}": slowcgi ({cgi.fastcgi}) runs {cgi.root}/{script}{path}'

    def mailman_new(self, prefix: str) -> tuple[str, str] | None:
        """What answers Mailman's URL ``prefix`` (a folder) on the new host, and the row's
        status: "ok" where it is served, "changed" where it redirects to where it moved."""
        served = self.served.get(prefix)
        if served is not None and served is self.lists.cgi and self.lists.pending:
            return f"nothing yet (404 from {_static(served)}): {self.lists.pending}", "changed"
        if served is not None:
            return (self.cgi("SCRIPT") if served.fastcgi else _static(served)), "ok"
        moved = self.moved.get(prefix)
        if moved is None:
            return None
        if not moved.redirect:  # served at both (httpd_conf._moved_entry)
            return (f'location "{prefix}*": the same as {moved.new.prefix} (OpenBSD '
                    f"{self.release} cannot redirect it)"), "ok"
        return (f"301 to {moved.new.prefix}... (the same path below the prefix "
                f"{moved.what} moved to), then "
                + (self.cgi("SCRIPT") if moved.new.fastcgi else _static(moved.new))), "changed"

    def page(self, path: str) -> tuple[str, str] | None:
        """What answers one of Mailman's paths on the new host (``mailman_new``'s pair)."""
        prefix = next((p for p in self.prefixes if path.startswith(p)), None)
        return self.mailman_new(prefix) if prefix else None


def _static(served: Served) -> str:
    return f'location "{served.location}": the files of {served.root}'


def _unseen(aliases: list[tuple[WebAlias, str, bool]], host: str,
            seen: set[tuple[str, str, str]]):
    """(alias, scheme, on the main server, URL prefix, URL pattern) of each alias whose
    (scheme, prefix, target) no earlier one had."""
    for alias, sch, main in aliases:
        prefix = _prefix(alias.url_path)
        key = (sch, prefix, alias.target)
        if key not in seen:
            seen.add(key)
            yield alias, sch, main, prefix, f"{sch}://{host}{prefix}*"


def _host_rows(ctx: _Context, host: str, redirected_root: bool) -> list[WebRow]:
    rows: list[WebRow] = []
    schemes = ctx.old_schemes(host) if ctx.web else ["http"]
    first = schemes[0]
    if not redirected_root:
        old = ("unknown (the inventory has no web server configuration)" if ctx.web is None
               else "the DocumentRoot's own page (not in the inventory)")
        url = f"{first}://{host}/"
        root = ctx.root
        row = WebRow(url, "site root", old,
                     ctx.via(first, host) + f'location "{root.pattern}": block return '
                     f'{root.code} "{root.target}" (Mailman\'s list overview)', "changed",
                     said_by="plan.web-root-changed" if url in ctx.root_changed else None)
        rows.append(ctx.no_https(url, "site root", old, None) if ctx.unreachable(first)
                    else row)
    # the schemes: http:// to https:// where either host serves HTTPS
    tls_vh = next((vh for vh in ctx.vhosts(host) if vh.tls), None)
    if ctx.web is not None and "https" in schemes:
        where = f"HTTPS (SSLEngine, <VirtualHost> {tls_vh.server_name or host})"
        url = f"https://{host}/*"
        rows.append(WebRow(url, "HTTPS", where, f"server {host}: listen ... tls port 443 "
                           f"(certificate {ctx.target.tls_certificate})", "ok", tls_vh.source)
                    if ctx.tls else ctx.no_https(url, "HTTPS", where, tls_vh.source))
    elif ctx.tls:
        rows.append(WebRow(f"https://{host}/*", "HTTPS", "no HTTPS on the old host",
                           f"server {host}: listen ... tls port 443 (certificate "
                           f"{ctx.target.tls_certificate})", "added"))
    if ctx.tls and (ctx.web is None or "http" in schemes):
        rows.append(WebRow(f"http://{host}/*", "http to https", "the pages over HTTP",
                           f"301 to {https_redirect(host, ctx.hosts[0], '/*', ctx.release)}, "
                           "the same path over HTTPS (the HTTP server's location *)", "ok"))
    if ctx.tls:
        rows.append(WebRow(f"http://{host}/.well-known/acme-challenge/*", "acme challenge",
                           "nothing the inventory knows of",
                           f'location "{ACME_LOCATION}": the files of {ACME_DIR} '
                           "(acme-client's challenges)", "added"))
    rows += _alias_rows(ctx, host, first)
    return rows


def _alias_rows(ctx: _Context, host: str, scheme: str) -> list[WebRow]:
    """Mailman's ScriptAlias and Aliases, and every other one served under ``host``."""
    rows: list[WebRow] = []
    web = ctx.web
    mine: list[tuple[WebAlias, str, bool]] = []  # (alias, scheme, on the main server)
    if web is not None:
        for alias in (web.script_alias, web.pipermail_alias, web.icons_alias):
            if alias is not None:
                mine.append((alias, scheme, True))
        for vh in ctx.vhosts(host):
            mine += [(a, "https" if vh.tls else "http", False) for a in vh.aliases
                     if not a.kind.redirects]
    seen: set[tuple[str, str, str]] = set()
    for alias, sch, _, prefix, url in _unseen(mine, host, seen):
        old = f"{_directive(alias)} (Mailman's)"
        new = ctx.mailman_new(prefix)
        if ctx.unreachable(sch):
            rows.append(ctx.no_https(url, "Mailman alias", old, alias.source))
        elif new is None:
            rows.append(WebRow(url, "Mailman alias", old, "nothing: the new host serves "
                               f"Mailman at {', '.join(list(ctx.served)[:-1])} and "
                               f"{list(ctx.served)[-1]} only", "missing",
                               alias.source))
        else:
            rows.append(_row(url, "Mailman alias", old, ctx.via(sch, host), new,
                             alias.source))
    others: list[tuple[WebAlias, str, bool]] = []
    if web is not None:
        others += [(a, scheme, True) for a in web.other_aliases]
        for vh in ctx.vhosts(host):
            others += [(a, "https" if vh.tls else "http", False) for a in vh.other_aliases]
    for alias, sch, main, prefix, url in _unseen(others, host, seen):
        stock = main and _stock(alias)
        old = f"{_directive(alias)}: {_STOCK[prefix] if stock else 'not Mailman'}"
        shadow = next((p for p in ctx.served if prefix.startswith(p)), None)
        if ctx.unreachable(sch):
            rows.append(ctx.no_https(url, "other alias", old, alias.source))
        elif shadow is not None:
            rows.append(WebRow(url, "other alias", old, ctx.via(sch, host)
                               + f"{ctx.mailman_new(shadow)[0]}: Mailman's, not the old "
                               "folder's", "changed", alias.source))
        elif stock:
            rows.append(WebRow(url, "other alias", old, "nothing (404): Apache's own folder "
                               "is not served on the new host", "changed", alias.source))
        else:
            rows.append(WebRow(url, "other alias", old, "nothing (404): the new host serves "
                               "Mailman's pages only", "missing", alias.source))
    icons = ctx.lists.icons.prefix
    if web is None or not any(_prefix(a.url_path) == icons for a, _, _ in mine + others):
        new = ctx.via(scheme, host) + _static(ctx.lists.icons)
        rows.append(WebRow(f"{scheme}://{host}{icons}*", "icons",
                           "Mailman's icons (the web server is not in the inventory)", new,
                           "ok") if web is None else
                    WebRow(f"{scheme}://{host}{icons}*", "icons", f"no Alias {icons} on the "
                           "old host", new, "added"))
    return rows


def _row(url: str, what: str, old: str, via: str, new: tuple[str, str],
         source: Source | None) -> WebRow:
    """A row of one of Mailman's URLs that the new host serves or redirects (``new``: what
    answers, and the status, from ``_Context.page``)."""
    said = "plan.web-prefixes-moved" if new[1] == "changed" else None
    return WebRow(url, what, old, via + new[0], new[1], source, said_by=said)


def _redirect_row(ctx: _Context, c: Carried, name: str) -> WebRow:
    a = c.alias
    line = a.line or f"{a.kind.value} {a.url_path} {a.target}"
    what = "rewrite" if a.kind == WebAliasKind.REWRITE_RULE else "redirect"
    if a.kind == WebAliasKind.REDIRECT:
        url = f"{c.scheme}://{name}{a.url_path}"
    else:
        url = f"{c.scheme}://{name} ~ {a.url_path}"
    if c.ignored:
        return WebRow(url, what, f"ignored by Apache (RewriteEngine is not on): {line}",
                      "nothing either", "ok", a.source)
    old = line + (f": {a.code}" if a.code else "") + (f" to {a.target}" if a.code and 300 <=
                                                      a.code < 400 else "")
    if ctx.unreachable(c.scheme):
        return ctx.no_https(url, what, old, a.source)
    where = "; ".join(" ".join(part.strip() for part in loc.lines()) for loc in c.locations)
    if c.builtin == "https":
        url = f"http://{name}/"
        return WebRow(f"{c.scheme}://{name}/*", what, old, "the plan's own HTTP server: 301 to "
                      f"{https_redirect(name, ctx.hosts[0], '/*', ctx.release)} (location *)",
                      "ok", a.source, checked=url in ctx.probed)
    if not c.locations:
        return WebRow(url, what, old, f"not carried: {c.lost}", "changed", a.source,
                      said_by="plan.web-redirect-not-carried")
    new = ctx.via(c.scheme, name) + ("the plan's own " if c.builtin else
                                     "carried into httpd.conf: ") + where
    checked = c.sample is not None and f"{c.scheme}://{name}{c.sample}" in ctx.probed
    if c.builtin:
        checked = f"{'https' if ctx.tls else 'http'}://{name}/" in ctx.probed
    if c.lost:
        return WebRow(url, what, old, f"{new} (in part: {c.lost})", "changed", a.source,
                      said_by="plan.web-redirect-not-carried", checked=checked)
    if c.query:
        return WebRow(url, what, old, f"{new} (without the request's query string, which "
                      "Apache appended)", "changed", a.source, said_by="plan.web-redirect-query",
                      checked=checked)
    return WebRow(url, what, old, new, "ok", a.source, checked=checked)


def _list_rows(ctx: _Context) -> list[WebRow]:
    inv = ctx.inv
    names, _ = list_names(inv)
    lists = {ml.name: ml for ml in inv.lists}
    archives = {a.list_name: a for a in inv.archives}
    cgi = ctx.web.script_alias if ctx.web else None
    pipermail = ctx.web.pipermail_alias if ctx.web else None
    rows: list[WebRow] = []
    for name in names:
        ml = lists.get(name)
        source = ml.source if ml else None
        scheme, host, prefix = list_web_base(ml, ctx.hosts, ctx.old_cgi)
        base = f"{scheme}://{host}{prefix}"
        via = ctx.via(scheme, host)
        served = f" ({_directive(cgi)})" if cgi else ""
        private = bool(ml and ml.archive_private)
        pages = [(script, what, f"Mailman CGI {script}{served}") for script, what in LIST_PAGES]
        pages.append(("private", "private archive", f"Mailman CGI private{served}: "
                      + ("the archive, after the members' login" if private else
                         "a login, then the same archive as /pipermail/ (members only)")))
        for script, what, old in pages:
            url = f"{base}{script}/{name}" + ("/" if script == "private" else "")
            new = ctx.page(f"{prefix}{script}/")
            if ctx.unreachable(scheme):
                row = ctx.no_https(url, what, old, source)
            elif new is None:
                row = WebRow(url, what, old, "nothing: the new host serves Mailman's CGI at "
                             f"{ctx.lists.cgi.prefix} only", "missing", source)
            elif new[1] == "ok" and ctx.lists.app:
                row = WebRow(url, what, old, via + ctx.cgi(script, name), "changed", source,
                             said_by=ctx.lists.app_finding)
            elif new[1] == "ok":
                row = WebRow(url, what, old, via + ctx.cgi(script, name), "ok", source)
            else:
                row = _row(url, what, old, via, new, source)
            row.checked = url in ctx.probed
            rows.append(row)
        rows += _private_archive_rows(ctx, archives.get(name), base, name, via, source)
        if private:
            continue
        archive = archives.get(name)
        top = f"{scheme}://{host}{ctx.old_archive}{name}/"
        answer = ctx.page(ctx.old_archive)
        static = answer[0] if answer else "nothing"
        archive_root = ctx.lists.archive.root
        folder = f"pipermail static ({_directive(pipermail)})" if pipermail else \
            "pipermail static"
        entries = [(top, "archive", f"{folder}: the archive's index", f"{archive_root}/{name}/")]
        # one pattern for the volumes' indexes (a 20-year monthly archive has 240): the table
        # holds URL patterns, and every one of those URLs is answered by the same location
        volumes = [v for v in (archive.volumes if archive else []) if v.html]
        if volumes:
            span = volumes[0].name if len(volumes) == 1 else \
                f"{volumes[0].name} .. {volumes[-1].name}"
            entries.append((f"{top}VOLUME/", "archive volumes",
                            f"{folder}: the indexes of {len(volumes)} "
                            f"volume{'s' * (len(volumes) != 1)} ({span})",
                            f"{archive_root}/{name}/VOLUME/"))
        articles = sum(v.html_articles for v in volumes)
        if articles:
            entries.append((f"{top}*/NNNNNN.html", "archive articles",
                            f"{folder}: {articles} article pages", f"{archive_root}/{name}/"))
        for ext, flag in (("txt.gz", "txt_gz"), ("txt", "txt")):
            have = [v for v in (archive.volumes if archive else []) if getattr(v, flag)]
            if have:
                entries.append((f"{top}*.{ext}", f"archive .{ext}",
                                f"{folder}: {len(have)} volume{'s' * (len(have) != 1)} "
                                f"as .{ext}",
                                f"{archive_root}/{name}/"))
        if archive and archive.public_mbox_link_target:  # PUBLIC_MBOX: the whole mbox
            mbox = f"{name}.mbox/{name}.mbox"
            entries.append((f"{scheme}://{host}{ctx.old_archive}{mbox}", "archive mbox",
                            f"{folder}: the list's mbox (PUBLIC_MBOX)",
                            f"{archive_root}/{mbox}, the link Mailman makes when it saves the "
                            "list, with PUBLIC_MBOX in mm_cfg.py"))
        settings = inv.mailman.settings if inv.mailman else None
        public_mbox = settings is not None and \
            settings.other.get("PUBLIC_MBOX", "0").strip() not in ("0", "False", "None", "''")
        for url, what, old, root in entries:
            if what == "archive mbox" and not public_mbox:
                rows.append(WebRow(url, what, old, "nothing: mm_cfg.py has no PUBLIC_MBOX, so "
                                   "Mailman makes no public mbox link", "changed",
                                   archive.source))
                continue
            if ctx.unreachable(scheme):
                row = ctx.no_https(url, what, old, archive.source if archive else source)
            elif ctx.web is not None and pipermail is None:
                row = WebRow(url, what, f"nothing: no Alias {ctx.old_archive} on the old host",
                             via + f"{static} ({root})", "added")
            elif answer is None:
                row = WebRow(url, what, old, "nothing: the new host serves the archives at "
                             f"{ctx.lists.archive.prefix} only", "missing",
                             archive.source if archive else source)
            else:
                row = _row(url, what, old, via, (f"{static} ({root})", answer[1]),
                           archive.source if archive else source)
            row.checked = url in ctx.probed
            rows.append(row)
    return rows


def _private_archive_rows(ctx: _Context, archive, base: str, name: str, via: str,
                          source: Source | None) -> list[WebRow]:
    """An application that answers Mailman 2's pages answers the addresses inside a list's
    private archive too: each volume's pages, each article (one row per pattern)."""
    if not ctx.lists.app or ctx.unreachable(base.split(":", 1)[0]):
        return []
    volumes = [v for v in (archive.volumes if archive else []) if v.html]
    if not volumes:
        return []
    pages = dict(ctx.lists.app_pages)
    cgi = ctx.lists.cgi
    head = (f'location "{cgi.location}": {ctx.lists.app} (FastCGI, {cgi.fastcgi}) answers '
            "with a 301 to ")
    articles = sum(v.html_articles for v in volumes)
    out = [WebRow(f"{base}private/{name}/VOLUME/", "private archive volumes",
                  f"Mailman CGI private: the indexes of {len(volumes)} volume"
                  f"{'s' * (len(volumes) != 1)}, after the members' login",
                  via + head + pages.get("private-volume", "the volume"), "changed",
                  archive.source if archive else source, said_by=ctx.lists.app_finding)]
    if articles:
        out.append(WebRow(f"{base}private/{name}/VOLUME/NNNNNN.html",
                          "private archive articles",
                          f"Mailman CGI private: {articles} article pages, after the members' "
                          "login", via + head + pages.get("private-article", "the article"),
                          "changed", archive.source if archive else source,
                          said_by=ctx.lists.app_finding))
    return out


def web_parity_rows(inv: Inventory, target: Target, release: Release,
                    web: WebLocations) -> list[WebRow]:
    ctx = _Context(inv, target, release, web)
    if not ctx.hosts:
        return []  # no web name: httpd.conf's blocker (plan.no-web-host) says it
    names = ctx.hosts + [a for a in ctx.aliases if is_domain(a)]
    plan = ctx.redirects
    rows: list[WebRow] = []
    seen: set[tuple[str, str]] = set()
    redirect_rows: dict[str, list[WebRow]] = {}
    for name in names:
        for c in plan[name]:
            key = (c.alias.line or c.alias.url_path, str(c.alias.source))
            if key in seen:
                continue
            seen.add(key)
            redirect_rows.setdefault(name, []).append(_redirect_row(ctx, c, name))
    for host in ctx.hosts:
        rows += _host_rows(ctx, host, any(_covers_root(c) for c in plan[host]))
        rows += redirect_rows.get(host, [])
    for alias in ctx.aliases:
        if is_domain(alias):
            rows.append(WebRow(f"http://{alias}/*", "server alias",
                               f"ServerAlias {alias}: the same site",
                               f'alias "{alias}" of the server block that answers it', "ok"))
        elif alias.startswith("*"):  # httpd.conf leaves it out (plan.web-wildcard-alias)
            rows.append(WebRow(f"http://{alias}/*", "server alias",
                               f"ServerAlias {alias}: the same site",
                               "nothing: httpd.conf leaves the wildcard name out", "changed",
                               said_by="plan.web-wildcard-alias"))
        rows += redirect_rows.get(alias, [])
    return rows + _list_rows(ctx)


def web_parity_findings(rows: list[WebRow]) -> list[Finding]:
    out = []
    for r in rows:
        if r.status == "missing":
            out.append(Finding(
                "plan.web-parity-missing", Severity.BLOCKER,
                f"{r.url} ({r.what}) answered on the old host ({r.old}), but nothing answers "
                f"it on the new host: {r.new}",
                f"Serve it on the new host (a location {overlay_hint(HTTPD_CONF)}, and its "
                "folder copied), move it to another web host and redirect there, or remove "
                "it from the old "
                "web server (a dead link people must know about) and inspect again; the "
                "cutover must not run while this stands.", r.source))
        elif r.status == "changed" and r.said_by is None:
            out.append(Finding(
                "plan.web-parity-changed", Severity.WARNING,
                f"{r.url} ({r.what}) answers differently: old host: {r.old}; new host: "
                f"{r.new}",
                "Check that the new answer is acceptable (and tell the lists' users where a "
                f"link changes), or add a location for it {overlay_hint(HTTPD_CONF)}.",
                r.source))
    return out


def web_parity_table(rows: list[WebRow]) -> list[str]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines = ["# Web parity", "",
             "Every URL pattern the old web server answered under the web names that move, what "
             "answered it there and what answers it on the new host (httpd.conf). "
             + (md_text(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))) or "No rows")
             + ". "
             "A missing row is a dead link, which blocks the move; checked: the cutover's "
             "post-checks ask the new host for it. A redirect's ok is the translation's "
             "verdict (the plan runs neither server); the project's tests hold that translation "
             "to the real Apache and OpenBSD httpd, asking both for URLs generated from each "
             "pattern and comparing status and Location.", "",
             "| old URL | what | old host | new host | status | checked | source |",
             "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(md_text(v) for v in (
        r.url, r.what, r.old, r.new, r.status, "yes" if r.checked else "",
        str(r.source) if r.source else "")) + " |" for r in rows]
    return lines


def emit_web_parity(inv: Inventory, target: Target, release: Release, host: NewHost) -> Emitted:
    out = Emitted()
    rows = web_parity_rows(inv, target, release, host.web)
    out.findings += web_parity_findings(rows)
    out.data.web_parity = [r.data() for r in rows]
    out.files[WEB_PARITY] = "\n".join(web_parity_table(rows)) + "\n"
    return out
