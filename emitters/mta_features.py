"""What the plan does about what the old MTA did beyond routing mail (the parser's
``Mta.features``: scanning, signing, blocklists, authentication, ...): one finding each, at the
line of the old configuration that turns it on, saying what OpenSMTPD on the new host does
instead, or that it does nothing."""

from __future__ import annotations

from migrate.core.model import Finding, Inventory, Severity, Target

from emitters.common import Emitted

#: By feature (model.FEATURES): how much its loss matters, and what to do on the new host.
ADVICE = {
    "content-scanning": (
        Severity.WARNING,
        "OpenSMTPD in base has no content scanning. To keep it, run rspamd with its ClamAV "
        "module behind filter-rspamd (both from packages); otherwise list mail is no longer "
        "scanned for viruses."),
    "spam-scanning": (
        Severity.WARNING,
        "OpenBSD's base spamd(8) does greylisting and blocklists, not content scoring. For "
        "scoring use filter-rspamd or filter-spamassassin (packages)."),
    "verify-callout": (
        Severity.INFO,
        "OpenSMTPD has no equivalent; it rejects unknown local recipients by itself. Drop this "
        "check on the new host."),
    "ratelimit": (
        Severity.WARNING,
        "There is no per-sender rate limit in OpenSMTPD; pf(4)'s max-src-conn-rate limits "
        "connections only."),
    "dnsbl": (
        Severity.WARNING,
        "OpenSMTPD has no DNSBL check; use spamd(8) with spamd-setup(8) blocklists or "
        "filter-dnsbl (packages)."),
    "dkim-signing": (
        Severity.WARNING,
        "Sign on the new host with filter-dkimsign or dkimproxy (packages), and copy the "
        "private key by hand: it is never read into the inventory."),
    "header-rewrite": (
        Severity.WARNING,
        "OpenSMTPD in base does not change headers; Mailman adds the list headers itself. "
        "Anything else needs a filter (packages) or is dropped."),
    "address-rewrite": (
        Severity.WARNING,
        "OpenSMTPD has no address rewriting; its relay can set the envelope sender only. Check "
        "that outgoing addresses are already right."),
    "user-filters": (
        Severity.WARNING,
        "OpenSMTPD delivers .forward files but runs no Exim filter or Sieve script; users of "
        "them need a delivery agent such as procmail or maildrop."),
    "authenticators": (
        Severity.INFO,
        "On the new host offer authenticated submission (port 587, TLS required) in "
        "smtpd.conf, backed by bsd_auth."),
    "queryprogram": (
        Severity.ERROR,
        "There is no equivalent in OpenSMTPD; find out what the program decides and move that "
        "decision elsewhere."),
    "router-condition": (
        Severity.WARNING,
        "OpenSMTPD matches rules on domains, senders and recipients only; work out what this "
        "condition does for mail that reaches the lists."),
}


def emit_mta_features(inv: Inventory, target: Target, release) -> Emitted:
    out = Emitted()
    for feature in inv.mta.features:
        severity, hint = ADVICE.get(feature.name, (
            Severity.WARNING, "Find out what it does for list mail, and do that on the new "
                              "host by hand."))
        detail = f": {feature.detail}" if feature.detail else ""
        out.findings.append(Finding(
            f"{inv.mta.kind or 'mta'}.{feature.name}", severity,
            f"{feature.what} is configured{detail}; the new host's OpenSMTPD will not do this",
            hint, feature.source))
    return out
