"""``/etc/httpd.conf`` for the new host: Mailman's CGI through slowcgi, its icons, and the
public pipermail archives, for every web host name that moves.

``chroot "/"``: httpd and slowcgi then see the real file system, so the package's cgi-bin
(``/usr/local/lib/mailman/cgi-bin``), its icons and ``/var/spool/mailman/archives/public``
(whose entries are symlinks into ``archives/private``) are reachable as they are, and httpd's
PATH_INFO split (it stat()s the path inside its chroot) finds the CGI scripts. The price is
that httpd is no longer confined to ``/var/www``; the plan says so in a finding.

Path stripping changed grammar in OpenBSD 6.4 (see ``migrate.emitters.release``): 5.7 to 6.3
write ``root { "/dir", strip 1 }``, 6.4 and later ``root "/dir"`` plus ``request strip 1``.
No charset is added to any response: pipermail pages carry their own (a forced default charset
breaks archives in other languages, as the mailman package's README warns).
"""

from __future__ import annotations

from migrate.model import Finding, Inventory, Severity, Target

from migrate.emitters.common import (MM_CGI, MM_ICONS, MM_VAR, SLOWCGI_SOCKET, Emitted,
                                     is_domain, is_path, unsafe)
from migrate.emitters.release import Release

PATH = "files/new/etc/httpd.conf"


def web_hosts(inv: Inventory, target: Target) -> list[str]:
    """The host names Mailman's pages are served as: the target's, then the old virtual hosts'
    URL hosts whose email host moves."""
    hosts = [target.web_host] if target.web_host else []
    settings = inv.mailman.settings if inv.mailman else None
    for vh in settings.virtual_hosts if settings else []:
        if vh.email_host in target.email_domains and vh.url_host not in hosts:
            hosts.append(vh.url_host)
    return hosts


def emit_httpd_conf(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    hosts = []
    for host in web_hosts(inv, target):
        if is_domain(host):
            hosts.append(host)
        else:
            out.findings.append(unsafe("web host", host, "httpd.conf"))
    if not hosts:
        out.findings.append(Finding(
            "plan.no-web-host", Severity.BLOCKER, "no web host name for Mailman's pages",
            "Give it with --web-host or web_host in target.yaml.", None))
        hosts = [target.hostname]
    out.findings.append(Finding(
        "plan.httpd-chroot", Severity.WARNING,
        'httpd runs with chroot "/" (and slowcgi with -p /), not confined to /var/www',
        "This lets httpd serve the mailman package's CGI, icons and archives where the package "
        "puts them; keeping the chroot would need copies (or mounts) of cgi-bin, icons and "
        "archives/public under /var/www, kept in sync after every post. Keep the host "
        "dedicated to the lists and httpd patched.", None))
    tls = target.tls_certificate and target.tls_key and is_path(target.tls_certificate) \
        and is_path(target.tls_key)
    lines = [
        f"# /etc/httpd.conf for {target.hostname} (OpenBSD {release}), written by migrate",
        f"# from the inventory of {inv.host.hostname or 'the old host'}. Check with "
        "`httpd -n`.",
        "# chroot \"/\": see the plan's report (finding plan.httpd-chroot) for the trade-off.",
        'chroot "/"',
        "",
    ]
    addresses = target.ipv6 + target.ipv4
    main, aliases = hosts[0], hosts[1:]
    lines += _server(main, aliases, addresses, release, tls=False, target=target)
    if tls:
        lines += [""] + _server(main, aliases, addresses, release, tls=True, target=target)
    out.files[PATH] = "\n".join(lines) + "\n"
    return out


def _strip(root: str, release: Release) -> list[str]:
    if release.httpd_request_strip:
        return [f'\t\troot "{root}"', "\t\trequest strip 1"]
    return [f'\t\troot {{ "{root}", strip 1 }}']


def _server(host: str, aliases: list[str], addresses: list[str], release: Release, *,
            tls: bool, target: Target) -> list[str]:
    port = 443 if tls else 80
    lines = [f'server "{host}" {{']
    lines += [f'\talias "{a}"' for a in aliases]
    lines += [f"\tlisten on {a}" + (" tls" if tls else "") + f" port {port}" for a in addresses]
    if tls:
        lines += [f'\ttls certificate "{target.tls_certificate}"',
                  f'\ttls key "{target.tls_key}"']
    lines += ['\tlocation "/mailman/*" {', f'\t\tfastcgi socket "{SLOWCGI_SOCKET}"']
    lines += _strip(MM_CGI, release) + ["\t}"]
    lines += ['\tlocation "/icons/*" {'] + _strip(MM_ICONS, release) + ["\t}"]
    lines += ['\tlocation "/pipermail/*" {'] + _strip(f"{MM_VAR}/archives/public", release)
    lines += ["\t}", '\tlocation "/" {', '\t\tblock return 302 "/mailman/listinfo"', "\t}", "}"]
    return lines
