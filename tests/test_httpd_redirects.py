"""The old host's redirects and rewrites as httpd.conf(5) locations (emitters/httpd_redirects):
the regex to Lua pattern translation, what each release can express, and what is refused.

No Lua runs here: the emitted patterns are read back into Python regexes by
``httpdtools.lua_to_re`` (written from patterns(7)) and must match the same paths, with the
same captures, as the Apache regex they came from."""

from __future__ import annotations

import re

import pytest

from httpdtools import lua_to_re
from emitters.httpd_redirects import Location, regex_to_lua, translate
from emitters.release import Release
from migrate.core.model import Source, WebAlias, WebAliasKind, WebVirtualHost

R57, R58, R63, R78 = (Release.parse(r) for r in ("5.7", "5.8", "6.3", "7.8"))
SRC = Source("/usr/local/etc/apache24/httpd.conf", 12)
VHOST = WebVirtualHost("lists.example.org", listen=["*:80"])


PATHS = ["/", "/lists", "/lists/", "/lists/dev-talk", "/lists/Dev", "/pipermail/a/12.html",
         "/pipermail/a/x.html", "/a-b.c", "/x--y", "/mailman/listinfo", "/archive/2009/x",
         "/x_y z", "/xy"]


@pytest.mark.parametrize("regex", [
    "^/mailman/(.*)$", "^/lists/?$", r"^/pipermail/([^/]+)/\d+\.html$", r"^/a-b\.c",
    "^/x.*?y", r"\w+", r"^/lists/([a-z-]+)$", r"^/archive/(\d+)/", r"/x[_ ]y\s",
])
def test_lua_patterns_match_what_the_regex_matched(regex):
    lua = regex_to_lua(regex)
    assert lua is not None
    back = lua_to_re(lua)
    for path in PATHS:
        a, b = re.search(regex, path), re.search(back, path)
        assert bool(a) == bool(b), (regex, lua, path)
        assert a is None or a.groups() == b.groups(), (regex, lua, path)


def _redirect(url, target, status=None, code=302, kind=WebAliasKind.REDIRECT, **kw):
    return WebAlias(kind, url, target, status, f"Redirect {url} {target}", SRC, code=code, **kw)


def _rule(pattern, target, flags, code, **kw):
    return WebAlias(WebAliasKind.REWRITE_RULE, pattern, target, f"[{','.join(flags)}]",
                    f"RewriteRule {pattern} {target}", SRC, code=code, flags=flags, **kw)


@pytest.mark.parametrize("regex, lua", [
    ("^/mailman/(.*)$", "^/mailman/(.*)$"),
    ("^/lists/?$", "^/lists/?$"),
    (r"^/pipermail/([^/]+)/\d+\.html$", "^/pipermail/([^/]+)/%d+%.html$"),
    (r"^/a-b\.c", "^/a%-b%.c"),
    ("^/x.*?y", "^/x.-y"),
    (r"\w+", "[%w_]+"),
    ("^/(a|b)$", None),
    ("^/a{2}", None),
    ("^/(ab)+", None),
    ("(?i)^/mailman", None),
    (r"^/\bx", None),
    ("^/[[:alpha:]]", None),
    ("*x", None),
    ("(", None),
])
def test_regex_to_lua(regex, lua):
    assert regex_to_lua(regex) == lua


#: the plan's own answer for the site root with Mailman's CGI at /mailman/
ROOT = Location("/", False, 302, "/mailman/listinfo")


def test_location_lines():
    assert ROOT.lines() == ['\tlocation "/" {', '\t\tblock return 302 "/mailman/listinfo"',
                            "\t}"]
    assert Location("^/a(.*)$", True, 410).lines() == [
        '\tlocation match "^/a(.*)$" {', "\t\tblock return 410", "\t}"]


def test_redirect_of_a_path_and_below_it():
    c = translate(_redirect("/lists", "http://lists.example.org/mailman/listinfo",
                            "permanent", 301), VHOST, R78)
    assert c.scheme == "http"
    assert c.locations == [
        Location("^/lists$", True, 301, "http://lists.example.org/mailman/listinfo"),
        Location("^/lists(/.*)$", True, 301, "http://lists.example.org/mailman/listinfo%1")]
    assert (c.sample, c.expect) == ("/lists", "http://lists.example.org/mailman/listinfo")
    # Apache appended the request's query string, httpd cannot (only when there is one)
    assert c.lost is None and c.query
    # 5.7 has no location match: a path without letters is carried, the paths below it are not
    old = translate(_redirect("/2009", "http://x.example/pipermail/", code=301), VHOST, R57)
    assert old.locations == [Location("/2009", False, 301, "http://x.example/pipermail/")]
    assert "below /2009/" in old.lost and "5.8" in old.lost and old.lost_path == "/2009/x"


def test_redirect_of_a_folder_and_of_everything():
    c = translate(_redirect("/", "http://lists.example.org/mailman/listinfo/"), VHOST, R63)
    assert c.locations == [Location("^/(.*)$", True, 302,
                                    "http://lists.example.org/mailman/listinfo/%1")]
    gone = translate(_redirect("/pipermail/old/", "", "gone", 410), VHOST, R78)
    assert gone.locations == [Location("^/pipermail/old/", True, 410)] and gone.lost is None
    gone = translate(_redirect("/oldlists", "", "gone", 410), VHOST, R78)
    assert gone.locations == [Location("^/oldlists$", True, 410),
                              Location("^/oldlists/", True, 410)]
    gone = translate(_redirect("/2009/", "", "gone", 410), VHOST, R57)
    assert gone.locations == [Location("/2009/*", False, 410)] and gone.lost is None
    gone = translate(_redirect("/2009", "", "gone", 410), VHOST, R57)
    assert gone.locations == [Location("/2009", False, 410), Location("/2009/*", False, 410)]


def test_redirect_match_fixed_path_and_pattern():
    root = translate(_redirect("^/$", "/mailman/listinfo", kind=WebAliasKind.REDIRECT_MATCH),
                     VHOST, R57)
    assert root.locations == [ROOT]
    c = translate(_redirect(r"^/lists/([a-z-]+)$", "/mailman/listinfo/$1", "301", 301,
                            kind=WebAliasKind.REDIRECT_MATCH), None, R78)
    assert c.locations == [Location("^/lists/([a-z-]+)$", True, 301,
                                    "/mailman/listinfo/%1")]
    assert re.search(r"^/lists/([a-z-]+)$", c.sample)
    m = re.search(lua_to_re(c.locations[0].pattern), c.sample)
    assert c.expect == c.locations[0].target.replace("%1", m.group(1))
    assert c.scheme == "http"  # the main server's
    old = translate(_redirect(r"^/lists/([a-z-]+)$", "/mailman/listinfo/$1", "301", 301,
                              kind=WebAliasKind.REDIRECT_MATCH), None, R57)
    assert old.locations == [] and "location match" in old.lost and "5.8" in old.lost


@pytest.mark.parametrize("apache, target", [
    ("2.4", "/mailman/&?a=1&b"),  # 2.4's ap_pregsub: & is the character, \ escapes any
    ("2.2", "/mailman/%0?a=1&b"),  # 2.2's: & is the whole match, \& the character
    (None, None),  # unknown: either could be meant
])
def test_ampersand_of_a_redirect_match_target_follows_the_apache_version(apache, target):
    amp = translate(_redirect("^/x/(.*)$", r"/mailman/&?a=1\&b",
                              kind=WebAliasKind.REDIRECT_MATCH), VHOST, R78, apache)
    if target is None:
        assert amp.locations == [] and "Apache version is unknown" in amp.lost
    else:
        assert amp.locations[0].target == target and amp.lost is None  # its own query


@pytest.mark.parametrize("target", ["/pipermail/$10", "/pipermail/$1$2", "/p/$17.html"])
def test_a_digit_after_a_capture_is_not_carried(target):
    """httpd reads %10 as capture 10 (and %1 in %17 first): with fewer captures it closes the
    connection without an answer. Apache took $1 and then the digit."""
    c = translate(_redirect("^/v/([0-9]+)/?([0-9]*)$", target,
                            kind=WebAliasKind.REDIRECT_MATCH), VHOST, R78, "2.4")
    if "$2" in target:
        assert c.locations[0].target == "/pipermail/%1%2"
        return
    assert c.locations == [] and "right after a capture" in c.lost
    assert c.lost_path is not None and c.lost_path.startswith("/v/")
    rule = translate(_rule("^/v/([0-9]+)$", target, ["r"], 302), VHOST, R78)
    assert rule.locations == [] and "right after a capture" in rule.lost


def test_word_class_keeps_underscore():
    """Lua's %w is a letter or a digit; PCRE's \\w, in a class too, takes _ as well."""
    lua = regex_to_lua(r"^/w/([\w]+)$")
    assert lua == "^/w/([%w_]+)$"
    assert re.search(lua_to_re(lua), "/w/my_list").group(1) == "my_list"
    assert regex_to_lua(r"^/w/([^\w.]+)$") == "^/w/([^%w_.]+)$"
    # a range from or to an escaped character: Lua reads none, so it is not translated
    for regex in (r"^/[\w-z]$", r"^/[\.-z]$", r"^/[a-\z]$", r"^/[%-z]$"):
        assert regex_to_lua(regex) is None, regex


@pytest.mark.parametrize("code, carried", [(300, False), (304, False), (305, False),
                                           (306, False), (301, True), (303, True),
                                           (307, True), (308, True), (399, False)])
def test_a_status_httpd_answers_without_a_location_is_not_carried(code, carried):
    """httpd sends a Location with 301, 302, 303, 307 and 308 only; Apache with any 3xx."""
    for alias in (_redirect("/see", "/mailman/listinfo", str(code), code),
                  _redirect("^/see$", "/mailman/listinfo", str(code), code,
                            kind=WebAliasKind.REDIRECT_MATCH),
                  _rule("^/see$", "/mailman/listinfo", [f"r={code}"], code)):
        c = translate(alias, VHOST, R78, "2.4")
        assert bool(c.locations) == carried, (alias.line, c.lost)
        if not carried:
            assert str(code) in c.lost and c.lost_path == "/see"


@pytest.mark.parametrize("alias", [
    _redirect("/Lists", "/mailman/listinfo"),
    _redirect("^/Lists$", "/mailman/listinfo", kind=WebAliasKind.REDIRECT_MATCH),
    _rule("^/Lists$", "/mailman/listinfo", ["r"], 302),
])
def test_a_fixed_path_matches_in_its_own_case(alias):
    """httpd's location "PATH" matches with FNM_CASEFOLD: /LISTS too, where Apache answered
    404. From 5.8 the path is an anchored (case-sensitive) location match; 5.7 has none."""
    c = translate(alias, VHOST, R78, "2.4")
    exact = c.locations[0]
    assert exact.match and exact.pattern == "^/Lists$"
    back = lua_to_re(exact.pattern)
    assert re.search(back, "/Lists") and not re.search(back, "/LISTS") \
        and not re.search(back, "/lists")
    old = translate(alias, VHOST, R57, "2.4")
    assert old.locations == [] and "any case" in old.lost and old.lost_path == "/Lists"
    # a path without letters is case-free: a plain location still
    assert translate(_redirect("/2009", "/pipermail/"), VHOST, R78).locations[0] == \
        Location("/2009", False, 302, "/pipermail/")


@pytest.mark.parametrize("target, why", [
    ("/m/$1?%{QUERY_STRING}_ENC", "part of the macro's name"),
    ("/m/$1?x=%{QUERY_STRING}x", "part of the macro's name"),
    ("http://%{HTTP_HOST}0/m/$1", "part of the macro's name"),
    ("/m/search?q=$1", "capture into the query string"),
])
def test_what_httpd_would_expand_otherwise_is_not_carried(target, why):
    c = translate(_rule("^/q/(.*)$", target, ["r"], 302), VHOST, R78)
    assert c.locations == [] and why in c.lost, c.lost


def test_the_rest_of_a_redirected_path_never_goes_into_a_query_string():
    """Redirect appends the rest of the path to its target: after a ? it is in the query,
    where httpd writes its & as %26 and Apache as &."""
    c = translate(_redirect("/find/", "/mailman/search?q="), VHOST, R78, "2.4")
    assert c.locations == [] and "query string" in c.lost and c.lost_path == "/find/"


def test_rewrite_variables_and_the_query_string():
    ok = translate(_rule("^/q/(.*)$", "/m/$1?%{QUERY_STRING}", ["r"], 302), VHOST, R78)
    assert ok.locations[0].target == "/m/%1?$QUERY_STRING" and ok.lost is None and not ok.query
    # Apache's %{REQUEST_URI} is the path alone: httpd's $DOCUMENT_URI, not its $REQUEST_URI
    uri = translate(_rule("^/p/(.*)$", "/m%{REQUEST_URI}", ["r"], 302), VHOST, R78)
    assert uri.locations[0].target == "/m$DOCUMENT_URI"
    # Apache's %{SERVER_NAME} is the name asked for, httpd's the server block's
    name = translate(_rule("^/p/(.*)$", "http://%{SERVER_NAME}/m/$1", ["r"], 302), VHOST, R78)
    assert name.locations == [] and "SERVER_NAME" in name.lost
    # the query string dropped by Apache (a final ?, QSD): the same without it on httpd
    for rule in (_rule("^/d/(.*)$", "/m/$1?", ["r"], 302), _rule("^/d/(.*)$", "/m/$1", ["r", "qsd"], 302)):
        c = translate(rule, VHOST, R78)
        assert c.locations[0].target == "/m/%1" and c.lost is None and not c.query, c.lost


@pytest.mark.parametrize("regex, why", [
    ("^/(foo|bar)$", "no Lua pattern"),
    ("^/a{2}$", "no Lua pattern"),
])
def test_redirect_match_beyond_lua(regex, why):
    c = translate(_redirect(regex, "/mailman/", kind=WebAliasKind.REDIRECT_MATCH), VHOST, R78)
    assert c.locations == [] and why in c.lost


def test_rewrite_rules():
    c = translate(_rule("^/archive/(.*)$", "/pipermail/$1", ["r=301", "l"], 301), VHOST, R78)
    assert c.locations == [Location("^/archive/(.*)$", True, 301, "/pipermail/%1")]
    assert (c.sample, c.expect) == ("/archive/", "/pipermail/")
    ext = translate(_rule("^/mailman/(.*)$", "https://lists.example.net/mailman/$1", ["l"],
                          None), VHOST, R78)
    assert ext.locations[0].code == 302  # an absolute URL is an external redirect
    forbidden = translate(_rule("^/pipermail/secret/", "-", ["f"], 403), VHOST, R78)
    assert forbidden.locations == [Location("^/pipermail/secret/", True, 403)]
    host = _rule("^/old/(.*)$", "http://%{HTTP_HOST}/mailman/$1", ["r"], 302)
    assert translate(host, VHOST, R78).locations[0].target == "http://$HTTP_HOST/mailman/%1"
    assert "6.2" in translate(host, VHOST, R58).lost
    assert translate(host, VHOST, R78).expect is None  # a runtime macro: status only


@pytest.mark.parametrize("rule, why", [
    (_rule("^/lists/?$", "/mailman/listinfo", ["pt"], None), "flag PT"),
    (_rule("^/m/(.*)$", "/mailman/$1", ["r", "nc"], 302), "flag NC"),
    (_rule("^/archives/(.*)$", "/pipermail/$1", ["l"], None), "inside the server"),
    (_rule("!^/mailman", "/mailman/", ["r"], 302), "negated"),
    (_rule("^/m/(.*)$", "/mailman/$1", ["r", "l"], 302,
           conditions=["RewriteCond %{HTTP_HOST} !^lists"]), "RewriteCond"),
    (_rule("^/m/(.*)$", "/mailman/$1", ["r"], 302, section="<Directory /x>"),
     "inside <Directory /x>"),
    (_rule("^/m/(.*)$", "/mailman/%{ENV:X}", ["r"], 302), "ENV:X"),
    (_rule("^/m/(.*)$", "/mailman/$2", ["r"], 302), "$2"),
    (_rule("^/m/(.*)$", "/mailman/%1", ["r"], 302), "back reference"),
])
def test_rewrite_rules_httpd_cannot_express(rule, why):
    c = translate(rule, VHOST, R78)
    assert c.locations == [] and why in c.lost, c.lost


def test_rewrite_rule_apache_ignored():
    c = translate(_rule("^/$", "/mailman/listinfo", [], None, enabled=False), VHOST, R78)
    assert c.ignored and c.locations == [] and c.lost is None


@pytest.mark.parametrize("target", [
    'http://x.example/"; block drop', "http://x.example/a\\b", "http://x.example/$REMOTE_ADDR",
    "http://x.example/%41", "http://x.example/\\n}", "http://x.example/\n}",
    "http://x.example/a\x00",
])
def test_hostile_targets_are_refused_not_written(target):
    c = translate(_redirect("/lists", target, code=301), VHOST, R78)
    assert c.locations == [] and "target" in c.lost


@pytest.mark.parametrize("url", ['/li"sts', "/li\\sts", "/li*sts", "/li[st]s", "/l$x"])
def test_hostile_paths_are_refused(url):
    c = translate(_redirect(url, "http://x.example/mailman/listinfo", code=301), VHOST, R78)
    assert c.locations == [] and "path" in c.lost


def test_percent_in_a_target_is_not_a_capture():
    ok = translate(_redirect("/lists", "http://x.example/a%2Fb", code=301), VHOST, R78)
    assert ok.locations == [] and "capture" in ok.lost  # %2 would be read as capture 2
    ok = translate(_redirect("/lists", "http://x.example/100%", code=301), VHOST, R78)
    assert ok.locations[0].target == "http://x.example/100%"


def test_a_redirect_to_the_same_path_elsewhere_keeps_the_query_string():
    """httpd's $REQUEST_URI is the path with the request's query string: a target that is the
    same path at another address is BASE$REQUEST_URI, and keeps the query as Apache did."""
    c = translate(_redirect("/lists", "https://new.example/lists", code=301), VHOST, R78)
    assert [loc.target for loc in c.locations] == ["https://new.example$REQUEST_URI"] * 2
    assert not c.query and c.lost is None and c.expect is None
    every = translate(_redirect("^/(.*)$", "https://new.example/$1", code=301,
                                kind=WebAliasKind.REDIRECT_MATCH), VHOST, R78, "2.4")
    assert every.locations == [Location("^/(.*)$", True, 301, "https://new.example$REQUEST_URI")]
    host = translate(_rule("^/(.*)$", "https://%{HTTP_HOST}/$1", ["r=301"], 301), VHOST, R78)
    assert host.locations[0].target == "https://$HTTP_HOST$REQUEST_URI" and not host.query
    # where Apache dropped the query string (QSD), the capture stays: no query either way
    qsd = translate(_rule("^/(.*)$", "https://new.example/$1", ["r", "qsd"], 302), VHOST, R78)
    assert qsd.locations[0].target == "https://new.example/%1" and not qsd.query
    # another path, or a relative target: the capture, without the query string
    other = translate(_redirect("/lists", "https://new.example/mailman", code=301), VHOST, R78)
    assert other.locations[1].target == "https://new.example/mailman%1" and other.query



@pytest.mark.parametrize("regex, why", [
    ("^/g/" + "(a)" * 32 + "$", "32 captures"),
    ("^/g/" + "a*" * 191 + "$", "depth of httpd's matcher"),
])
def test_a_pattern_beyond_httpds_matcher_is_not_carried(regex, why):
    """httpd's matcher keeps 31 captures and recurses 200 deep (patterns.h); past that it
    reports an error for every path, and the location matches nothing."""
    c = translate(_redirect(regex, "/mailman/", kind=WebAliasKind.REDIRECT_MATCH), VHOST, R78)
    assert c.locations == [] and why in c.lost, c.lost
    fits = translate(_redirect("^/g/" + "(a)" * 31 + "$", "/mailman/",
                               kind=WebAliasKind.REDIRECT_MATCH), VHOST, R78)
    assert fits.locations and fits.lost is None


def test_a_location_longer_than_httpd_takes_is_not_carried():
    """httpd keeps a location's path or pattern in 255 bytes (HTTPD_LOCATION_MAX): a longer
    one is "server location truncated", and httpd does not start at all; a target that does
    not fit beside a location's settings in one of its messages stops it too."""
    fits = translate(_redirect("^/d/" + "a?" * 125, "/mailman/",
                               kind=WebAliasKind.REDIRECT_MATCH), VHOST, R78)
    assert len(fits.locations[0].pattern) == 254
    for alias in (_redirect("^/d/" + "a?" * 126, "/mailman/", kind=WebAliasKind.REDIRECT_MATCH),
                  _redirect("/" + "l" * 260, "/mailman/")):
        c = translate(alias, VHOST, R78)
        assert c.locations == [] and "HTTPD_LOCATION_MAX" in c.lost
    # and a target longer than httpd passes in one message with a location's settings
    fixed = WebAliasKind.REDIRECT_MATCH
    assert translate(_redirect("^/l$", "/" + "x" * 6143, kind=fixed), VHOST, R78).locations
    c = translate(_redirect("^/l$", "/" + "x" * 6144, kind=fixed), VHOST, R78)
    assert c.locations == [] and "16 KiB" in c.lost

