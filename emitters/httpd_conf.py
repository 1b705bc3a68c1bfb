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


from migrate.core.model import (Finding, Inventory, Severity, Source, Target, WebAlias,
                                WebAliasKind, WebVirtualHost)

from emitters.common import HTTPD_CONF, Emitted, is_domain, overlay_hint
from emitters.guard import comment, conf_str, refuse
from emitters.httpd_redirects import ROOT, Location, answers_root, not_carried, server_locations
from emitters.new_host import ListLocations, NewHost
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
    served = (web.lists.cgi, web.lists.icons, web.lists.archive)
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
    out.findings += root_changed(inv, [main, *others], tls)
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
            "# everything else (old http:// links to /pipermail/ and /mailman/ keep working).",
        ]
        # the new host's own name is on the certificate too (smtpd's): its challenge is here
        extra = [] if target.hostname in hosts + aliases else [target.hostname]
        lines += _redirect_server(main, others + extra, addresses, release)
        lines.append("")
    for index, (names, locations) in enumerate(groups):
        lines += ([""] if index else []) + _server(
            names[0], names[1:], addresses, release, tls=tls, target=target,
            redirects=locations, served=web.lists)
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


def root_changed(inv: Inventory, names: list[str], tls: bool) -> list[Finding]:
    """The finding ``plan.web-root-changed`` for ``changed_roots``."""
    urls, source = changed_roots(inv, names)
    if not urls:
        return []
    where = f"https://{names[0]}/" if tls else f"http://{names[0]}/"
    return [Finding(
        "plan.web-root-changed", Severity.WARNING,
        f"the old web server answered the site root with a page of its own (its "
        f"DocumentRoot), not with a redirect: {', '.join(urls)}",
        f"On the new host {', '.join(urls)} answer with a redirect to {ROOT.target} "
        f"(Mailman's list overview, {where}{ROOT.target.lstrip('/')}), and the old page is not "
        "copied. If it is still wanted, copy it to the new host and serve it from httpd.conf, "
        f"{overlay_hint(PATH)}.", source)]


#: The host of the HTTP server's redirect to HTTPS: the name asked for where httpd has the
#: macro for it, else the server block's name (5.7 to 6.1; see ``Release.httpd_host_macro``).
_HTTPS_HOST = {True: "$HTTP_HOST", False: "$SERVER_NAME"}


def https_redirect(host: str, main: str, path: str, release: Release) -> str:
    """Where the HTTP server block sends a request for ``path`` on the name ``host``
    (``main`` is the block's own name)."""
    return f"https://{host if release.httpd_host_macro else main}{path}"


def _strip(root: str, release: Release, n: int = 1) -> list[str]:
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


def _server(host: str, aliases: list[str], addresses: list[str], release: Release, *,
            tls: bool, target: Target, redirects: list[tuple[Location, WebAlias]],
            served: ListLocations) -> list[str]:
    port = 443 if tls else 80
    lines = _names(host, aliases)
    lines += [f"\tlisten on {a}" + (" tls" if tls else "") + f" port {port}" for a in addresses]
    if tls:
        lines += [f"\ttls certificate {conf_str(target.tls_certificate)}",
                  f"\ttls key {conf_str(target.tls_key)}"]
    if redirects:
        lines.append("\t# the old web server's redirects, first: they came before its aliases")
    previous = None
    for location, alias in redirects:
        if alias is not previous:
            where = f" ({alias.source})" if alias.source else ""
            lines.append(f"\t# {comment(alias.line or alias.url_path)}{comment(where)}")
            previous = alias
        lines += location.lines()
    for where in (served.cgi, served.icons, served.archive):
        lines.append(f'\tlocation "{where.location}" {{')
        if where.fastcgi:
            lines.append(f'\t\tfastcgi socket "{where.fastcgi}"')
        lines += _strip(where.root, release) + ["\t}"]
    lines += [*ROOT.lines(), "}"]
    return lines
