"""Mailman's pages at the URL prefixes the old host used (``/cgi-bin/mailman/``,
``/images/mailman/``): served there by default (``url_prefixes: keep``), or at the OpenBSD
package's with the old ones answering 301 (``url_prefixes: package``); one location per path
in httpd.conf; the root redirect and the post-checks follow the served prefix.

The inventory is hillcrest's with the prefixes of a host set up the way many Mailman 2 guides
do it (ScriptAlias /cgi-bin/mailman/, Alias /images/mailman/, a root RedirectMatch 301 to
/cgi-bin/mailman/listinfo, lists' web_page_url under /cgi-bin/mailman/): what the Apache and
mm_cfg.py readers make of such a host (tests/test_apache.py and the sample ``oakfield`` prove
the reading). httpd's answers are worked out from the emitted text by ``httpdtools.answer``
(tests/test_httpd_real.py and the web parity e2e hold that to the real httpd).
"""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import SAMPLES
from httpdtools import answer, grammar_errors
from migrate.app.inspection import inspect_tree
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree
from migrate.core.model import Origin, Source, UrlPrefixes, WebAlias, WebAliasKind

from emitters.httpd_conf import Entry, check_locations
from emitters.httpd_redirects import Location, lua_search
from emitters.new_host import Served, is_prefix
from emitters.release import Release

HOST = "lists.hillcrest.example"
FLAGS = {"hostname": HOST, "ipv6": ["2001:db8:90::25"], "destination": "mailman2"}
HTTPD = "files/new/etc/httpd.conf"
MM_CFG = "files/new/usr/local/lib/mailman/Mailman/mm_cfg.py.migrate"


@pytest.fixture(scope="module")
def hillcrest():
    return inspect_tree(LocalTree(SAMPLES / "hillcrest"), Origin("local", "/samples/hillcrest"))


def _guides(inv):
    """``inv`` as a host set up with /cgi-bin/mailman/ and /images/mailman/."""
    inv = copy.deepcopy(inv)
    inv.mailman.urls = UrlPrefixes("/cgi-bin/mailman/", "/images/mailman/", "/pipermail/",
                                   {"cgi": Source("/usr/local/etc/apache24/httpd.conf", 4)})
    for ml in inv.lists:
        ml.web_page_url = f"https://{HOST}/cgi-bin/mailman/"
    inv.web.script_alias.url_path = "/cgi-bin/mailman/"
    inv.web.icons_alias.url_path = "/images/mailman/"
    for vh in inv.web.virtual_hosts:
        for a in vh.aliases:
            if a.kind == WebAliasKind.REDIRECT_MATCH and a.url_path == "^/$":
                a.target, a.code, a.status = "/cgi-bin/mailman/listinfo", 301, "permanent"
                a.line = "RedirectMatch permanent ^/$ /cgi-bin/mailman/listinfo"
    return inv


@pytest.fixture(scope="module")
def guides(hillcrest):
    return _guides(hillcrest)


def _plan(inv, **flags):
    return build_plan(inv, resolve_target(inv, {}, {**FLAGS, **flags}))


def _probes(plan) -> list[dict]:
    data = yaml.safe_load(plan.files["plan.yaml"].split("\n", 1)[1])
    steps = {s["id"]: s for s in data["steps"]}
    return [a for a in steps["post-checks"]["actions"] if a["do"] == "http"]


def _ids(plan, severity=None) -> list[str]:
    return [f.id for f in plan.findings if severity is None or f.severity.value == severity]


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_the_old_prefixes_are_served_as_they_were(guides):
    plan = _plan(guides)
    conf = plan.files[HTTPD]
    assert grammar_errors(conf, Release.parse("7.8")) == []
    # Mailman's CGI at /cgi-bin/mailman/ (two path components stripped), the logos at
    # /images/mailman/, and nothing at the package's /mailman/ or /icons/
    assert 'location "/cgi-bin/mailman/*" {\n\t\tfastcgi socket' in conf
    assert '"/usr/local/lib/mailman/cgi-bin"\n\t\trequest strip 2' in conf
    assert 'location "/images/mailman/*" {\n\t\troot "/usr/local/lib/mailman/icons"\n' \
           '\t\trequest strip 2' in conf
    assert 'location "/mailman/*"' not in conf and 'location "/icons/*"' not in conf
    # one location "/" per server block: the old host's root redirect, not the plan's own too
    assert conf.count('location "/" {') == 1
    assert answer(conf, 443, HOST, "/") == (301, "/cgi-bin/mailman/listinfo")
    assert answer(conf, 443, HOST, "/cgi-bin/mailman/listinfo") == (200, None)
    assert answer(conf, 443, HOST, "/images/mailman/mailman.jpg") == (200, None)
    # every old URL answers: 0 missing, and nothing moves
    assert [r for r in plan.web_parity if r["status"] == "missing"] == []
    assert "plan.web-parity-missing" not in _ids(plan)
    assert "plan.web-prefixes-moved" not in _ids(plan)
    assert not [f for f in plan.findings if f.id.startswith("plan.httpd-location")]
    # the pages Mailman writes on the new host link where they did
    cfg = plan.files[MM_CFG]
    assert "DEFAULT_URL_PATTERN = 'https://%s/cgi-bin/mailman/'" in cfg
    assert "IMAGE_LOGOS = '/images/mailman/'" in cfg
    assert "PUBLIC_ARCHIVE_URL = 'https://%(hostname)s/pipermail/%(listname)s'" in cfg


def test_before_the_change_the_same_host_lost_every_cgi_url(guides):
    """What the issue found: served at /mailman/ only, the old CGI URLs were missing."""
    plan = _plan(guides, url_prefixes="package")
    assert not [r for r in plan.web_parity if r["status"] == "missing"]
    changed = [r for r in plan.web_parity if "/cgi-bin/mailman/" in r["url"]]
    assert changed and all(r["status"] == "changed" for r in changed)
    assert all("301 to /mailman/" in r["new"] for r in changed)


@pytest.mark.parametrize("mode", ["keep", "package"])
@pytest.mark.parametrize("release", ["5.7", "6.3", "7.8"])
def test_post_checks_ask_exactly_what_httpd_conf_answers(guides, mode, release):
    plan = _plan(guides, url_prefixes=mode, openbsd=release)
    conf = plan.files[HTTPD]
    assert grammar_errors(conf, Release.parse(release)) == []
    probes = _probes(plan)
    assert len(probes) >= 9
    for probe in probes:
        port = 443 if probe["url"].startswith("https://") else 80
        status, location = answer(conf, port, probe["host_header"], _path(probe["url"]))
        assert status == probe.get("status", 200), (probe, status, location)
        if "location" in probe:
            assert location == probe["location"], probe
    # and every page a probe expects to answer 200 is at a prefix httpd.conf serves
    served = ("/cgi-bin/mailman/", "/pipermail/") if mode == "keep" else \
        ("/mailman/", "/pipermail/")
    if mode == "package" and release == "5.7":  # no location match: served at both
        served += ("/cgi-bin/mailman/",)
    pages = [_path(p["url"]) for p in probes if p.get("status", 200) == 200]
    assert pages and all(p.startswith(served) for p in pages), pages


def test_package_prefixes_redirect_the_old_ones(guides):
    plan = _plan(guides, url_prefixes="package")
    conf = plan.files[HTTPD]
    assert 'location match "^/cgi%-bin/mailman/(.*)$" {\n\t\tblock return 301 "/mailman/%1"' \
        in conf
    assert answer(conf, 443, HOST, "/cgi-bin/mailman/listinfo/staff") == (
        301, "/mailman/listinfo/staff")
    assert answer(conf, 443, HOST, "/images/mailman/mailman.jpg") == (301, "/icons/mailman.jpg")
    assert answer(conf, 443, HOST, "/mailman/listinfo/staff") == (200, None)
    # the old root redirect goes straight to the new prefix, not through a second redirect
    assert answer(conf, 443, HOST, "/") == (301, "/mailman/listinfo")
    moved = next(f for f in plan.findings if f.id == "plan.web-prefixes-moved")
    assert "/cgi-bin/mailman/" in moved.message and "/images/mailman/" in moved.message
    cfg = plan.files[MM_CFG]
    assert "DEFAULT_URL_PATTERN = 'https://%s/mailman/'" in cfg
    assert "IMAGE_LOGOS = '/icons/'" in cfg
    # the old host's Apache proxies the old prefixes too (they answer there until DNS moves)
    proxy = plan.files["files/old/apache-proxy.conf"]
    for prefix in ("/cgi-bin/mailman/", "/images/mailman/", "/mailman/", "/icons/"):
        assert f"ProxyPass        {prefix} " in proxy


def test_release_without_location_match_serves_both(guides):
    plan = _plan(guides, url_prefixes="package", openbsd="5.7")
    conf = plan.files[HTTPD]
    assert 'location "/cgi-bin/mailman/*" {\n\t\tfastcgi socket' in conf
    assert 'root { "/usr/local/lib/mailman/cgi-bin", strip 2 }' in conf
    assert 'root { "/usr/local/lib/mailman/cgi-bin", strip 1 }' in conf
    assert "served at old URL prefixes too" in next(
        f.message for f in plan.findings if f.id == "plan.web-prefixes-moved")


def test_a_prefix_mm_cfg_gave_out_that_apache_did_not_serve_redirects(guides):
    inv = copy.deepcopy(guides)
    inv.mailman.urls.also = {"cgi": ["/mailman/"]}
    plan = _plan(inv)
    conf = plan.files[HTTPD]
    assert answer(conf, 443, HOST, "/mailman/listinfo/staff") == (
        301, "/cgi-bin/mailman/listinfo/staff")
    assert answer(conf, 443, HOST, "/cgi-bin/mailman/listinfo/staff") == (200, None)


def test_the_http_vhosts_redirect_to_https_is_the_plans_own(guides):
    """``Redirect permanent / https://NAME/`` of the old port-80 virtual host: the new HTTP
    server redirects every request to HTTPS already; carried into the HTTPS server block it
    would send every request there back to itself."""
    inv = copy.deepcopy(guides)
    http_vh = next(vh for vh in inv.web.virtual_hosts if not vh.tls)
    line = f"Redirect permanent / https://{HOST}/"
    http_vh.aliases.append(WebAlias(WebAliasKind.REDIRECT, "/", f"https://{HOST}/",
                                    "permanent", line, Source("/x.conf", 3), code=301))
    plan = _plan(inv)
    conf = plan.files[HTTPD]
    assert "$REQUEST_URI" not in conf.split("tls port 443", 1)[1]
    assert answer(conf, 443, HOST, "/cgi-bin/mailman/listinfo") == (200, None)
    assert answer(conf, 80, HOST, "/cgi-bin/mailman/listinfo") == (
        301, f"https://{HOST}/cgi-bin/mailman/listinfo")
    row = next(r for r in plan.web_parity if r["url"] == f"http://{HOST}/*"
               and r["what"] == "redirect")
    assert row["status"] == "ok" and "the plan's own HTTP server" in row["new"]
    assert row["checked"]
    assert "plan.web-root-changed" not in _ids(plan)  # the old root redirected, as now


@pytest.mark.parametrize("bad", ["/cgi bin/", "/../x/", "/mailman", "/a*/", '/a"/', "/%2e/",
                                 "/x\n/", "/", "cgi-bin/mailman/", "/a$b/"])
def test_an_unsafe_prefix_in_the_inventory_is_a_blocker_not_a_line(guides, bad):
    assert not is_prefix(bad)
    inv = copy.deepcopy(guides)
    inv.mailman.urls.cgi = bad
    plan = _plan(inv)
    assert "plan.web-prefix-unsafe" in _ids(plan, "blocker") or \
        "plan.unsafe-value" in _ids(plan, "blocker")
    conf = plan.files.get(HTTPD, "")
    assert f'location "{bad}*"' not in conf and f"%s{bad}'" not in plan.files.get(MM_CFG, "")


def test_two_kinds_at_one_prefix_is_a_blocker(guides):
    inv = copy.deepcopy(guides)
    inv.mailman.urls.icons = "/pipermail/"
    assert "plan.web-prefix-clash" in _ids(_plan(inv), "blocker")


def test_a_prefix_below_another_is_matched_first(guides):
    inv = copy.deepcopy(guides)
    inv.mailman.urls.icons = "/cgi-bin/mailman/icons/"
    conf = _plan(inv).files[HTTPD]
    assert conf.index('location "/cgi-bin/mailman/icons/*"') < \
        conf.index('location "/cgi-bin/mailman/*"')
    assert answer(conf, 443, HOST, "/cgi-bin/mailman/icons/mm-icon.png") == (200, None)
    assert 'root "/usr/local/lib/mailman/icons"\n\t\trequest strip 3' in conf


# --- the check of a server block's locations ------------------------------------------------

CGI = Served("/mailman/", "/usr/local/lib/mailman/cgi-bin", "/var/www/run/slowcgi.sock")
ROOT = Location("/", False, 302, "/mailman/listinfo")


def test_two_location_roots_are_refused():
    entries = [Entry(Location("/", False, 301, "/mailman/listinfo"), None, False),
               Entry(None, CGI, True), Entry(ROOT, None, True)]
    found = check_locations(HOST, entries)
    assert [(f.id, f.severity.value) for f in found] == [
        ("plan.httpd-location-shadowed", "blocker")]
    assert 'location "/" is never used' in found[0].message


def test_an_old_redirect_over_mailmans_location_is_a_warning_a_plan_one_a_blocker():
    gone = Entry(Location("/mailman/*", False, 410), None, False)
    assert [f.severity.value for f in check_locations(HOST, [gone, Entry(None, CGI, True)])] \
        == ["blocker"]
    old = [Entry(Location("^/lists(/.*)$", True, 301, "/mailman/listinfo%1"), None, False),
           Entry(Location("/lists/x", False, 301, "/mailman/listinfo/x"), None, False),
           Entry(None, CGI, True), Entry(ROOT, None, True)]
    assert [(f.id, f.severity.value) for f in check_locations(HOST, old)] == [
        ("plan.httpd-location-shadowed", "warning")]
    # a Lua pattern that answers everything hides the plan's root and Mailman's location
    every = Entry(Location("^/(.*)$", True, 301, "https://elsewhere.example$REQUEST_URI"),
                  None, False)
    found = check_locations(HOST, [every, Entry(None, CGI, True), Entry(ROOT, None, True)])
    assert [(f.id, f.severity.value) for f in found] == [
        ("plan.httpd-location-shadowed", "blocker"), ("plan.httpd-location-shadowed", "blocker"),
        ("plan.web-redirect-unserved", "blocker")]  # the root's /mailman/listinfo, too


def test_a_redirect_to_a_path_not_served_is_found():
    entries = [Entry(Location("/", False, 302, "/lists/listinfo"), None, True),
               Entry(None, CGI, True)]
    found = check_locations(HOST, entries)
    assert [(f.id, f.severity.value) for f in found] == [("plan.web-redirect-unserved",
                                                          "blocker")]
    carried = [Entry(Location("/old", False, 301, "/wiki/"), None, False),
               Entry(None, CGI, True), Entry(ROOT, None, True)]
    assert [(f.id, f.severity.value) for f in check_locations(HOST, carried)] == [
        ("plan.web-redirect-unserved", "warning")]
    # through a moved prefix's redirect to a served one: not a path httpd serves itself
    chain = [Entry(Location("^/cgi%-bin/mailman/(.*)$", True, 301, "/mailman/%1"), None, True),
             Entry(Location("/", False, 301, "/cgi-bin/mailman/listinfo"), None, False),
             Entry(None, CGI, True)]
    assert "plan.web-redirect-unserved" in [f.id for f in check_locations(HOST, chain)]
    fine = [Entry(Location("^/cgi%-bin/mailman/(.*)$", True, 301, "/mailman/%1"), None, True),
            Entry(None, CGI, True), Entry(ROOT, None, True)]
    assert check_locations(HOST, fine) == []


@pytest.mark.parametrize("pattern,path,hit", [
    ("^/$", "/", True), ("^/$", "/x", False), ("^/(.*)$", "/a/b", True),
    ("^/cgi%-bin/mailman/(.*)$", "/cgi-bin/mailman/admin", True),
    ("^/cgi%-bin/mailman/(.*)$", "/cgixbin/mailman/admin", False),
    ("^/lists%d+$", "/lists42", True), ("^/lists%d+$", "/listsx", False),
    ("^/[%a_]+$", "/a_b", True), ("^/[%a_]+$", "/a-b", False), ("^/a.-b$", "/axxb", True),
    ("^/LISTS$", "/lists", False), ("/pipermail/", "/x/pipermail/y", True),
    ("^/[^/]+/$", "/a/", True), ("^/[^/]+/$", "/a/b/", False),
])
def test_lua_patterns_match_as_httpd_does(pattern, path, hit):
    assert lua_search(pattern, path) is hit


@pytest.mark.parametrize("mode", ["keep", "package"])
def test_the_real_httpd_reads_both(guides, mode, tmp_path):
    """OpenBSD's own httpd (``httpd -n``, the 6.4 and later grammar) reads the httpd.conf of
    both choices, its ``request strip 2`` and the moved prefixes' ``location match``."""
    from httpdtools import httpd_check, httpd_complaints

    conf = _plan(guides, url_prefixes=mode).files[HTTPD]
    proc = httpd_check(conf, tmp_path)
    assert proc.returncode == 0 and httpd_complaints(proc) == [], proc.stdout + proc.stderr


def test_inspect_says_where_the_pages_were(tmp_path):
    from typer.testing import CliRunner

    from migrate.app import cli

    result = CliRunner().invoke(cli.app, ["inspect", "--root", str(SAMPLES / "oakfield"),
                                          "-o", str(tmp_path / "inv.yaml")])
    assert result.exit_code in (0, 1), result.output
    assert "its pages at /cgi-bin/mailman/ (CGI), /images/mailman/ (logos), /pipermail/ " \
        "(public archives)" in " ".join(result.output.split())


def test_without_https_the_http_vhosts_redirect_to_https_is_not_carried(guides):
    """With --tls none the new host has no HTTPS: the old :80 ``Redirect permanent /
    https://NAME/`` carried into its only server block would send every page to a port
    nothing answers (and hide Mailman's locations behind it)."""
    inv = copy.deepcopy(guides)
    http_vh = next(vh for vh in inv.web.virtual_hosts if not vh.tls)
    line = f"Redirect permanent / https://{HOST}/"
    http_vh.aliases.append(WebAlias(WebAliasKind.REDIRECT, "/", f"https://{HOST}/",
                                    "permanent", line, Source("/x.conf", 3), code=301))
    plan = _plan(inv, tls="none")
    conf = plan.files[HTTPD]
    assert "https://" not in conf
    assert answer(conf, 80, HOST, "/cgi-bin/mailman/listinfo") == (200, None)
    assert not [f for f in plan.findings if f.id == "plan.httpd-location-shadowed"]
    lost = [f for f in plan.findings if f.id == "plan.web-redirect-not-carried"]
    assert any("sends every request to HTTPS" in f.message for f in lost)
