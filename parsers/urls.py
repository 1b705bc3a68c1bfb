"""The URL prefixes where the old host served Mailman's pages: its CGI (``listinfo``, ``admin``,
``private``...), its logos and its public archives (``Mailman.urls``).

Two parts of the old host say where they were, and they can disagree:

* what answered: Apache's ScriptAlias of Mailman's ``cgi-bin`` and its Aliases of the icons and
  of ``archives/public`` (``Web.script_alias``, ``Web.icons_alias``, ``Web.pipermail_alias``);
* what Mailman wrote into its pages and mail: mm_cfg.py's ``DEFAULT_URL_PATTERN``
  (``'https://%s/cgi-bin/mailman/'``), ``IMAGE_LOGOS`` (a path or a full URL) and
  ``PUBLIC_ARCHIVE_URL`` (``'https://%(hostname)s/pipermail/%(listname)s'``).

Each prefix is Apache's where it served one, else mm_cfg.py's, else Mailman's default. Where
mm_cfg.py gives another prefix than Apache served, the old pages linked to a path Apache did not
serve under that name: mm_cfg.py's goes into ``UrlPrefixes.also``, with a warning. The values
are the old host's: one that is not a plain absolute path (a control character, a space,
``..``, a query string, an unfilled ``%`` placeholder) is a warning and is not used.
"""

from __future__ import annotations

from migrate.core.model import (MAILMAN_ARCHIVE_PREFIX, MAILMAN_CGI_PREFIX, MAILMAN_ICONS_PREFIX,
                                MAX_URL_PREFIX, Finding, MailmanSettings, Severity, Source,
                                UrlPrefixes, Web, WebAlias, plain_url_prefix)
from migrate.core.text import visible

#: What each prefix serves, the mm_cfg.py setting that names it and Mailman's default.
KINDS = {
    "cgi": ("Mailman's CGI", "DEFAULT_URL_PATTERN", MAILMAN_CGI_PREFIX),
    "icons": ("Mailman's logos", "IMAGE_LOGOS", MAILMAN_ICONS_PREFIX),
    "archive": ("the public archives", "PUBLIC_ARCHIVE_URL", MAILMAN_ARCHIVE_PREFIX),
}
#: IMAGE_LOGOS values that turn the logos off (Defaults.py: "set to None or 0").
_NO_LOGOS = {"", "0", "False", "None"}


def url_prefixes(web: Web | None, settings: MailmanSettings | None
                 ) -> tuple[UrlPrefixes, list[Finding]]:
    """The old host's URL prefixes of Mailman's pages, with the findings on them."""
    urls = UrlPrefixes()
    findings: list[Finding] = []
    served = {"cgi": web.script_alias, "icons": web.icons_alias,
              "archive": web.pipermail_alias} if web is not None else {}
    for kind, (what, setting, default) in KINDS.items():
        apache = _served(served.get(kind), what, default, findings)
        given = _given(kind, settings, findings) if settings is not None else None
        chosen = apache or given
        if chosen is None:
            continue
        setattr(urls, kind, chosen[0])
        urls.sources[kind] = chosen[1]
        if apache is None or given is None or given[0] == apache[0]:
            continue
        urls.also[kind] = [given[0]]
        findings.append(Finding(
            "mailman.url-prefix-differs", Severity.WARNING,
            f"mm_cfg.py's {setting} puts {what} under {given[0]}, but Apache served them under "
            f"{apache[0]} ({apache[1]})",
            f"The old pages and mails linked to {given[0]}, a prefix Apache did not serve "
            f"under that name (a redirect or another virtual host may have answered it). The "
            f"plan keeps both answering: {apache[0]} as Apache served it, {given[0]} for the "
            "links Mailman wrote. Nothing to do unless one of them should go.", given[1]))
    return urls, findings


def _served(alias: WebAlias | None, what: str, default: str, findings: list[Finding]
            ) -> tuple[str, Source] | None:
    """Apache's prefix of an alias, normalised to start and end with ``/``."""
    if alias is None:
        return None
    path = alias.url_path + ("" if alias.url_path.endswith("/") else "/")
    source = alias.source or Source("/")
    if plain_url_prefix(path):
        return path, source
    findings.append(_bad(f"Apache's {alias.kind.value} of {what}", alias.url_path, default,
                         source))
    return None


def _given(kind: str, settings: MailmanSettings, findings: list[Finding]
           ) -> tuple[str, Source] | None:
    """mm_cfg.py's prefix of ``kind``, from its setting's URL or path."""
    what, setting, default = KINDS[kind]
    value = {"cgi": settings.default_url_pattern, "icons": settings.image_logos,
             "archive": settings.public_archive_url}[kind]
    if value is None or kind == "icons" and value.strip() in _NO_LOGOS:
        return None
    source = settings.sources.get(setting) or Source("/")
    path = _path(value)
    if kind == "archive" and "%(listname)s" in path:
        path = path[:path.index("%(listname)s")]  # the folder each list's archive is in
    elif path and not path.endswith("/"):
        path += "/"  # a folder (Defaults.py asks for the final "/"; a missing one is meant)
    if plain_url_prefix(path):
        return path, source
    findings.append(_bad(f"mm_cfg.py's {setting}", value, default, source))
    return None


def _path(value: str) -> str:
    """The path of a URL (``https://%s/cgi-bin/mailman/``: ``/cgi-bin/mailman/``) or of a
    path as it stands; "" for a URL without one."""
    if "://" in value:
        rest = value.split("://", 1)[1]
        return rest[rest.index("/"):] if "/" in rest else ""
    return value


def _bad(where: str, value: str, default: str, source: Source) -> Finding:
    shown = visible(value[:MAX_URL_PREFIX]) + ("..." if len(value) > MAX_URL_PREFIX else "")
    return Finding(
        "mailman.url-prefix-bad", Severity.WARNING,
        f"{where} \"{shown}\" does not give a plain absolute URL path; it is not used",
        "The prefix is taken from the next part of the host that names it, else it is "
        f"Mailman's default ({default}). Check the line on the old host: a space, a control "
        "character, '..', a query string or a '%' placeholder in it is a typo, or it is not "
        "where Mailman's pages were; fix it there and inspect again.", source)
