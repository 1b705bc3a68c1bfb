"""``/etc/mail/smtpd.conf`` for the new host, in the grammar of the target release.

OpenBSD 6.4 and later: ``table``/``action``/``match`` (checked in the tests by the real
OpenSMTPD parser, ``smtpd -n``). Before 6.4: ``accept ... deliver to mbox`` and
``accept ... relay via`` (checked against the documented grammar; no parser of that era runs
here). The file:

* listens on the new host's IPv6 address(es), ``::1`` and ``127.0.0.1`` (Mailman hands its
  outgoing mail to ``localhost:25``), plus IPv4 if the target has it; with STARTTLS on the
  public addresses when a certificate is configured;
* accepts mail for the moved domains from anywhere and expands it through the aliases table,
  where each list address is a pipe into Mailman's wrapper (run as ``_smtpd``);
* delivers the host's own mail locally and relays everything else from local senders (Mailman's
  outgoing list mail) through the smarthost, or by MX when there is none.
"""

from __future__ import annotations

from migrate.core.model import Finding, Inventory, Severity, Target

from emitters.common import Emitted, Stage, is_domain, is_path
from emitters.guard import comment, conf_str, refuse
from emitters.release import Release
from emitters.new_host import NewHost
from emitters.virtual_table import TABLE as VIRTUAL_TABLE

PATH = "files/new/etc/mail/smtpd.conf"
ALIASES = "/etc/mail/aliases"


def emit_smtpd_conf(inv: Inventory, target: Target, release: Release, host: NewHost) -> Emitted:
    out = Emitted()
    domains = []
    for domain in target.email_domains:
        if is_domain(domain):
            domains.append(domain)
        else:
            out.findings.append(refuse("mail domain", domain, "smtpd.conf"))
    if not domains:
        out.findings.append(Finding(
            "plan.no-mail-domains", Severity.BLOCKER,
            "no mail domain to move: the new host would accept no list mail",
            "Give the domains with --email-domain or email_domains in target.yaml.", None))
    pki = target.hostname if target.tls_certificate and target.tls_key else None
    if pki and not (is_path(target.tls_certificate or "") and is_path(target.tls_key or "")):
        out.findings.append(refuse("TLS file path", f"{target.tls_certificate} "
                                   f"{target.tls_key}", "smtpd.conf"))
        pki = None
    relay = _relay_url(target.smarthost) if target.smarthost else None
    if target.smarthost and relay is None:
        out.findings.append(refuse("smarthost", target.smarthost, "smtpd.conf"))
    head = [
        f"# /etc/mail/smtpd.conf for {comment(target.hostname)} (OpenBSD {release}), written "
        "by migrate",
        f"# from the inventory of {comment(inv.host.hostname or 'the old host')}. Grammar: "
        + ("OpenBSD 6.4 and later (table/action/match)." if release.smtpd_match_grammar
           else "before OpenBSD 6.4 (accept/deliver)."),
        "# Check with `smtpd -n` before `rcctl restart smtpd`.",
        "",
    ]
    virtual = [d for d in host.addresses.virtual_domains if d in domains]
    plain = [d for d in domains if d not in virtual]
    if release.smtpd_match_grammar:
        body = _match_grammar(target, plain, virtual, pki, relay)
    else:
        body = _accept_grammar(target, release, plain, virtual, pki, relay)
    out.files[PATH] = "\n".join(head + body) + "\n"
    # installed at the switch: smtpd reads it at boot, and must not take list mail before
    out.install(PATH, "/etc/mail/smtpd.conf", check="smtpd -n", stage=Stage.SWITCH,
                precheck=f'smtpd -n -f "$PLAN/{PATH}"')
    return out


def _relay_url(smarthost: str) -> str | None:
    host, _, port = smarthost.partition(":")
    if host.startswith("["):  # [2001:db8::1]:587
        host, _, port = smarthost[1:].partition("]")
        port = port.lstrip(":")
        if not all(c in "0123456789abcdefABCDEF:." for c in host):
            return None
        host = f"[{host}]"
    elif not is_domain(host.lower()):
        return None
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    return f"smtp://{host}" + (f":{port}" if port else "")


def _listeners(target: Target, pki: str | None) -> list[str]:
    lines = ["listen on ::1", "listen on 127.0.0.1"]
    for addr in target.ipv6 + target.ipv4:
        lines.append(f"listen on {addr}" + (f" tls pki {pki}" if pki else ""))
    return lines


def _domain_table(domains: list[str], virtual: list[str]) -> list[str]:
    lines = []
    if domains:
        lines.append("table listdomains { " + ", ".join(conf_str(d) for d in domains) + " }")
    if virtual:
        lines.append(f"table virtuals file:{VIRTUAL_TABLE}")
        lines.append("table virtualdomains { " + ", ".join(conf_str(d) for d in virtual)
                     + " }")
    return lines


def _match_grammar(target: Target, domains: list[str], virtual: list[str], pki: str | None,
                   relay: str | None) -> list[str]:
    lines = []
    if pki:
        lines += [f"pki {pki} cert {conf_str(target.tls_certificate)}",
                  f"pki {pki} key {conf_str(target.tls_key)}", ""]
    lines += [f"table aliases file:{ALIASES}"] + _domain_table(domains, virtual) + [""]
    lines += _listeners(target, pki) + [""]
    lines += ['action "lists" mbox alias <aliases>']
    if virtual:
        # list addresses map to NAME@localhost, which the "local" rule expands into the pipe
        lines.append('action "virtual" mbox virtual <virtuals>')
    lines += ['action "local" mbox alias <aliases>',
              'action "outbound" relay' + (f" host {conf_str(relay)}" if relay else ""), ""]
    if domains:
        lines.append('match from any for domain <listdomains> action "lists"')
    if virtual:
        lines.append('match from any for domain <virtualdomains> action "virtual"')
    lines += ['match from local for local action "local"',
              'match from local for any action "outbound"']
    return lines


def _accept_grammar(target: Target, release: Release, domains: list[str], virtual: list[str],
                    pki: str | None, relay: str | None) -> list[str]:
    lines = []
    if pki:
        lines += [f"pki {pki} certificate {conf_str(target.tls_certificate)}",
                  f"pki {pki} key {conf_str(target.tls_key)}", ""]
    table = "db:/etc/mail/aliases.db" if release.aliases_db else f"file:{ALIASES}"
    lines += [f"table aliases {table}"] + _domain_table(domains, virtual) + [""]
    lines += _listeners(target, pki) + [""]
    if domains:
        lines.append("accept from any for domain <listdomains> alias <aliases> "
                     "deliver to mbox")
    if virtual:
        lines.append("accept from any for domain <virtualdomains> virtual <virtuals> "
                     "deliver to mbox")
    lines += ["accept for local alias <aliases> deliver to mbox",
              "accept from local for any relay" + (f" via {conf_str(relay)}" if relay else "")]
    return lines
