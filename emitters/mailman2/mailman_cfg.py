"""Mailman on the new host: what to append to the package's ``mm_cfg.py``, and the commands to
run once the lists are copied.

The OpenBSD package is configured for ``localhost.my.domain``, so the URL and email hosts,
one ``add_virtualhost`` per moved host pair, the public archive URL and the icon path are
written explicitly. ``MTA = None``: OpenSMTPD reads ``/etc/mail/aliases``, which the plan
writes; Mailman's Postfix mode would call ``postalias``, which OpenBSD does not have. Other
literal site settings of the old ``mm_cfg.py`` are carried over, each re-written from its
parsed value (so nothing from the old host reaches this Python file as code); settings that
name the old host's paths are left out with a finding.

After the copy (``mailman-after-copy.sh``): ``fix_url`` for every list (host_name and
web_page_url live inside each config.pck; saving a list also makes or removes its public
archive link, as ``archive_private`` says), owners, ``check_perms -f`` (groups and setgid bits
after rsync), then ``check_perms`` again, which must find no problem.

The wrapper check (``mailman-wrapper-check.sh``, one script that the runbook runs before the
old host stops taking mail, again before any mail is routed here, and in the verification):
smtpd runs an aliases file's pipes as its unprivileged user, ``_smtpd`` (aliases(5)), and
Mailman's mail wrapper runs only for a caller of the group it was compiled for (configure
``--with-mail-gid``: ``_smtpd`` in the package's smtpd flavour); any other caller gets
"Group mismatch error" (exit 2) and the post bounces. Mailman 2.1's ``src/mail-wrapper.c``
checks its arguments *before* the group (no arguments: a usage message, exit 5; an unknown
command: exit 6), and Debian's build skips the group check for a caller of gid below 100 such
as root: so the check runs the wrapper as the delivery user itself with the command ``post``
and no list. Past the group check, Mailman's ``scripts/post`` loads ``mm_cfg.py`` and stops
with "post script got no listname." (exit 1), queueing nothing (it never reads the message).
"""

from __future__ import annotations

import ast
import re

from migrate.core.model import Finding, Inventory, Severity, Target

from emitters.common import MTA_USER, Emitted, Stage, is_domain, list_names, overlay_hint

from emitters.mailman2.paths import MM_GROUP, MM_MAIL_GID, MM_PREFIX, MM_USER, MM_VAR
from emitters.guard import comment, py_literal, py_str, sh_word
from emitters.new_host import ListLocations, web_hosts, web_tls
from emitters.release import Release

MM_CFG = f"files/new{MM_PREFIX}/Mailman/mm_cfg.py.migrate"
AFTER_COPY = "files/new/root/mailman-after-copy.sh"
WRAPPER_CHECK = "files/new/root/mailman-wrapper-check.sh"
#: What Mailman's scripts/post says when the wrapper let the caller through and got no list.
POST_NO_LIST = "post script got no listname"
#: The variables the two scripts read from the environment, with the package's values as
#: defaults: another system's names (a test's, where OpenBSD cannot run) without editing them.
ENV_MTA_USER = "MIGRATE_MTA_USER"
ENV_MM_USER = "MIGRATE_MAILMAN_USER"
ENV_MM_GROUP = "MIGRATE_MAILMAN_GROUP"


def wrapper_check_command() -> str:
    """The runbook's command for the wrapper check (one definition for every step using it)."""
    return f'sh "$PLAN/{WRAPPER_CHECK}"'

#: Settings this emitter writes itself, or that must not move as they are.
_OWN = {"MTA", "DEFAULT_URL_HOST", "DEFAULT_EMAIL_HOST", "DEFAULT_URL_PATTERN",
        "PUBLIC_ARCHIVE_URL", "IMAGE_LOGOS", "VIRTUAL_HOSTS", "POSTFIX_STYLE_VIRTUAL_DOMAINS",
        "MAILMAN_SITE_LIST", "DEFAULT_SERVER_LANGUAGE"}
_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}\Z")


def emit_mailman(inv: Inventory, target: Target, release: Release,
                 lists: ListLocations) -> Emitted:
    """``lists``: where httpd serves the pages (their prefixes go into the URL settings, so
    the pages Mailman writes link to them)."""
    out = Emitted()
    settings = inv.mailman.settings if inv.mailman else None
    scheme = "https" if web_tls(target) else "http"
    hosts = [h for h in web_hosts(inv, target) if is_domain(h)]
    url_host = hosts[0] if hosts else target.hostname
    email_hosts = [d for d in target.email_domains if is_domain(d)]
    email_host = (settings.default_email_host if settings and settings.default_email_host
                  in email_hosts else (email_hosts[0] if email_hosts else target.hostname))
    lines = [
        f"# Appended to {MM_PREFIX}/Mailman/mm_cfg.py on {target.hostname} "
        f"(OpenBSD {release}) by migrate,",
        f"# from the settings of "
        f"{comment(inv.mailman.config_file or 'mm_cfg.py') if inv.mailman else 'mm_cfg.py'} "
        f"on {comment(inv.host.hostname or 'the old host')}.",
        "",
        "MTA = None  # OpenSMTPD reads /etc/mail/aliases (written by the plan)",
        f"DEFAULT_URL_HOST = {py_str(url_host)}",
        f"DEFAULT_EMAIL_HOST = {py_str(email_host)}",
        f"DEFAULT_URL_PATTERN = {py_str(scheme + '://%s' + lists.cgi.prefix)}",
        "PUBLIC_ARCHIVE_URL = "
        f"{py_str(scheme + '://%(hostname)s' + lists.archive.prefix + '%(listname)s')}",
        f"IMAGE_LOGOS = {py_str(lists.icons.prefix)}",
        "# Defaults.py mapped the package's localhost.my.domain already: start afresh",
        "VIRTUAL_HOSTS.clear()",
        "add_virtualhost(DEFAULT_URL_HOST, DEFAULT_EMAIL_HOST)",
    ]
    pairs = [(vh.url_host, vh.email_host) for vh in (settings.virtual_hosts if settings else [])]
    for url, mail in pairs:
        if (url, mail) == (url_host, email_host) or mail not in email_hosts:
            continue
        if is_domain(url) and is_domain(mail):
            lines.append(f"add_virtualhost({py_str(url)}, {py_str(mail)})")
    if settings and settings.site_list and re.fullmatch(r"[a-z0-9][-+_.=a-z0-9]*",
                                                        settings.site_list):
        lines.append(f"MAILMAN_SITE_LIST = {py_str(settings.site_list)}")
    if settings and settings.server_language and re.fullmatch(r"[a-zA-Z_]{2,10}",
                                                              settings.server_language):
        lines.append(f"DEFAULT_SERVER_LANGUAGE = {py_str(settings.server_language)}")
    carried = _carried(settings, inv, out)
    if carried:
        lines += ["", "# Carried over from the old mm_cfg.py:"] + carried
    out.files[MM_CFG] = "\n".join(lines) + "\n"
    out.install(MM_CFG, f"{MM_PREFIX}/Mailman/mm_cfg.py", marker="mm_cfg", stage=Stage.FRAGMENT)
    out.files[AFTER_COPY] = _after_copy(inv, target, url_host, hosts)
    out.files[WRAPPER_CHECK] = _wrapper_check(target)
    return out


def _carried(settings, inv: Inventory, out: Emitted) -> list[str]:
    lines = []
    old_prefixes = {p for p in (inv.mailman.prefix, inv.mailman.var_prefix) if p} \
        if inv.mailman else set()
    for name, text in sorted((settings.other if settings else {}).items()):
        source = settings.sources.get(name)
        if name in _OWN or not _NAME.match(name) or text == "<hidden>":
            continue
        try:
            value = ast.literal_eval(text)
            literal = py_literal(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out.findings.append(Finding(
                "plan.mm-cfg-not-literal", Severity.WARNING,
                f"mm_cfg.py setting {name} is not carried over: its value is not a literal",
                f"Set {name} {overlay_hint(MM_CFG)} if it is still needed.", source))
            continue
        if any(p in repr(value) for p in old_prefixes):
            out.findings.append(Finding(
                "plan.mm-cfg-old-path", Severity.WARNING,
                f"mm_cfg.py setting {name} names a path of the old host "
                f"({comment(repr(value))}); it is not carried over",
                f"Paths differ on OpenBSD (code in {MM_PREFIX}, data in /var/spool/mailman): "
                f"set {name} {overlay_hint(MM_CFG)} if it is still needed.", source))
            continue
        lines.append(f"{name} = {literal}")
    return lines


def list_url_host(web_page_url: str | None, hosts: list[str], default: str) -> str:
    """The web host a list keeps: its current one when that host moves, else the default."""
    m = re.match(r"[a-z]+://([^/:]+)", web_page_url or "")
    host = m.group(1).lower() if m else None
    return host if host in hosts else default


def _wrapper_check(target: Target) -> str:
    q = sh_word
    return "\n".join([
        "#!/bin/sh",
        f"# Run as root on {target.hostname}: does Mailman's mail wrapper take what smtpd",
        "# delivers? smtpd runs the aliases' pipes as its unprivileged user "
        f"({MTA_USER}, aliases(5));",
        "# the wrapper refuses a caller of any group but the one it was built for (the smtpd",
        f"# flavour of the mailman package: {MM_MAIL_GID}) with \"Group mismatch error\", and "
        "every",
        "# post would bounce. So the wrapper runs here as that user, as smtpd runs it, with the",
        "# command post and no list: past the group check, Mailman's post script loads",
        f"# mm_cfg.py and stops with \"{POST_NO_LIST}.\" (exit 1). Nothing is queued",
        "# (the message is never read; Mailman notes the call in logs/error).",
        "# Anything else fails this check and prints what Mailman said.",
        f"# {ENV_MTA_USER} names another delivery user (default {MTA_USER}).",
        "set -u",
        f"MM={MM_PREFIX}",
        f"user=${{{ENV_MTA_USER}:-{MTA_USER}}}",
        "if out=$(su -s /bin/sh \"$user\" -c \"$MM/mail/mailman post\" </dev/null 2>&1); "
        "then rc=0; else rc=$?; fi",
        f"if [ \"$rc\" -eq 1 ] && printf '%s\\n' \"$out\" | grep -q {q(POST_NO_LIST)}; then",
        "    echo \"mail wrapper: a delivery by $user passes the group check\"",
        "    exit 0",
        "fi",
        "# Mailman's whole answer, then its first line again last (where a shortened",
        "# report still shows it)",
        "printf '%s\\n' \"$out\" >&2",
        "echo \"mail wrapper: a delivery by $user does not reach Mailman (exit $rc): "
        "$(printf '%s\\n' \"$out\" | head -n 1)\" >&2",
        "exit 1",
    ]) + "\n"


def _after_copy(inv: Inventory, target: Target, url_host: str, hosts: list[str]) -> str:
    names, _ = list_names(inv)  # unsafe names were reported by the aliases emitter
    urls = {ml.name: ml.web_page_url for ml in inv.lists}
    q = sh_word
    lines = [
        "#!/bin/sh",
        f"# Run as root on {target.hostname} after the lists and archives are copied.",
        f"# {ENV_MM_USER} and {ENV_MM_GROUP} name another owner of the lists "
        f"(default {MM_USER}:{MM_GROUP}).",
        "set -eu",
        f"MM={MM_PREFIX}",
        f"user=${{{ENV_MM_USER}:-{MM_USER}}}",
        f"group=${{{ENV_MM_GROUP}:-{MM_GROUP}}}",
        "# Mailman's tools in English, whatever the locale (their output is checked below)",
        "LC_ALL=C LANGUAGE=C",
        "export LC_ALL LANGUAGE",
        "",
        "# host_name and web_page_url are stored in each list's config.pck. Loading a list",
        "# upgrades it (data_version); saving it makes its public archive link",
        "# (archives/public/NAME) or removes it, as the list's archive_private says.",
    ]
    for name in names:
        host = list_url_host(urls.get(name), hosts, url_host)
        lines.append(f"\"$MM/bin/withlist\" -l -r fix_url {q(name)} -u {q(host)}")
    lines += [
        "",
        f"chown -R \"$user:$group\" {MM_VAR}/lists {MM_VAR}/archives",
        "\"$MM/bin/check_perms\" -f >/dev/null",
        "# Every list loads as Mailman's user; check_perms (which exits 0 either way) must",
        "# find nothing left to fix.",
        "su -s /bin/sh \"$user\" -c \"$MM/bin/list_lists\" >/dev/null",
        "perms=$(\"$MM/bin/check_perms\")",
        "case $perms in",
        "*'No problems found'*) ;;",
        "*) printf '%s\\n' \"$perms\" >&2; echo 'check_perms still finds problems' >&2; "
        "exit 1 ;;",
        "esac",
    ]
    return "\n".join(lines) + "\n"
