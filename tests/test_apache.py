"""The Apache reader: the sample hosts, hand-written configs, bad input, the real Apache as an
oracle, and a mutation fuzz over the netsight sample's files.

The oracle tests run Debian's ``apache2 -t`` on each config (adapted by ``apachetools.debianize``
to Debian's module paths and a temp folder) and compare what Apache reports (``-D DUMP_VHOSTS``,
``-D DUMP_INCLUDES``) with what ``parse_apache`` reads from the same adapted files.
"""

from __future__ import annotations

import random
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from apachetools import apache_binary, debianize, dump_includes, dump_vhosts, run
from conftest import SAMPLES
from migrate.core.model import Finding, Severity, Source, WebAlias, WebAliasKind
from parsers.apache import ApacheResult, logical_lines, parse_apache, split_words
from migrate.app.sources import LocalTree

NETSIGHT = SAMPLES / "netsight"
HTTPD = "/usr/local/etc/apache24/httpd.conf"
MAILMAN_CONF = "/usr/local/etc/apache24/Includes/mailman.conf"


def _parse(tree_factory, files: dict[str, str | bytes], prefix: str | None = None,
           name: str = "host") -> ApacheResult:
    return parse_apache(LocalTree(tree_factory(files, name=name)), prefix)


def _by_id(result: ApacheResult, fid: str) -> list[Finding]:
    return [f for f in result.findings if f.id == fid]


# --- the sample hosts ------------------------------------------------------------------------------


def test_netsight_sample():
    res = parse_apache(LocalTree(NETSIGHT), "/usr/local/mailman")
    web = res.web
    assert web is not None
    assert (web.kind, web.version, web.server_root) == ("apache", "2.4", "/usr/local")
    assert web.server_name == "mail.netsight.example"  # "mail.netsight.example:80"
    assert web.listen == ["80", "443"]
    assert [f.path for f in res.files] == [HTTPD, MAILMAN_CONF]
    assert all(f.role == "apache" and len(f.sha256) == 64 for f in res.files)
    assert web.config_files == res.files

    assert web.script_alias == WebAlias("script_alias", "/mailman/", "/usr/local/mailman/cgi-bin/",
                                        source=Source(MAILMAN_CONF, 3))
    assert web.pipermail_alias == WebAlias("alias", "/pipermail/",
                                           "/usr/local/mailman/archives/public/",
                                           source=Source(MAILMAN_CONF, 4))
    assert web.icons_alias == WebAlias("alias", "/icons/", "/usr/local/mailman/icons/",
                                       source=Source(MAILMAN_CONF, 5))
    dirs = {d.path: (d.options, d.source) for d in web.directories}
    assert dirs == {
        "/usr/local/mailman/cgi-bin/": (["ExecCGI"], Source(MAILMAN_CONF, 7)),
        "/usr/local/mailman/archives/public/": (["FollowSymLinks", "MultiViews"],
                                                Source(MAILMAN_CONF, 13)),
        "/usr/local/mailman/icons/": (["None"], Source(MAILMAN_CONF, 20)),
    }  # Apache's own DocumentRoot folder (FollowSymLinks too) is not Mailman's

    vhosts = [(v.server_name, v.server_aliases, v.listen, v.tls, v.source.line)
              for v in web.virtual_hosts]
    assert vhosts == [
        ("lists.netsight.example", ["www.lists.netsight.example"], ["*:80"], False, 25),
        ("lists.riverbend.example", [], ["*:80"], False, 34),
        ("lists.netsight.example", ["www.lists.netsight.example"], ["*:443"], True, 41),
    ]
    tls = web.virtual_hosts[2]
    assert tls.certificate == "/usr/local/etc/ssl/lists.netsight.example.crt"
    assert tls.private_key == "/usr/local/etc/ssl/private/lists.netsight.example.key"
    assert tls.certificate_chain is None
    assert all(v.source.file == MAILMAN_CONF for v in web.virtual_hosts)
    assert web.redirects == []  # the main server has none; each vhost has its own

    for vhost, line in zip(web.virtual_hosts, (30, 38, 48)):
        assert vhost.aliases == [WebAlias(
            "redirect_match", "^/$", "/mailman/listinfo", None,
            "RedirectMatch ^/$ /mailman/listinfo", Source(MAILMAN_CONF, line), code=302)]
        assert vhost.aliases[0].kind is WebAliasKind.REDIRECT_MATCH
    # the reader records what the old host has; what the new one makes of it is the plan's
    assert res.findings == []


def test_oakfield_sample_keeps_the_https_redirect_of_port_80():
    """The guides' layout: Mailman under /cgi-bin/mailman/ and /images/mailman/; the :80 virtual
    host sends the whole site to https with a Redirect that names none of Mailman's URLs."""
    res = parse_apache(LocalTree(SAMPLES / "oakfield"))
    web = res.web
    assert (web.script_alias.url_path, web.icons_alias.url_path, web.pipermail_alias.url_path) \
        == ("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/")
    plain, tls = web.virtual_hosts
    assert (plain.listen, tls.listen, tls.tls) == (["*:80"], ["*:443"], True)
    assert [(a.kind, a.url_path, a.target, a.status, a.code, a.source) for a in plain.aliases] \
        == [(WebAliasKind.REDIRECT, "/", "https://lists.oakfield.example/", "permanent", 301,
             Source(MAILMAN_CONF, 32))]
    assert [(a.kind, a.url_path, a.target, a.code) for a in tls.aliases] == [
        (WebAliasKind.REDIRECT_MATCH, "^/$", "/cgi-bin/mailman/listinfo", 301)]
    assert res.findings == []


def test_netsight_prefix_is_detected_from_the_script_alias():
    detected = parse_apache(LocalTree(NETSIGHT))
    given = parse_apache(LocalTree(NETSIGHT), "/usr/local/mailman/")
    assert detected.web == given.web
    assert len(detected.web.directories) == 3


def test_small_sample_has_no_apache():
    assert not (SAMPLES / "small" / "usr/local/etc/apache24").exists()
    res = parse_apache(LocalTree(SAMPLES / "small"))
    assert res == ApacheResult(None, [], [])


# --- hand-written configs (also given to the real Apache below) -------------------------------------

APACHE22 = {
    "/usr/local/etc/apache22/httpd.conf": """\
# Apache 2.2, as the FreeBSD port www/apache22 left it
ServerRoot "/usr/local"
Listen 80
Listen 0.0.0.0:8080 http
LoadModule authz_host_module libexec/apache22/mod_authz_host.so
LoadModule alias_module libexec/apache22/mod_alias.so
LoadModule cgi_module libexec/apache22/mod_cgi.so
User www
Group www
ServerName lists.oldclub.example
DocumentRoot "/usr/local/www/apache22/data"
<Directory />
    Order deny,allow
    Deny from all
</Directory>
NameVirtualHost *:80
ScriptAlias /mailman/ "/usr/local/mailman/cgi-bin/"
Alias /pipermail/ /usr/local/mailman/archives/public/
<Directory "/usr/local/mailman/archives/public">
    Options Indexes
    Options +FollowSymLinks
    Order allow,deny
    Allow from all
</Directory>
<VirtualHost *:80>
    ServerName lists.oldclub.example
    RedirectPermanent /lists http://lists.oldclub.example/mailman/listinfo
</VirtualHost>
<VirtualHost *:80>
    ServerName www.oldclub.example
    Redirect / http://lists.oldclub.example/mailman/listinfo/
</VirtualHost>
""",
}

GLOBS = {
    "/usr/local/etc/apache24/httpd.conf": """\
ServerRoot "/usr/local"
Listen 80
LoadModule mpm_event_module libexec/apache24/mod_mpm_event.so
LoadModule authz_core_module libexec/apache24/mod_authz_core.so
LoadModule alias_module libexec/apache24/mod_alias.so
ServerName www.glob.example
Include etc/apache24/modules.d/[0-9]*.conf
IncludeOptional etc/apache24/Includes/*.conf
IncludeOptional etc/apache24/nonexistent/*.conf
IncludeOptional etc/apache24/missing.conf
Include etc/apache24/extra/
""",
    "/usr/local/etc/apache24/modules.d/001_mod_cgi.conf":
        "LoadModule cgi_module libexec/apache24/mod_cgi.so\n",
    "/usr/local/etc/apache24/modules.d/README_modules.d": "Not a config file.\n",
    "/usr/local/etc/apache24/Includes/20-lists.conf": """\
<VirtualHost *:80>
    ServerName lists.glob.example
    ScriptAlias /mailman/ /usr/local/mailman/cgi-bin/
</VirtualHost>
""",
    "/usr/local/etc/apache24/Includes/10-archive.conf": """\
<VirtualHost *:80>
    ServerName archive.glob.example
    ServerAlias pipermail.glob.example
    Alias /pipermail/ /usr/local/mailman/archives/public/
</VirtualHost>
""",
    "/usr/local/etc/apache24/Includes/.hidden.conf": "BogusDirective never read\n",
    "/usr/local/etc/apache24/Includes/old.conf.sample": "BogusDirective never read\n",
    "/usr/local/etc/apache24/extra/b.conf": "<Directory /usr/local/mailman/cgi-bin>\n"
                                            "    Options ExecCGI\n</Directory>\n",
    "/usr/local/etc/apache24/extra/a/z.conf": "ServerAdmin www@glob.example\n",
}

CONTINUATION = {
    "/usr/local/etc/apache24/httpd.conf": """\
ServerRoot "/usr/local"
Listen 80
LoadModule mpm_prefork_module libexec/apache24/mod_mpm_prefork.so
LoadModule authz_core_module libexec/apache24/mod_authz_core.so
LoadModule alias_module libexec/apache24/mod_alias.so
# switched off together with the next line: \\
BogusDirective swallowed by the comment above
ServerName   cont.example
<VirtualHost *:80>
    ServerName lists.cont.example
    ServerAlias www.lists.cont.example \\
                lists2.cont.example \\
        lists3.cont.example
    serveralias "quoted.cont.example" 'single.cont.example'
    ScriptAlias /mailman/ \\
        "/usr/local/mailman/cgi-bin/"
</VIRTUALHOST>
<VirtualHost *:80>
    DocumentRoot /usr/local/www/apache24/data
</VirtualHost>
""",
}

IPV6 = {
    "/usr/local/etc/apache24/httpd.conf": """\
ServerRoot "/usr/local"
Listen 80
Listen [2001:db8::25]:443
Listen 192.0.2.25:443
LoadModule mpm_prefork_module libexec/apache24/mod_mpm_prefork.so
LoadModule authz_core_module libexec/apache24/mod_authz_core.so
LoadModule alias_module libexec/apache24/mod_alias.so
LoadModule ssl_module libexec/apache24/mod_ssl.so
LoadModule socache_shmcb_module libexec/apache24/mod_socache_shmcb.so
LoadModule rewrite_module libexec/apache24/mod_rewrite.so
ServerName v6.example:80
<VirtualHost [2001:db8::25]:443 192.0.2.25:443>
    ServerName lists.v6.example
    ServerAlias lists6.v6.example
    SSLEngine On
    SSLCertificateFile /usr/local/etc/ssl/lists.v6.example.crt
    SSLCertificateKeyFile "/usr/local/etc/ssl/private/lists.v6.example.key"
    SSLCertificateChainFile /usr/local/etc/ssl/chain.pem
    RewriteEngine on
    RewriteRule ^/pipermail/(.*)$ https://archive.v6.example/pipermail/$1 [R=301,L]
    RewriteCond %{HTTP_HOST} !^lists\\.v6\\.example$ [NC]
    RewriteRule ^/mailman/(.*)$ https://lists.v6.example/mailman/$1 [R,L]
    RewriteRule ^/lists/?$ /mailman/listinfo [PT]
    RewriteRule ^/archives/(.*)$ /pipermail/$1 [L]
</VirtualHost>
<VirtualHost _default_:80>
    ServerName fallback.v6.example
    Redirect permanent /mailman https://lists.v6.example/mailman
</VirtualHost>
""",
}

ORACLE_CONFIGS = {
    "apache22": (APACHE22, "/usr/local/etc/apache22/httpd.conf"),
    "globs": (GLOBS, HTTPD),
    "continuation": (CONTINUATION, HTTPD),
    "ipv6-tls-rewrite": (IPV6, HTTPD),
}


def test_apache22_style(tree_factory):
    res = _parse(tree_factory, APACHE22)
    web = res.web
    assert (web.version, web.listen) == ("2.2", ["80", "0.0.0.0:8080 http"])
    assert web.script_alias.target == "/usr/local/mailman/cgi-bin/"
    assert web.pipermail_alias.target == "/usr/local/mailman/archives/public/"
    assert web.icons_alias is None
    assert [(d.path, d.options) for d in web.directories] == [
        ("/usr/local/mailman/archives/public", ["Indexes", "+FollowSymLinks"])]
    main, www = web.virtual_hosts
    assert main.aliases[0].kind == "redirect" and main.aliases[0].status == "permanent"
    assert (main.aliases[0].code, main.aliases[0].section) == (301, None)
    assert (www.aliases[0].url_path, www.aliases[0].status, www.aliases[0].code) == \
        ("/", None, 302)
    assert www.aliases[0].target == "http://lists.oldclub.example/mailman/listinfo/"
    assert res.findings == []


def test_version_from_syntax_when_the_folder_does_not_say(tree_factory):
    conf = "/usr/local/etc/apache2/httpd.conf"
    assert _parse(tree_factory, {conf: "Require all granted\n"}, name="a").web.version == "2.4"
    assert _parse(tree_factory, {conf: "Order allow,deny\n"}, name="b").web.version == "2.2"
    assert _parse(tree_factory, {conf: "Listen 80\n"}, name="c").web.version is None


def test_includes_globs_and_folders(tree_factory):
    res = _parse(tree_factory, GLOBS)
    etc = "/usr/local/etc/apache24"
    assert [f.path for f in res.files] == [
        f"{etc}/httpd.conf", f"{etc}/modules.d/001_mod_cgi.conf",
        f"{etc}/Includes/10-archive.conf", f"{etc}/Includes/20-lists.conf",
        f"{etc}/extra/a/z.conf", f"{etc}/extra/b.conf"]
    assert res.findings == []  # IncludeOptional finds nothing silently
    web = res.web
    assert [v.server_name for v in web.virtual_hosts] == ["archive.glob.example",
                                                          "lists.glob.example"]
    assert web.script_alias.source == Source(f"{etc}/Includes/20-lists.conf", 3)
    assert web.virtual_hosts[1].aliases == [web.script_alias]
    assert web.virtual_hosts[0].aliases == [web.pipermail_alias]
    assert [(d.path, d.options) for d in web.directories] == [
        ("/usr/local/mailman/cgi-bin", ["ExecCGI"])]


def test_continuation_lines_and_quotes(tree_factory):
    res = _parse(tree_factory, CONTINUATION)
    assert res.findings == []
    web = res.web
    assert web.server_name == "cont.example"
    vhost, nameless = web.virtual_hosts
    assert (nameless.server_name, nameless.source) == (None, Source(HTTPD, 18))
    assert vhost.server_aliases == ["www.lists.cont.example", "lists2.cont.example",
                                    "lists3.cont.example", "quoted.cont.example",
                                    "single.cont.example"]
    assert web.script_alias == WebAlias("script_alias", "/mailman/",
                                        "/usr/local/mailman/cgi-bin/", source=Source(HTTPD, 15))


def test_ipv6_tls_and_rewrites(tree_factory):
    res = _parse(tree_factory, IPV6)
    web = res.web
    lists, fallback = web.virtual_hosts
    assert lists.listen == ["[2001:db8::25]:443", "192.0.2.25:443"]
    assert (lists.tls, lists.certificate, lists.private_key, lists.certificate_chain) == (
        True, "/usr/local/etc/ssl/lists.v6.example.crt",
        "/usr/local/etc/ssl/private/lists.v6.example.key", "/usr/local/etc/ssl/chain.pem")
    assert (fallback.listen, fallback.tls) == (["_default_:80"], False)
    rules = [(a.kind, a.url_path, a.target, a.status) for a in lists.aliases]
    assert rules == [
        ("rewrite_rule", "^/pipermail/(.*)$", "https://archive.v6.example/pipermail/$1",
         "[R=301,L]"),
        ("rewrite_rule", "^/mailman/(.*)$", "https://lists.v6.example/mailman/$1", "[R,L]"),
        ("rewrite_rule", "^/lists/?$", "/mailman/listinfo", "[PT]"),
        ("rewrite_rule", "^/archives/(.*)$", "/pipermail/$1", "[L]"),
    ]
    assert lists.aliases[0].line == \
        "RewriteRule ^/pipermail/(.*)$ https://archive.v6.example/pipermail/$1 [R=301,L]"
    facts = [(a.code, a.flags, a.conditions, a.section, a.enabled) for a in lists.aliases]
    assert facts == [
        (301, ["r=301", "l"], [], None, True),
        (302, ["r", "l"], ["RewriteCond %{HTTP_HOST} !^lists\\.v6\\.example$ [NC]"], None, True),
        (None, ["pt"], [], None, True),
        (None, ["l"], [], None, True),
    ]
    assert all(a.source.file == HTTPD for a in lists.aliases)
    assert [a.source.line for a in lists.aliases] == [20, 22, 23, 24]
    assert fallback.aliases[0].status == "permanent" and fallback.aliases[0].code == 301
    assert fallback.aliases[0].source == Source(HTTPD, 28)
    assert res.findings == []  # no finding names a target: the plan decides what carries


def test_main_server_redirects_and_rewrite_engine_off(tree_factory):
    res = _parse(tree_factory, {HTTPD: textwrap.dedent("""\
        RedirectMatch 301 ^/lists/([a-z-]+)$ /mailman/listinfo/$1
        RedirectMatch ^/(foo|bar)$ /mailman/
        Redirect gone /pipermail/old/
        RewriteRule ^/$ /mailman/listinfo
        Redirect /elsewhere http://example.org/
        """)})
    web = res.web
    assert [(r.kind, r.status, r.code) for r in web.redirects] == [
        ("redirect_match", "301", 301), ("redirect_match", None, 302), ("redirect", "gone", 410),
        ("rewrite_rule", None, None)]
    assert [r.enabled for r in web.redirects] == [True] * 3 + [False]
    (off,) = res.findings
    assert (off.id, off.severity, off.source) == ("apache.rewrite-off", Severity.INFO,
                                                  Source(HTTPD, 4))
    assert "RewriteEngine is not on" in off.message and "Apache ignores" in off.hint


COVERING = """\
ScriptAlias /cgi-bin/mailman/ "/usr/local/mailman/cgi-bin/"
Alias /images/mailman/ "/usr/local/mailman/icons/"
Alias /pipermail/ "/usr/local/mailman/archives/public/"
<VirtualHost *:80>
    ServerName lists.example.org
    Redirect permanent / https://lists.example.org/
</VirtualHost>
<VirtualHost *:8080>
    ServerName lists.example.org
    Redirect seeother /cgi-bin/ https://lists.example.org/cgi-bin/
    Redirect gone /images
    Redirect 307 /pipermail/old/ https://archive.example.org/
    RedirectTemp /elsewhere http://example.org/
    Redirect temp /cgi-binary/ http://example.org/
</VirtualHost>
<VirtualHost *:8081>
    ServerName lists.example.org
    RedirectMatch ^/$ https://www.example.org/
    RedirectMatch 301 ^/cgi-bin/(.*)$ https://lists.example.org/new/$1
    RedirectMatch temp ^/(foo|bar)$ http://example.org/
    RedirectMatch ^/image https://example.org/img
    RedirectMatch permanent ^/(a+)+$ http://example.org/
</VirtualHost>
"""


def test_redirects_that_cover_mailmans_urls_are_kept_in_every_virtual_host(tree_factory):
    """A Redirect of the site root, or of a folder above or below a path mapped to Mailman,
    takes Mailman's pages though it names none of them; any other is not Mailman's."""
    res = _parse(tree_factory, {HTTPD: COVERING})
    root, folders, patterns = res.web.virtual_hosts
    assert [(a.kind, a.url_path, a.status, a.code) for a in root.aliases] == [
        (WebAliasKind.REDIRECT, "/", "permanent", 301)]
    assert [(a.url_path, a.target, a.status, a.code) for a in folders.aliases] == [
        ("/cgi-bin/", "https://lists.example.org/cgi-bin/", "seeother", 303),
        ("/images", "", "gone", 410),
        ("/pipermail/old/", "https://archive.example.org/", "307", 307)]
    assert [(a.kind, a.url_path, a.code) for a in patterns.aliases] == [
        (WebAliasKind.REDIRECT_MATCH, "^/$", 302),
        (WebAliasKind.REDIRECT_MATCH, "^/cgi-bin/(.*)$", 301),
        (WebAliasKind.REDIRECT_MATCH, "^/image", 302)]
    assert res.web.redirects == [] and res.findings == []


def test_a_root_redirect_is_kept_where_apache_maps_no_mailman_url(tree_factory):
    res = _parse(tree_factory, {HTTPD: "Redirect permanent / https://lists.example.org/\n"
                                       "Redirect /cgi-bin/ http://example.org/\n"
                                       "RedirectMatch ( http://example.org/\n"})
    assert [(a.url_path, a.code) for a in res.web.redirects] == [("/", 301)]


def test_redirect_sections_and_odd_status(tree_factory):
    res = _parse(tree_factory, {HTTPD: textwrap.dedent("""\
        <Location /lists>
            Redirect permanent http://lists.example.org/mailman/listinfo
        </Location>
        <Directory /usr/local/mailman/archives>
            RewriteEngine on
            RewriteRule ^old/(.*)$ /pipermail/$1 [R]
        </Directory>
        Redirect 3011 /mailman http://example.org/
        """)})
    loc, rule, odd = res.web.redirects
    assert (loc.url_path, loc.section, loc.code) == ("/lists", None, 301)
    assert (rule.section, rule.code) == ("<Directory /usr/local/mailman/archives>", 302)
    assert odd.code is None
    (status,) = [f for f in res.findings if f.id == "apache.redirect-status"]
    assert status.source == Source(HTTPD, 8) and "three-digit" in status.hint


def test_other_prefix_and_debian_like_script_alias(tree_factory):
    res = _parse(tree_factory, {"/etc/apache2/apache2.conf": textwrap.dedent("""\
        ScriptAlias /cgi-bin/ /usr/lib/cgi-bin/
        ScriptAlias /lists/ /srv/mailman/cgi-bin/
        Alias /pipermail/ /var/lib/mailman/archives/public/
        Alias /icons/ /usr/share/apache2/icons/
        Alias /mmicons/ /srv/mailman/icons
        <Directory /srv/mailman/cgi-bin/>
            Options ExecCGI
        </Directory>
        <Directory /usr/lib/cgi-bin>
            Options ExecCGI
        </Directory>
        """)})
    web = res.web
    assert web.server_root == "/etc/apache2"
    assert web.script_alias.url_path == "/lists/"  # its target is under the detected prefix
    assert web.pipermail_alias.target == "/var/lib/mailman/archives/public/"
    assert web.icons_alias.url_path == "/mmicons/"
    assert [d.path for d in web.directories] == ["/srv/mailman/cgi-bin/"]


def test_differing_mailman_aliases_are_reported(tree_factory):
    res = _parse(tree_factory, {HTTPD: textwrap.dedent("""\
        <VirtualHost *:80>
        ScriptAlias /mailman/ /usr/local/mailman/cgi-bin/
        </VirtualHost>
        ScriptAlias /mailman/ /usr/local/mailman-old/cgi-bin/
        """)}, prefix="/usr/local/mailman")
    assert res.web.script_alias.source.line == 4  # the main server's, which every vhost inherits
    (differs,) = _by_id(res, "apache.alias-differs")
    assert differs.source == Source(HTTPD, 2)


def test_define_and_macro(tree_factory):
    res = _parse(tree_factory, {HTTPD: textwrap.dedent("""\
        Define MM /usr/local/mailman
        ScriptAlias /mailman/ "${MM}/cgi-bin/"
        <Macro VHost $name>
        <VirtualHost *:80>
            ServerName $name
        </VirtualHost>
        </Macro>
        Use VHost lists.macro.example
        """)})
    assert res.web.script_alias.target == "/usr/local/mailman/cgi-bin/"
    assert res.web.virtual_hosts == []
    (macro,) = _by_id(res, "apache.macro")
    assert macro.source == Source(HTTPD, 3)


def test_words_and_lines():
    assert split_words('Alias /a "/b c/" \'d e\' f\\\\g') == (["Alias", "/a", "/b c/", "d e", "f\\g"],
                                                             False)
    assert split_words('X "a \\" b"') == (["X", 'a " b'], False)
    assert split_words('ServerName "open') == (["ServerName", "open"], True)
    assert split_words('a"b c"') == (['a"b', 'c"'], False)
    assert logical_lines(["a \\", " b\\", "c", "d\\"]) == [(1, "a  bc"), (4, "d\\")]


# --- bad input -------------------------------------------------------------------------------------


def _syntax(res: ApacheResult) -> list[tuple[str, int | None]]:
    return [(f.source.file, f.source.line) for f in _by_id(res, "apache.syntax")]


def test_unclosed_virtualhost(tree_factory):
    res = _parse(tree_factory, {HTTPD: "Listen 80\n<VirtualHost *:80>\nServerName a.example\n"})
    assert _syntax(res) == [(HTTPD, 2)]
    assert "never closed" in res.findings[0].message
    assert res.web.virtual_hosts[0].server_name == "a.example"


def test_stray_and_mismatched_closing_tags(tree_factory):
    res = _parse(tree_factory, {HTTPD: textwrap.dedent("""\
        </Directory>
        <VirtualHost *:80>
        <Directory /usr/local/mailman/cgi-bin>
        Options ExecCGI
        </VirtualHost>
        ServerName main.example
        </Directory>
        """)}, prefix="/usr/local/mailman")
    assert _syntax(res) == [(HTTPD, 1), (HTTPD, 5), (HTTPD, 7)]
    assert res.web.server_name == "main.example"  # read outside the vhost after </VirtualHost>
    assert res.web.directories[0].options == ["ExecCGI"]


def test_unterminated_quote_and_missing_bracket(tree_factory):
    res = _parse(tree_factory, {HTTPD: 'ServerName "lists.example\n<VirtualHost *:80\n'
                                       'ServerName v.example\n</VirtualHost>\n'})
    assert _syntax(res) == [(HTTPD, 1), (HTTPD, 2)]
    assert res.web.server_name == "lists.example"
    assert res.web.virtual_hosts[0].listen == ["*:80"]
    assert res.web.virtual_hosts[0].server_name == "v.example"


def test_nested_virtualhost(tree_factory):
    res = _parse(tree_factory, {HTTPD: "<VirtualHost *:80>\n<VirtualHost *:81>\n"
                                       "</VirtualHost>\n</VirtualHost>\n"})
    assert _syntax(res) == [(HTTPD, 2)]


def test_include_of_a_missing_file(tree_factory):
    res = _parse(tree_factory, {HTTPD: "Include etc/apache24/none.conf\n"
                                       "Include /usr/local/etc/apache24/conf.d/*.conf\n"
                                       "IncludeOptional etc/apache24/none.conf\n"})
    missing = _by_id(res, "apache.include-missing")
    assert [(f.severity, f.source) for f in missing] == [
        (Severity.WARNING, Source(HTTPD, 1)), (Severity.WARNING, Source(HTTPD, 2))]
    assert "/usr/local/etc/apache24/none.conf does not exist" in missing[0].message
    assert "no match for the wildcard '*.conf' in /usr/local/etc/apache24/conf.d" \
        in missing[1].message
    assert len(res.findings) == 2


def test_include_cycle(tree_factory):
    etc = "/usr/local/etc/apache24"
    res = _parse(tree_factory, {
        HTTPD: "Include etc/apache24/a.conf\n",
        f"{etc}/a.conf": "ServerAdmin a@example.org\nInclude etc/apache24/b.conf\n",
        f"{etc}/b.conf": "# b\nInclude etc/apache24/a.conf\nServerName b.example\n",
    })
    (cycle,) = _by_id(res, "apache.include-cycle")
    assert cycle.source == Source(f"{etc}/b.conf", 2)
    assert f"{etc}/a.conf -> {etc}/b.conf -> {etc}/a.conf" in cycle.message
    assert [f.path for f in res.files] == [HTTPD, f"{etc}/a.conf", f"{etc}/b.conf"]
    assert res.web.server_name == "b.example"


@pytest.mark.parametrize("fan_out", [2, 4])
def test_include_fan_out_stops_at_the_budget_with_a_finding(tree_factory, fan_out):
    """A file that includes the next one twice (or four times), 14 deep: Apache reads every
    copy, the parser stops at its budget, says where, and reads the rest (the ServerName
    after the includes)."""
    from conftest import CountingTree
    from parsers.apache import MAX_INCLUDE_READS

    etc = "/usr/local/etc/apache24"
    depth = 14
    files = {f"{etc}/f{i}.conf": f"# level {i}\n"
             + (f"Include etc/apache24/f{i + 1}.conf\n" * fan_out if i < depth else "")
             for i in range(1, depth + 1)}
    files[HTTPD] = "Include etc/apache24/f1.conf\n" * fan_out + "ServerName after.example\n"
    tree = CountingTree(tree_factory(files), stop=4 * MAX_INCLUDE_READS)
    res = parse_apache(tree)
    assert tree.reads == MAX_INCLUDE_READS + 1  # the includes and httpd.conf itself
    assert res.web.server_name == "after.example"
    (budget,) = _by_id(res, "apache.include-budget")
    assert budget.severity.value == "error" and budget.hint
    assert budget.source.file.startswith(f"{etc}/f") and budget.source.line > 1
    assert len(res.files) == depth + 1


def test_self_including_glob_and_folder_symlink_loop(tree_factory):
    etc = "/usr/local/etc/apache24"
    root = tree_factory({HTTPD: "Include etc/apache24/Includes/*.conf\nInclude etc/apache24/d/\n",
                         f"{etc}/Includes/all.conf": "Include etc/apache24/Includes/*.conf\n",
                         f"{etc}/d/x.conf": "ServerAdmin x@example.org\n"},
                        links={f"{etc}/d/loop": "."})
    res = parse_apache(LocalTree(root))
    assert [(f.id, f.source) for f in res.findings] == [
        ("apache.include-cycle", Source(f"{etc}/Includes/all.conf", 1)),
        ("apache.include-cycle", Source(HTTPD, 2))]
    assert "included folder /usr/local/etc/apache24/d/loop leads back" in res.findings[1].message
    assert [f.path for f in res.files] == [HTTPD, f"{etc}/Includes/all.conf", f"{etc}/d/x.conf"]


def test_binary_and_latin1_files(tree_factory):
    etc = "/usr/local/etc/apache24"
    res = _parse(tree_factory, {
        HTTPD: "Include etc/apache24/Includes/*.conf\n",
        f"{etc}/Includes/a.conf": b"ServerAdmin x\n\x00\xff\xfe<VirtualHost\n",
        f"{etc}/Includes/b.conf": "<VirtualHost *:80>\nServerName caf\xe9.example\n"
                                  "</VirtualHost>\n".encode("latin-1"),
    })
    assert [(f.id, f.source.line) for f in res.findings] == [("input.binary", 2),
                                                             ("input.encoding", 2)]
    assert res.web.virtual_hosts[0].server_name == "caf\xe9.example"


def test_unreadable_main_config_still_gives_a_web(tree_factory):
    res = _parse(tree_factory, {HTTPD: b"\x00" * 16})
    assert res.web is not None and res.web.virtual_hosts == []
    assert [f.id for f in res.findings] == ["input.binary"]


# --- the real Apache as the oracle ----------------------------------------------------------------


def _oracle(host: Path, config: str, root: Path) -> None:
    binary = apache_binary()
    root.mkdir()
    adapted = debianize(host, config, root, binary)
    check = run(binary, adapted.config)
    output = check.stdout + check.stderr
    assert check.returncode == 0 and "Syntax OK" in output, output

    dump = run(binary, adapted.config, "DUMP_VHOSTS", "DUMP_INCLUDES")
    output = dump.stdout + dump.stderr
    assert dump.returncode == 0, output
    res = parse_apache(LocalTree(root))
    web = res.web
    assert web is not None
    assert not [f for f in res.findings if f.id.startswith(("apache.syntax", "apache.include",
                                                            "input."))]
    included = list(dict.fromkeys(dump_includes(output, root)))
    assert [f.path for f in res.files] == included

    apache_view = sorted((v.address, v.name, v.file, v.line) for v in dump_vhosts(output, root))
    ours = sorted((addr.replace("_default_", "*"), v.server_name or web.server_name,
                   v.source.file, v.source.line)
                  for v in web.virtual_hosts for addr in v.listen)
    assert ours == apache_view
    by_source = {(v.source.file, v.source.line): v for v in web.virtual_hosts}
    for dumped in dump_vhosts(output, root):
        if dumped.aliases is not None:  # Apache lists aliases for name-based vhosts only
            assert by_source[(dumped.file, dumped.line)].server_aliases == dumped.aliases


@pytest.mark.parametrize("sample", ["netsight", "hillcrest", "oakfield"])  # the Apache 2.4 samples
def test_oracle_sample(sample, tmp_path):
    _oracle(SAMPLES / sample, HTTPD, tmp_path / "oracle")


@pytest.mark.parametrize("name", sorted(ORACLE_CONFIGS))
def test_oracle_handwritten(name, tree_factory, tmp_path):
    files, config = ORACLE_CONFIGS[name]
    host = tree_factory(files, name=name)
    _oracle(host, config, tmp_path / "oracle")


def test_oracle_sees_the_adapted_paths(tmp_path):
    """The parser reads the adapted copy, not the sample: its paths point into the temp tree."""
    binary = apache_binary()
    root = tmp_path / "oracle"
    root.mkdir()
    debianize(NETSIGHT, HTTPD, root, binary)
    web = parse_apache(LocalTree(root)).web
    assert web.server_root == f"{root}/usr/local"
    assert web.script_alias.target == f"{root}/usr/local/mailman/cgi-bin/"
    assert len(web.directories) == 3


def test_oracle_apache_keeps_its_pid_file_in_the_temp_tree(tmp_path):
    """Debian's compiled-in PidFile (/run/apache2.pid) is shared by every run: a killed daemon's
    file there, naming a pid another process has taken since, stopped the next one starting."""
    binary = apache_binary()
    root = tmp_path / "oracle"
    root.mkdir()
    adapted = debianize(NETSIGHT, HTTPD, root, binary)
    res = run(binary, adapted.config, "DUMP_RUN_CFG")
    assert res.returncode == 0, res.stderr
    assert f'PidFile: "{root}/run/httpd.pid"' in res.stdout


def _adapted_findings(binary: str, text: str, tree_factory, root: Path):
    """Apache's exit status and the parser's findings for a one-file config (adapted)."""
    files = {HTTPD: "Listen 80\nLoadModule authz_core_module "
                    "libexec/apache24/mod_authz_core.so\n" + text}
    host = tree_factory(files, name="host")
    root.mkdir()
    adapted = debianize(host, HTTPD, root, binary)
    return run(binary, adapted.config).returncode, parse_apache(LocalTree(root)).findings


@pytest.mark.parametrize("text, apache_accepts", [
    ("", True),
    ("<VirtualHost *:80>\n", False),
    ("</Directory>\n", False),
    ("<Directory /x\n</Directory>\n", False),
    ("<VirtualHost *:80>\n<Directory />\n</VirtualHost>\n</Directory>\n", False),
    ("Include etc/apache24/none.conf\n", False),
    ("Include etc/apache24/none/*.conf\n", False),
    ("Include etc/apache24/httpd.conf\n", False),
    # Apache takes an open quote to the end of the line; the parser reads the same value but
    # warns, since it is rarely what was meant.
    ('ServerName "lists.example\n', True),
])
def test_oracle_on_broken_configs(text, apache_accepts, tree_factory, tmp_path):
    """What the parser reports as broken, Apache refuses (bar the open quote)."""
    status, findings = _adapted_findings(apache_binary(), text, tree_factory, tmp_path / "oracle")
    assert (status == 0) == apache_accepts
    assert [f.severity for f in findings] == [Severity.WARNING] * len(findings)
    assert bool(findings) == bool(text)


# --- fuzz ------------------------------------------------------------------------------------------

_TOKENS = ["<VirtualHost *:80>", "</VirtualHost>", "<Directory /usr/local/mailman>",
           "</Directory>", "<IfModule x>", "</IfModule>", "<Macro m>", "</Macro>", "<", "</", ">",
           '"', "'", "\\", "Include etc/apache24/httpd.conf", "Include etc/apache24/Includes/*",
           "IncludeOptional ../*/*.conf", "Include nowhere.conf", "Define MM /x", "${MM}",
           "ServerRoot", "ServerRoot etc", "ScriptAlias /mailman/", "Alias", "Options",
           "RedirectMatch (", "Redirect gone", "Redirect 999 /mailman x", "Redirect",
           "RewriteRule ^/mailman(.*) $1 [R=abc", "RewriteCond x", "RewriteRule /pipermail",
           "SSLEngine on", "ServerName", "ServerAlias", "Listen", "\x00", "\xff", "\r", "\x85"]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(lines)) if lines else 0
        if op == 0 and lines:
            del lines[i]
        elif op == 1 and lines:
            lines.insert(i, lines[i])
        elif op == 2 and len(lines) > 1:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines.insert(i, rng.choice(_TOKENS).encode("latin-1"))
        elif op == 4 and lines and lines[i]:
            line = bytearray(lines[i])
            line[rng.randrange(len(line))] = rng.randrange(256)
            lines[i] = bytes(line)
        elif op == 5 and lines:
            token = rng.choice(_TOKENS).encode("latin-1")
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + token + lines[i][pos:]
    if rng.random() < 0.1:
        return b"\n".join(lines)[: rng.randrange(len(data) + 1)]
    return b"\n".join(lines)


@pytest.mark.slow
def test_fuzz_mutated_netsight(tmp_path):
    originals = {path: (NETSIGHT / path.lstrip("/")).read_bytes() for path in (HTTPD, MAILMAN_CONF)}
    root = tmp_path / "fuzz"
    started = time.monotonic()
    for case in range(400):
        rng = random.Random(f"apache-{case}")
        shutil.rmtree(root, ignore_errors=True)
        for path, data in originals.items():
            local = root / path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(_mutate(rng, data) if rng.random() < 0.8 else data)
        try:
            res = parse_apache(LocalTree(root), rng.choice([None, "/usr/local/mailman"]))
        except Exception as exc:  # pragma: no cover - the failure message names the case
            raise AssertionError(f"case {case} raised {exc!r}") from exc
        assert res.web is not None, case
        for f in res.findings:
            assert f.source is not None and f.source.file.startswith("/"), (case, f)
            assert isinstance(f.source.line, int) and f.source.line >= 1, (case, f)
            assert f.message and f.hint, (case, f)
    assert time.monotonic() - started < 10
