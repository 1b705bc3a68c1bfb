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

from emitters.common import LMTP_TABLE, Emitted, Stage, is_domain, is_path
from emitters.destination import Destination
from emitters.guard import comment, conf_str, refuse
from emitters.release import Release
from emitters.handback_table import TABLE as HANDBACK_TABLE
from emitters.new_host import HandBack, NewHost, Refusal
from emitters.recipients_table import TABLE as RECIPIENTS_TABLE
from emitters.virtual_table import TABLE as VIRTUAL_TABLE

PATH = "files/new/etc/mail/smtpd.conf"
ALIASES = "/etc/mail/aliases"
#: The list manager's user for every list address (a virtual table by domain).
LMTP_USERS = "listmanagerusers"


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
    back = host.handback
    if back and back.relay is None:
        back = HandBack(None)  # parity.md and its blockers name every address left
    dest = host.destination
    if release.smtpd_match_grammar:
        body = _match_grammar(target, plain, virtual, pki, relay, back, host.refusals,
                              dest if dest.lmtp else None)
    else:
        if dest.lmtp:
            out.findings.append(Finding(
                "plan.lmtp-grammar", Severity.BLOCKER,
                f"{dest.name} takes its mail over LMTP, which this plan writes only in the "
                f"grammar of OpenBSD 6.4 and later (not {release})",
                "Plan for a later release (--openbsd).", None))
        body = _accept_grammar(target, release, plain, virtual, pki, relay, back)
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


def _listeners(target: Target, pki: str | None, filters: str = "") -> list[str]:
    lines = ["listen on ::1" + filters, "listen on 127.0.0.1" + filters]
    for addr in target.ipv6 + target.ipv4:
        lines.append(f"listen on {addr}" + (f" tls pki {pki}" if pki else "") + filters)
    return lines


def _inline(name: str, values: list[str]) -> str:
    return f"table {name} {{ " + ", ".join(conf_str(v) for v in values) + " }"


def _domain_table(domains: list[str], virtual: list[str], back: HandBack) -> list[str]:
    lines = []
    if domains:
        lines.append(_inline("listdomains", domains))
    if virtual:
        lines.append(f"table virtuals file:{VIRTUAL_TABLE}")
        lines.append(_inline("virtualdomains", virtual))
    if back.addresses:
        lines.append(f"table handback file:{HANDBACK_TABLE}")
    if back.domains:
        lines.append(_inline("handbackdomains", back.domains))
        if back.lists:
            lines.append(_inline("handbackkeep", back.lists))
    return lines


def _handback_matches(domains: list[str], virtual: list[str], back: HandBack, match: str,
                      how: str, recipient: str, unless: str | None) -> list[str]:
    """The rules that relay the old host's other addresses back to it, before the rules that
    deliver the lists: ``match`` opens a rule, ``how`` ends it, ``recipient`` (a format taking
    a table) picks the handed-back addresses, and ``unless`` leaves a catch-all domain's list
    addresses to the later rules (None: earlier rules took them already)."""
    lines = []
    if back.addresses:
        for table, has in (("listdomains", domains), ("virtualdomains", virtual)):
            if has:
                lines.append(f"{match} for domain <{table}> {recipient.format('handback')} {how}")
    if back.domains:
        keep = f" {unless.format('handbackkeep')}" if back.lists and unless else ""
        lines.append(f"{match} for domain <handbackdomains>{keep} {how}")
    return lines


def _filters(refusals: list[Refusal]) -> tuple[list[str], str]:
    """Built-in filters that answer the old host's refusals at RCPT time with its code class
    and text (one per distinct reply), and the ``filter`` option of the listeners."""
    replies: dict[str, list[str]] = {}
    for r in refusals:
        replies.setdefault(r.reply, []).append(r.address)
    lines, names = [], []
    for i, (reply, addresses) in enumerate(sorted(replies.items()), start=1):
        name = f"refuse{i}"
        names.append(name)
        lines += [_inline(name, addresses),
                  f"filter {conf_str(name)} phase rcpt-to match rcpt-to <{name}> reject "
                  f"{conf_str(reply)}"]
    if not names:
        return [], ""
    if len(names) > 1:
        lines.append('filter "oldhost" chain { ' + ", ".join(conf_str(n) for n in names) + " }")
        return lines, ' filter "oldhost"'
    return lines, f" filter {conf_str(names[0])}"


def _match_grammar(target: Target, domains: list[str], virtual: list[str], pki: str | None,
                   relay: str | None, back: HandBack, refusals: list[Refusal],
                   lmtp: Destination | None = None) -> list[str]:
    """``lmtp``: the list manager when it takes its mail over LMTP (``Destination.lmtp``)."""
    lines = []
    if pki:
        lines += [f"pki {pki} cert {conf_str(target.tls_certificate)}",
                  f"pki {pki} key {conf_str(target.tls_key)}", ""]
    lines += [f"table aliases file:{ALIASES}"]
    if lmtp:
        # every address the list manager answers: it rewrites the table when a list is
        # created or removed, and makes smtpd reread it
        lines.append(f"table {LMTP_TABLE} file:{lmtp.lmtp_table}")
        # smtpd delivers a local action only as a system user it finds by the address's local
        # part, else "Invalid recipient": every list address of the moved domains expands
        # (virtual, by domain) to the list manager's user, and LMTP still gets the address
        # (a plan without a moved domain, blocked, still writes a table smtpd reads)
        users = ", ".join(f"{conf_str('@' + d)} = {conf_str(lmtp.user)}"
                          for d in [*domains, *virtual] or ["localhost"])
        lines.append(f"table {LMTP_USERS} {{ {users} }}")
    if domains:
        lines.append(f"table recipients file:{RECIPIENTS_TABLE}")
    lines += _domain_table(domains, virtual, back) + [""]
    filters, option = _filters(refusals)
    if filters:
        lines += ["# the old host's refusals, with its own code class and text, at RCPT time"]
        lines += filters + [""]
    lines += _listeners(target, pki, option) + [""]
    if lmtp:
        lines.append(f'action {conf_str(LMTP_TABLE)} lmtp {conf_str(lmtp.lmtp)} rcpt-to '
                     f'virtual <{LMTP_USERS}>')
    lines += ['action "lists" mbox alias <aliases>']
    if virtual:
        # list addresses map to NAME@localhost, which the "local" rule expands into the pipe
        lines.append('action "virtual" mbox virtual <virtuals>')
    if back:
        # the old host keeps serving the moved domains' other addresses: relayed to its
        # address (not by MX, which is this host now)
        lines.append(f'action "handback" relay host {conf_str(back.relay)}')
    lines += ['action "local" mbox alias <aliases>',
              'action "outbound" relay' + (f" host {conf_str(relay)}" if relay else ""), ""]
    if lmtp:
        # first: the list manager's own addresses, including lists created after the move;
        # the aliases and virtual entries below map the old names of lists to them
        lines.append(f"match from any for rcpt-to <{LMTP_TABLE}> action {conf_str(LMTP_TABLE)}")
    lines += _handback_matches(domains, virtual, back, "match from any", 'action "handback"',
                               "rcpt-to <{}>", "!rcpt-to <{}>")
    if domains:
        # only the names the aliases give them: not the new host's own accounts
        lines.append('match from any for domain <listdomains> rcpt-to <recipients> '
                     'action "lists"')
    if virtual:
        lines.append('match from any for domain <virtualdomains> action "virtual"')
    lines += ['match from local for local action "local"',
              'match from local for any action "outbound"']
    return lines


def _accept_grammar(target: Target, release: Release, domains: list[str], virtual: list[str],
                    pki: str | None, relay: str | None, back: HandBack) -> list[str]:
    lines = []
    if pki:
        lines += [f"pki {pki} certificate {conf_str(target.tls_certificate)}",
                  f"pki {pki} key {conf_str(target.tls_key)}", ""]
    table = "db:/etc/mail/aliases.db" if release.aliases_db else f"file:{ALIASES}"
    lines += [f"table aliases {table}"] + _domain_table(domains, virtual, back) + [""]
    lines += _listeners(target, pki) + [""]
    if back:
        via = f"relay via {conf_str(back.relay)}"
        if back.lists:  # a catch-all domain's own addresses first, delivered as the later
            for table, has, how in (  # rules for its kind of domain would deliver them
                    ("listdomains", domains, "alias <aliases> deliver to mbox"),
                    ("virtualdomains", virtual, "virtual <virtuals> deliver to mbox")):
                if set(has) & set(back.domains):
                    lines.append(f"accept from any for domain <{table}> recipient "
                                 f"<handbackkeep> {how}")
        lines += _handback_matches(domains, virtual, back, "accept from any", via,
                                   "recipient <{}>", None)
    if domains:
        lines.append("accept from any for domain <listdomains> alias <aliases> "
                     "deliver to mbox")
    if virtual:
        lines.append("accept from any for domain <virtualdomains> virtual <virtuals> "
                     "deliver to mbox")
    lines += ["accept for local alias <aliases> deliver to mbox",
              "accept from local for any relay" + (f" via {conf_str(relay)}" if relay else "")]
    return lines
