"""``/etc/httpd.conf`` for the new host: Mailman's CGI through slowcgi, its icons, and the
public pipermail archives, for every web host name that moves.

``chroot "/"``: httpd and slowcgi then see the real file system, so the package's cgi-bin
(``/usr/local/lib/mailman/cgi-bin``), its icons and ``/var/spool/mailman/archives/public``
(whose entries are symlinks into ``archives/private``) are reachable as they are, and httpd's
PATH_INFO split (it stat()s the path inside its chroot) finds the CGI scripts. The price is
that httpd is no longer confined to ``/var/www``; the plan says so in a finding. The logs
need ``logdir``: httpd's default is ``/logs`` within the chroot, which with ``chroot "/"`` is
``/logs``, a folder OpenBSD does not have, and httpd then exits at start ("parent: failed to
open log file"; found by running the real httpd). ``logdir "/var/www/logs"`` keeps them where
they are with the default chroot, where newsyslog rotates them (``logdir`` is in httpd.conf(5)
since before 5.7: parse.y rev 1.54, January 2015).

Path stripping changed grammar in OpenBSD 6.4 (see ``emitters.release``): 5.7 to 6.3
write ``root { "/dir", strip 1 }``, 6.4 and later ``root "/dir"`` plus ``request strip 1``.
The old web server's redirects and rewrites of Mailman's URLs that httpd can express come
first in the server block (see ``emitters.httpd_redirects``); names whose old virtual
hosts had different ones get server blocks of their own, so that a redirect answers only for
the names it answered for before. Before 6.2 (no ``$HTTP_HOST``) the HTTP server's redirect to
HTTPS names the server block's own name.

No charset is added to any response: pipermail pages carry their own (a forced default
charset breaks archives in other languages, as the mailman package's README warns).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from migrate.core.model import (Finding, Inventory, Severity, Source, Target, WebAlias,
                                WebAliasKind, WebVirtualHost)

from emitters.common import HTTPD_CONF, Emitted, is_domain, overlay_hint
from emitters.guard import comment, conf_str, refuse
from emitters.httpd_redirects import (Location, answers_root, lua_literal, lua_search,
                                      not_carried, server_locations)
from emitters.new_host import ListLocations, Moved, NewHost, Served
from emitters.release import Release

PATH = HTTPD_CONF


LOG_DIR = "/var/www/logs"  # httpd's logs with its default chroot (/var/www): access.log, error.log
ACME_DIR = "/var/www/acme"  # acme-client's challenge folder (as httpd sees it: chroot "/")
#: acme-client's location in the HTTP server block, serving ACME_DIR (every server block has
#: the list manager's locations too: the new host's, ``new_host.list_locations``)
ACME_LOCATION = "/.well-known/acme-challenge/*"


def emit_httpd_conf(inv: Inventory, target: Target, release: Release, host: NewHost) -> Emitted:
    out = Emitted()
    web = host.web
    out.findings += web.findings
    out.findings += [refuse("web host", name, "httpd.conf") for name in web.wanted
                     if not is_domain(name)]
    if not web.hosts:
        out.findings.append(Finding(
            "plan.no-web-host", Severity.BLOCKER, "no web host name for Mailman's pages",
            "Give it with --web-host or web_host in target.yaml.", None))
    hosts = web.served
    aliases = []
    for name in web.aliases:
        if is_domain(name):
            aliases.append(name)
        elif not name.startswith("*"):  # a wildcard alias has no httpd equivalent
            out.findings.append(refuse("web alias", name, "httpd.conf"))
        else:
            out.findings.append(Finding(
                "plan.web-wildcard-alias", Severity.WARNING,
                f"the old virtual host answered the wildcard name {name}",
                "httpd's alias takes shell globs too, but acme-client cannot get a certificate "
                f"for it; add it {overlay_hint(PATH)} if it is still needed.", None))
    served = web.lists.served
    out.findings.append(Finding(
        "plan.httpd-chroot", Severity.WARNING,
        'httpd runs with chroot "/" (and slowcgi with -p /), not confined to /var/www',
        f"This lets httpd serve {host.destination.name}'s CGI, icons and archives where it "
        f"keeps them ({', '.join(comment(s.root) for s in served)}); keeping the chroot would "
        "need copies (or mounts) of them under /var/www, kept in sync after every post. Keep "
        "the host dedicated to the lists and httpd patched.", None))
    tls = web.tls
    lines = [
        f"# /etc/httpd.conf for {comment(target.hostname)} (OpenBSD {release}), written by "
        "migrate",
        f"# from the inventory of {comment(inv.host.hostname or 'the old host')}. Check with "
        "`httpd -n`.",
        "# chroot \"/\": see the plan's report (finding plan.httpd-chroot) for the trade-off.",
        'chroot "/"',
        "# the logs where OpenBSD keeps httpd's (and newsyslog rotates them); with chroot \"/\"",
        "# the default would be /logs, which does not exist, and httpd would not start",
        f'logdir "{LOG_DIR}"',
        "",
    ]
    addresses = target.ipv6 + target.ipv4
    main, others = hosts[0], hosts[1:] + aliases
    out.findings += root_changed(inv, [main, *others], tls, web.lists)
    redirects = web.redirects
    out.findings += not_carried(redirects)
    # one server block per set of carried redirects: a redirect of one old virtual host must
    # not answer for the names of another
    groups: list[tuple[list[str], list[tuple[Location, WebAlias]]]] = []
    for name in [main, *others]:
        locations = server_locations(redirects[name])
        same = next((g for g in groups if [loc for loc, _ in g[1]] ==
                     [loc for loc, _ in locations]), None)
        if same is None:
            groups.append(([name], locations))
        else:
            same[0].append(name)
    if tls:
        lines += [
            "# HTTP: acme-client's challenges, and a redirect to the same URL over HTTPS for",
            "# everything else (old http:// links to Mailman's pages keep working).",
        ]
        # the new host's own name is on the certificate too (smtpd's): its challenge is here
        extra = [] if target.hostname in hosts + aliases else [target.hostname]
        lines += _redirect_server(main, others + extra, addresses, release)
        lines.append("")
    if web.lists.moved:
        out.findings.append(moved_finding(web.lists, release))
    for index, (names, locations) in enumerate(groups):
        entries = server_entries(locations, web.lists, release)
        out.findings += check_locations(names[0], entries)
        lines += ([""] if index else []) + _server(
            names[0], names[1:], addresses, release, tls=tls, target=target, entries=entries)
    dest = host.destination
    if dest.loopback_prefixes and dest.web.cgi_socket:
        lines += ["", f"# {comment(dest.name)}'s own calls to its web UI, on loopback only",
                  'server "localhost" {', "\tlisten on 127.0.0.1 port 80"]
        for prefix in dest.loopback_prefixes:
            lines += [f'\tlocation "{prefix}*" {{', f'\t\tfastcgi socket '
                      f'"{dest.web.cgi_socket}"', f'\t\troot "{dest.web.cgi}"', "\t}"]
        lines += ["\tlocation \"/*\" {", "\t\tblock return 403", "\t}", "}"]
    out.files[PATH] = "\n".join(lines) + "\n"
    out.install(PATH, "/etc/httpd.conf", check="httpd -n")
    return out


def _redirects_root(alias: WebAlias) -> bool:
    """Whether an old Redirect, RedirectMatch or RewriteRule sent the site root elsewhere."""
    return (alias.enabled and alias.code is not None and 300 <= alias.code < 400
            and answers_root(alias))


def changed_roots(inv: Inventory, names: list[str]) -> tuple[list[str], Source | None]:
    """The site root of every web name the old server answered with a page of its own (its
    DocumentRoot) rather than a redirect: the new host sends it to Mailman's list overview
    (``ROOT``), so the answer at that URL changes. (The URLs, and the first source.)"""
    web = inv.web
    if web is None:
        return [], None
    main = [a for a in web.redirects if a.kind != WebAliasKind.REWRITE_RULE]
    hosts = web.virtual_hosts or [WebVirtualHost(server_name=n) for n in names]
    urls: list[str] = []
    source = None
    for vh in hosts:
        mine = [n.lower() for n in [vh.server_name, *vh.server_aliases] if n]
        mine = [n for n in mine if n in names]
        rules = [a for a in vh.aliases if a.kind.redirects] + main
        if not mine or any(_redirects_root(a) for a in rules):
            continue
        urls += [f"{'https' if vh.tls else 'http'}://{n}/" for n in mine
                 if f"{'https' if vh.tls else 'http'}://{n}/" not in urls]
        source = source or vh.source
    return urls, source


def root_changed(inv: Inventory, names: list[str], tls: bool,
                 lists: ListLocations) -> list[Finding]:
    """The finding ``plan.web-root-changed`` for ``changed_roots``."""
    urls, source = changed_roots(inv, names)
    if not urls:
        return []
    where = f"https://{names[0]}/" if tls else f"http://{names[0]}/"
    root = lists.root.target or "/"
    return [Finding(
        "plan.web-root-changed", Severity.WARNING,
        f"the old web server answered the site root with a page of its own (its "
        f"DocumentRoot), not with a redirect: {', '.join(urls)}",
        f"On the new host {', '.join(urls)} answer with a redirect to {root} "
        f"(Mailman's list overview, {where}{root.lstrip('/')}), and the old page is not "
        "copied. If it is still wanted, copy it to the new host and serve it from httpd.conf, "
        f"{overlay_hint(PATH)}.", source)]


def moved_finding(lists: ListLocations, release: Release) -> Finding:
    """What becomes of the old prefixes the new host serves elsewhere."""
    pairs = ", ".join(f"{m.old} ({m.why}, {m.what}) to {m.new.prefix}" for m in lists.moved)
    if not all(m.redirect for m in lists.moved):
        pairs = ", ".join(f"{m.old} ({m.why}, {m.what}) as {m.new.prefix}"
                          for m in lists.moved)
        return Finding(
            "plan.web-prefixes-moved", Severity.WARNING,
            f"Mailman's pages are served at old URL prefixes too: {pairs}",
            f"OpenBSD {release} has no location match (5.8 and later) to redirect them with "
            "the rest of the path, so httpd serves the same pages at both; old links keep "
            "answering, new pages link to the new prefix.", lists.moved[0].source)
    return Finding(
        "plan.web-prefixes-moved", Severity.WARNING,
        f"old URL prefixes of Mailman's pages answer with a redirect to where the new host "
        f"serves them: {pairs}",
        "Every old address below them answers 301 to the same path at the new prefix (without "
        "the query string: httpd cannot append it only when there is one), and the lists' "
        "pages link to the new prefix. Where this comes from url_prefixes: package, plan "
        "with url_prefixes: keep (the default) to serve the pages where they were.",
        lists.moved[0].source)


#: The host of the HTTP server's redirect to HTTPS: the name asked for where httpd has the
#: macro for it, else the server block's name (5.7 to 6.1; see ``Release.httpd_host_macro``).
_HTTPS_HOST = {True: "$HTTP_HOST", False: "$SERVER_NAME"}


def https_redirect(host: str, main: str, path: str, release: Release) -> str:
    """Where the HTTP server block sends a request for ``path`` on the name ``host``
    (``main`` is the block's own name)."""
    return f"https://{host if release.httpd_host_macro else main}{path}"


def _strip(root: str, release: Release, n: int) -> list[str]:
    if n == 0:
        return [f'\t\troot "{root}"']
    if release.httpd_request_strip:
        return [f'\t\troot "{root}"', f"\t\trequest strip {n}"]
    return [f'\t\troot {{ "{root}", strip {n} }}']


def _names(host: str, aliases: list[str]) -> list[str]:
    return [f"server {conf_str(host)} {{"] + [f"\talias {conf_str(a)}" for a in aliases]


def _redirect_server(host: str, aliases: list[str], addresses: list[str],
                     release: Release) -> list[str]:
    lines = _names(host, aliases)
    lines += [f"\tlisten on {a} port 80" for a in addresses]
    lines += [f'\tlocation "{ACME_LOCATION}" {{'] + _strip(ACME_DIR, release, 2)
    lines += ["\t}", "\tlocation * {",
              f'\t\tblock return 301 "https://{_HTTPS_HOST[release.httpd_host_macro]}'
              '$REQUEST_URI"', "\t}", "}"]
    return lines


@dataclass(frozen=True)
class Entry:
    """One location of a server block, as written: ``own`` when the plan answers it itself
    (Mailman's locations, its redirects of moved prefixes, the site root), not an old
    redirect; ``serves``, when it serves files or the CGI rather than answering a status."""

    location: Location | None  # a status answer; None: ``served``
    served: Served | None
    own: bool
    comment: list[str] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        return self.location.pattern if self.location else self.served.location

    @property
    def match(self) -> bool:
        return bool(self.location and self.location.match)

    def lines(self, release: Release) -> list[str]:
        if self.location is not None:
            return self.comment + self.location.lines()
        s = self.served
        out = self.comment + [f'\tlocation "{s.location}" {{']
        if s.fastcgi:
            out.append(f'\t\tfastcgi socket "{s.fastcgi}"')
        return out + _strip(s.root, release, s.strip) + ["\t}"]

    def answers(self, path: str) -> bool:
        """Whether httpd takes this location for ``path`` (location: fnmatch(3), in any
        case; location match: a Lua pattern, patterns(7))."""
        if self.match:
            return lua_search(self.pattern, path)
        return fnmatch.fnmatchcase(path.lower(), self.pattern.lower())

    def samples(self) -> list[str]:
        """Paths this location answers (none known for a Lua pattern): the check of shadows."""
        if self.match or set(self.pattern) & set("?["):
            return []
        return [self.pattern.replace("*", ""), self.pattern.replace("*", "x/y.html")]


def _moved_entry(m: Moved, release: Release) -> Entry:
    """An old prefix the new host serves elsewhere: a 301 to the same path at the new prefix,
    or (5.7, without location match) the same pages served at both."""
    why = [f"\t# {comment(m.old)}: {comment(m.why)} prefix of {comment(m.what)}, now at "
           f"{comment(m.new.prefix)}"]
    if not m.redirect:
        return Entry(None, m.served, True, why)
    return Entry(Location(f"^{lua_literal(m.old)}(.*)$", True, 301, f"{m.new.prefix}%1"),
                 None, True, why)


def server_entries(redirects: list[tuple[Location, WebAlias]], lists: ListLocations,
                   release: Release) -> list[Entry]:
    """A server block's locations in httpd's order: the old redirects first (they came before
    Apache's aliases), then the moved prefixes, Mailman's locations (the longest prefix
    first), and the site root unless an old redirect answers it."""
    out: list[Entry] = []
    previous = None
    for location, alias in redirects:
        note = []
        if not out:
            note.append("\t# the old web server's redirects, first: they came before its "
                        "aliases")
        if alias is not previous:
            where = f" ({alias.source})" if alias.source else ""
            note.append(f"\t# {comment(alias.line or alias.url_path)}{comment(where)}")
            previous = alias
        out.append(Entry(location, None, False, note))
    out += [_moved_entry(m, release) for m in lists.moved]
    out += [Entry(None, s, True) for s in lists.served]
    if not any(e.answers("/") for e in out):
        out.append(Entry(lists.root, None, True))
    return out


def check_locations(name: str, entries: list[Entry]) -> list[Finding]:
    """No location of a server block hidden by an earlier one, and every redirect to a path
    of the new host going to a path it serves. Either, for a location the plan writes itself,
    is a bug the plan refuses (a blocker); for an old redirect carried as it was, Apache had
    the same (a warning)."""
    out: list[Finding] = []
    for i, later in enumerate(entries):
        samples = later.samples()
        for earlier in entries[:i]:
            same = (earlier.pattern, earlier.match) == (later.pattern, later.match)
            if same or (samples and all(earlier.answers(p) for p in samples)):
                out.append(Finding(
                    "plan.httpd-location-shadowed",
                    Severity.BLOCKER if later.own or same else Severity.WARNING,
                    f'httpd.conf, server "{name}": location "{later.pattern}" is never used: '
                    f'the earlier location "{earlier.pattern}" answers every path it would',
                    "httpd takes the first location that matches. "
                    + ("This is the plan's own: report it as a bug."
                       if later.own or same else "The old web server had the same order; "
                       f"remove one of them {overlay_hint(PATH)} if that is not wanted."),
                    None))
                break
    for entry in entries:
        loc = entry.location
        target = loc.target if loc is not None and 300 <= loc.code < 400 else None
        if not target or not target.startswith("/") or target.startswith("//"):
            continue
        path = re.split(r"[%$?]", target, maxsplit=1)[0]
        first = next((e for e in entries if e.answers(path)), None)
        if first is None or first.served is None:
            out.append(Finding(
                "plan.web-redirect-unserved",
                Severity.BLOCKER if entry.own else Severity.WARNING,
                f'httpd.conf, server "{name}": location "{entry.pattern}" redirects to '
                f"{target}, which the new host does not serve"
                + (f' (location "{first.pattern}" answers it with {first.location.code})'
                   if first is not None else ""),
                "This is the plan's own: report it as a bug." if entry.own else
                f"Serve {path} on the new host or change the redirect, {overlay_hint(PATH)}.",
                None))
    return out


def _server(host: str, aliases: list[str], addresses: list[str], release: Release, *,
            tls: bool, target: Target, entries: list[Entry]) -> list[str]:
    port = 443 if tls else 80
    lines = _names(host, aliases)
    lines += [f"\tlisten on {a}" + (" tls" if tls else "") + f" port {port}" for a in addresses]
    if tls:
        lines += [f"\ttls certificate {conf_str(target.tls_certificate)}",
                  f"\ttls key {conf_str(target.tls_key)}"]
    for entry in entries:
        lines += entry.lines(release)
    return lines + ["}"]
