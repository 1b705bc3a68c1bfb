"""The URL prefixes of Mailman's pages on the old host (``Mailman.urls``, parsers/urls.py):
Apache's ScriptAlias and Aliases first, mm_cfg.py's DEFAULT_URL_PATTERN, IMAGE_LOGOS and
PUBLIC_ARCHIVE_URL next, Mailman's defaults last; mm_cfg.py's other prefix kept in ``also``
with a warning; bad values a warning and never used. Each sample's inventory, and a copy of
oakfield changed line by line through the whole inspection."""

from __future__ import annotations

import shutil

import pytest

from conftest import SAMPLE_HOSTS, SAMPLES
from migrate.app.inspection import inspect_tree
from migrate.app.sources import LocalTree
from migrate.core.model import (MAILMAN_ARCHIVE_PREFIX, MAILMAN_CGI_PREFIX, MAILMAN_ICONS_PREFIX,
                                MAX_URL_PREFIX, MailmanSettings, Origin, Severity, Source,
                                UrlPrefixes, Web, WebAlias, WebAliasKind)
from parsers.urls import url_prefixes

CONF = "/usr/local/etc/apache24/Includes/mailman.conf"
MM_CFG = "/usr/local/mailman/Mailman/mm_cfg.py"


def _web(cgi: str | None = None, icons: str | None = None, archive: str | None = None) -> Web:
    def alias(kind: WebAliasKind, path: str | None, target: str, line: int) -> WebAlias | None:
        return WebAlias(kind, path, target, source=Source(CONF, line)) if path else None
    return Web(kind="apache",
               script_alias=alias(WebAliasKind.SCRIPT_ALIAS, cgi, "/usr/local/mailman/cgi-bin/", 3),
               icons_alias=alias(WebAliasKind.ALIAS, icons, "/usr/local/mailman/icons/", 4),
               pipermail_alias=alias(WebAliasKind.ALIAS, archive,
                                     "/usr/local/mailman/archives/public/", 5))


def _settings(cgi: str | None = None, icons: str | None = None, archive: str | None = None
              ) -> MailmanSettings:
    settings = MailmanSettings(default_url_pattern=cgi, image_logos=icons,
                               public_archive_url=archive)
    for line, (name, value) in enumerate((("DEFAULT_URL_PATTERN", cgi), ("IMAGE_LOGOS", icons),
                                          ("PUBLIC_ARCHIVE_URL", archive)), start=30):
        if value is not None:
            settings.sources[name] = Source(MM_CFG, line)
    return settings


def _prefixes(urls: UrlPrefixes) -> tuple[str, str, str]:
    return urls.cgi, urls.icons, urls.archive


# --- the rules -----------------------------------------------------------------------------------


def test_apache_gives_the_prefixes_it_served():
    urls, findings = url_prefixes(_web("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/"),
                                  None)
    assert _prefixes(urls) == ("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/")
    assert urls.sources == {"cgi": Source(CONF, 3), "icons": Source(CONF, 4),
                            "archive": Source(CONF, 5)}
    assert (urls.also, findings) == ({}, [])


def test_apache_paths_are_normalised_to_end_with_a_slash():
    urls, findings = url_prefixes(_web("/lists", "/img/mm", "/archives"), None)
    assert _prefixes(urls) == ("/lists/", "/img/mm/", "/archives/")
    assert findings == []


def test_mm_cfg_gives_the_prefixes_where_apache_served_none():
    urls, findings = url_prefixes(None, _settings(
        "https://%s/cgi-bin/mailman/", "/images/mailman/",
        "https://%(hostname)s/pipermail/%(listname)s"))
    assert _prefixes(urls) == ("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/")
    assert urls.sources == {"cgi": Source(MM_CFG, 30), "icons": Source(MM_CFG, 31),
                            "archive": Source(MM_CFG, 32)}
    assert (urls.also, findings) == ({}, [])


def test_mm_cfg_fills_in_what_apache_does_not_map():
    """campus: Apache's /icons/ is its own folder, not Mailman's: IMAGE_LOGOS says where."""
    urls, findings = url_prefixes(_web("/mailman/", None, "/pipermail/"),
                                  _settings("https://%s/mailman/", "/mm-icons/", None))
    assert _prefixes(urls) == ("/mailman/", "/mm-icons/", "/pipermail/")
    assert (urls.sources["cgi"], urls.sources["icons"]) == (Source(CONF, 3), Source(MM_CFG, 31))
    assert findings == []


@pytest.mark.parametrize("value, prefix", [
    ("https://lists.example.org/images/mailman/", "/images/mailman/"),  # a full URL
    ("http://%s/images/mailman", "/images/mailman/"),
    ("/icons/", "/icons/"),
])
def test_image_logos_as_a_url_or_a_path(value, prefix):
    urls, findings = url_prefixes(None, _settings(icons=value))
    assert (urls.icons, findings) == (prefix, [])


@pytest.mark.parametrize("value", ["0", "False", "None", ""])
def test_image_logos_turned_off_keeps_the_default_quietly(value):
    urls, findings = url_prefixes(None, _settings(icons=value))
    assert (urls.icons, urls.sources, findings) == (MAILMAN_ICONS_PREFIX, {}, [])


@pytest.mark.parametrize("value, prefix", [
    ("https://%(hostname)s/pipermail/%(listname)s", "/pipermail/"),
    ("http://%(hostname)s/archives/lists/%(listname)s/", "/archives/lists/"),
    ("http://lists.example.org/pipermail", "/pipermail/"),  # no list name: the path itself
])
def test_public_archive_url_without_its_list_name(value, prefix):
    urls, findings = url_prefixes(None, _settings(archive=value))
    assert (urls.archive, findings) == (prefix, [])


def test_defaults_where_nothing_names_a_prefix():
    for web, settings in ((None, None), (Web(kind="apache"), MailmanSettings())):
        urls, findings = url_prefixes(web, settings)
        assert _prefixes(urls) == (MAILMAN_CGI_PREFIX, MAILMAN_ICONS_PREFIX,
                                   MAILMAN_ARCHIVE_PREFIX)
        assert (urls.sources, urls.also, findings) == ({}, {}, [])


def test_mm_cfg_prefix_other_than_apaches_is_kept_in_also_with_a_warning():
    urls, findings = url_prefixes(_web("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/"),
                                  _settings("http://%s/mailman/", "/images/mailman/",
                                            "http://%(hostname)s/archives/%(listname)s"))
    assert _prefixes(urls) == ("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/")
    assert urls.sources["cgi"] == Source(CONF, 3)
    assert urls.also == {"cgi": ["/mailman/"], "archive": ["/archives/"]}
    assert [(f.id, f.severity, f.source) for f in findings] == [
        ("mailman.url-prefix-differs", Severity.WARNING, Source(MM_CFG, 30)),
        ("mailman.url-prefix-differs", Severity.WARNING, Source(MM_CFG, 32))]
    cgi = findings[0]
    assert "DEFAULT_URL_PATTERN" in cgi.message and "/mailman/" in cgi.message
    assert "/cgi-bin/mailman/" in cgi.message
    assert "did not serve" in cgi.hint and "keeps both answering" in cgi.hint


BAD = [
    "http://%s/mail man/",  # a space
    "http://%s/mailman/\n/x/",  # a line break
    "http://%s/mail\x1bman/",  # a control character
    "http://%s/\u202emailman/",  # a bidirectional override
    "http://%s/../etc/",  # ..
    "http://%s/./mailman/",
    "http://%s/mailman/?x=1",  # a query string
    "http://%s/mailman/#top",
    "http://%s/%s/",  # an unfilled placeholder
    "http://%s/mail%20man/",
    "http://%s/mail*/",  # a glob
    "http://%s/$HOST/",
    "http://%s/it's/",
    "http://%s//mailman/",  # an empty segment
    "http://%s",  # no path at all
    "mailman/",  # not absolute
    "http://%s/" + "a/" * MAX_URL_PREFIX,  # longer than any prefix
]


@pytest.mark.parametrize("value", BAD)
def test_a_bad_mm_cfg_value_is_a_warning_and_the_default_is_kept(value):
    urls, findings = url_prefixes(None, _settings(value, value, value))
    assert _prefixes(urls) == (MAILMAN_CGI_PREFIX, MAILMAN_ICONS_PREFIX, MAILMAN_ARCHIVE_PREFIX)
    assert (urls.sources, urls.also) == ({}, {})
    assert [(f.id, f.severity, f.source) for f in findings] == [
        ("mailman.url-prefix-bad", Severity.WARNING, Source(MM_CFG, line)) for line in (30, 31, 32)]
    for f in findings:
        assert f.message.isprintable() and len(f.message) < 2 * MAX_URL_PREFIX + 200
        assert "Mailman's default" in f.hint


@pytest.mark.parametrize("path", ["/mail man/", "/mailman/\n", "/../mailman/", "/m?x/", "mailman/"])
def test_a_bad_apache_path_is_a_warning_and_mm_cfg_is_used(path):
    urls, findings = url_prefixes(_web(cgi=path), _settings("https://%s/cgi-bin/mailman/"))
    assert (urls.cgi, urls.sources["cgi"], urls.also) == (
        "/cgi-bin/mailman/", Source(MM_CFG, 30), {})
    assert [(f.id, f.source) for f in findings] == [("mailman.url-prefix-bad", Source(CONF, 3))]
    assert findings[0].message.isprintable()


# --- the samples and the inspection --------------------------------------------------------------

EXPECTED = {  # cgi, icons, archive; the file each was read from (None: Mailman's default)
    "netsight": (("/mailman/", "/icons/", "/pipermail/"), (CONF, CONF, CONF)),
    "small": (("/mailman/", "/icons/", "/pipermail/"), (MM_CFG, None, None)),
    "campus": (("/mailman/", "/icons/", "/pipermail/"),
               ("/usr/local/etc/apache22/Includes/mailman.conf", MM_CFG,
                "/usr/local/etc/apache22/Includes/mailman.conf")),
    "hillcrest": (("/mailman/", "/icons/", "/pipermail/"), (CONF, CONF, CONF)),
    "oakfield": (("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/"), (CONF, CONF, CONF)),
}


def test_every_sample_is_expected():
    assert tuple(sorted(EXPECTED)) == SAMPLE_HOSTS


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_each_samples_inventory_has_its_prefixes(host):
    inv = inspect_tree(LocalTree(SAMPLES / host), Origin("local", f"/samples/{host}"))
    prefixes, files = EXPECTED[host]
    urls = inv.mailman.urls
    assert _prefixes(urls) == prefixes
    assert [urls.sources[k].file if k in urls.sources else None
            for k in ("cgi", "icons", "archive")] == list(files)
    assert urls.also == {}
    assert not [f for f in inv.findings if f.id.startswith("mailman.url-prefix")]


def _oakfield_copy(tmp_path, mm_cfg_from: str, mm_cfg_to: str):
    root = tmp_path / "oakfield"
    shutil.copytree(SAMPLES / "oakfield", root, symlinks=True)
    cfg = root / MM_CFG.lstrip("/")
    text = cfg.read_text()
    assert mm_cfg_from in text
    cfg.write_text(text.replace(mm_cfg_from, mm_cfg_to))
    line = text[:text.index(mm_cfg_from)].count("\n") + 1
    return inspect_tree(LocalTree(root), Origin("local", "/samples/oakfield")), line


def test_inspection_keeps_mm_cfgs_other_prefix_beside_apaches(tmp_path):
    inv, line = _oakfield_copy(tmp_path, "IMAGE_LOGOS = '/images/mailman/'",
                               "IMAGE_LOGOS = 'https://lists.oakfield.example/icons/'")
    urls = inv.mailman.urls
    assert (urls.icons, urls.also) == ("/images/mailman/", {"icons": ["/icons/"]})
    (differs,) = [f for f in inv.findings if f.id == "mailman.url-prefix-differs"]
    assert differs.source == Source(MM_CFG, line)


def test_inspection_warns_of_a_bad_mm_cfg_prefix(tmp_path):
    inv, line = _oakfield_copy(
        tmp_path, "PUBLIC_ARCHIVE_URL = 'https://%(hostname)s/pipermail/%(listname)s'",
        "PUBLIC_ARCHIVE_URL = 'https://%(hostname)s/pipe\\nrmail/%(listname)s'")
    assert inv.mailman.urls.archive == "/pipermail/"  # Apache's, the line's value unused
    (bad,) = [f for f in inv.findings if f.id == "mailman.url-prefix-bad"]
    assert bad.source == Source(MM_CFG, line) and "\\n" in bad.message
