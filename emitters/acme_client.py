"""``/etc/acme-client.conf``: one Let's Encrypt certificate for the new host's name and every
web name of the lists (``target.tls`` is ``TlsMode.ACME``).

The certificate lands where smtpd.conf and httpd.conf expect it (``tls_certificate``,
``tls_key``: acme-client's own layout, ``/etc/ssl/NAME.fullchain.pem`` and
``/etc/ssl/private/NAME.key``). The http-01 challenge is answered by httpd from
``/var/www/acme`` (the HTTP server block of httpd.conf), so acme-client can run only once DNS
names the new host: the runbook does it right after the DNS switch, and until then a
self-signed certificate lets smtpd and httpd start. Renewal is the daily ``acme-client NAME &&
rcctl reload httpd`` that acme-client(1) suggests, in root's crontab.

Grammar: acme-client.conf(5) as of OpenBSD 6.6 and later (``authority`` blocks with ``api
url`` and ``account key``; ``domain`` blocks). Let's Encrypt turned ACME v1 off in June 2021;
acme-client speaks ACME v2 from OpenBSD 6.6, so for older releases the plan says so instead.
"""

from __future__ import annotations

from migrate.core.model import Finding, Inventory, Severity, Target

from emitters.common import Emitted, Stage, is_domain
from emitters.guard import conf_str
from emitters.new_host import web_aliases, web_hosts, web_tls
from emitters.release import Release

PATH = "files/new/etc/acme-client.conf"
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


def certificate_names(inv: Inventory, target: Target) -> list[str]:
    """The new host's name first (smtpd's), then every web name and alias, each once."""
    hosts = [h for h in web_hosts(inv, target) if is_domain(h)]
    names = [target.hostname] + hosts + web_aliases(inv, hosts)
    return [n for i, n in enumerate(names) if is_domain(n) and n not in names[:i]]


def emit_acme_client(inv: Inventory, target: Target, release: Release) -> Emitted:
    out = Emitted()
    if not web_tls(target):
        return out
    if not release.has_acme_client:
        out.findings.append(Finding(
            "plan.acme-v1", Severity.WARNING,
            f"acme-client on OpenBSD {release} speaks ACME v1, which Let's Encrypt turned off "
            "in June 2021", f"Install a certificate from elsewhere at {target.tls_certificate} "
            f"and {target.tls_key}, or move to OpenBSD 6.6 or later.", None))
        return out
    names = certificate_names(inv, target)
    main, alternatives = names[0], names[1:]
    lines = [
        f"# /etc/acme-client.conf for {target.hostname} (OpenBSD {release}), written by "
        "migrate.",
        "# One certificate for smtpd and httpd. Get it once DNS names this host:",
        f"#   acme-client -v {main} && rcctl reload httpd && rcctl restart smtpd",
        "# Renew daily from root's crontab (crontab -e):",
        f"#   ~ 3 * * * acme-client {main} && rcctl reload httpd && rcctl restart smtpd",
        "",
        "authority letsencrypt {",
        f'\tapi url "{LETSENCRYPT}"',
        '\taccount key "/etc/acme/letsencrypt-privkey.pem"',
        "}",
        "",
        f"domain {main} {{",
    ]
    if alternatives:
        lines.append(f"\talternative names {{ {' '.join(alternatives)} }}")
    lines += [f"\tdomain key {conf_str(target.tls_key)}",
              f"\tdomain full chain certificate {conf_str(target.tls_certificate)}",
              "\tsign with letsencrypt", "}"]
    out.files[PATH] = "\n".join(lines) + "\n"
    out.install(PATH, "/etc/acme-client.conf", check="acme-client -n >/dev/null",
                stage=Stage.LATER)
    return out
