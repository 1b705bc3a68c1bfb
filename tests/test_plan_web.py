"""The web side of the plan: httpd server names from the old virtual hosts, HTTPS with
acme-client, the old addresses that must keep working (report and post-checks), and the old
host's Apache proxy, which the real Apache must accept.

acme-client cannot run here; its file is checked against acme-client.conf(5) as documented.
httpd.conf is checked against httpd.conf(5) as documented for every era (the grammar each
line follows); the real OpenBSD httpd checks and serves the 6.4 and later files in
tests/test_httpd_real.py. The probes the post-checks make are run against real HTTP and
HTTPS servers on loopback.
"""

from __future__ import annotations

import http.server
import re
import shutil
import ssl
import subprocess
import threading

import pytest

from conftest import SAMPLE_HOSTS, SAMPLES
from httpdtools import answer, grammar_errors, servers
from migrate.core.probes import http_check as _http_check
from emitters.release import Release
from migrate.core.errors import Exit, MigrateError
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin, Source, WebAlias, WebAliasKind
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree

V6 = "2001:db8:50::25"
NETSIGHT = {"hostname": "lists.netsight.example", "ipv6": [V6], "destination": "mailman2",
            "smarthost": "smtp.upstream.example"}


@pytest.fixture(scope="module")
def netsight_inv():
    return inspect_tree(LocalTree(SAMPLES / "netsight"), Origin("local", "/samples/netsight"))


def _plan(inv, **flags):
    target = resolve_target(inv, {}, {**NETSIGHT, **flags})
    return target, build_plan(inv, target)


def _steps(plan) -> dict:
    import yaml
    data = yaml.safe_load(plan.files["plan.yaml"].split("\n", 1)[1])
    return {s["id"]: s for s in data["steps"]}


def test_old_https_vhost_means_acme_by_default(netsight_inv):
    target, plan = _plan(netsight_inv)
    assert target.tls == "acme"
    conf = plan.files["files/new/etc/httpd.conf"]
    servers = re.findall(r'^server "([^"]+)" \{\n((?:\t.*\n)+)\}', conf, re.M)
    assert [name for name, _ in servers] == ["lists.netsight.example"] * 2
    http, https = servers[0][1], servers[1][1]
    for body in (http, https):  # the old vhosts' names and aliases, on both
        assert re.findall(r'alias "([^"]+)"', body) == ["lists.riverbend.example",
                                                      "www.lists.netsight.example"]
    assert f"listen on {V6} port 80" in http and "fastcgi" not in http
    assert 'location "/.well-known/acme-challenge/*" {\n\t\troot "/var/www/acme"\n' \
           '\t\trequest strip 2' in http
    assert 'block return 301 "https://$HTTP_HOST$REQUEST_URI"' in http
    assert f"listen on {V6} tls port 443" in https and 'location "/pipermail/*"' in https
    acme = plan.files["files/new/etc/acme-client.conf"]
    assert "domain lists.netsight.example {" in acme
    assert "alternative names { lists.riverbend.example www.lists.netsight.example }" in acme
    assert f'domain full chain certificate "{target.tls_certificate}"' in acme
    assert f'domain key "{target.tls_key}"' in acme
    mm = plan.files["files/new/usr/local/lib/mailman/Mailman/mm_cfg.py.migrate"]
    assert "DEFAULT_URL_PATTERN = 'https://%s/mailman/'" in mm
    steps = _steps(plan)
    ids = list(steps)
    assert ids.index("dns-switch") < ids.index("new-acme") < ids.index("post-checks")
    assert "acme-client -n >/dev/null" in steps["new-files"]["check"]


def test_acme_client_conf_follows_its_documented_grammar(netsight_inv):
    """acme-client.conf(5): authority blocks (api url, account key) and domain blocks
    (alternative names, domain key, domain full chain certificate, sign with)."""
    _, plan = _plan(netsight_inv)
    text = plan.files["files/new/etc/acme-client.conf"]
    allowed = [r'authority [a-z]+ \{', r'\tapi url "https://[^"]+"', r'\taccount key "/[^"]+"',
               r"domain [a-z0-9.-]+ \{", r"\talternative names \{ [a-z0-9. -]+ \}",
               r'\tdomain key "/[^"]+"', r'\tdomain full chain certificate "/[^"]+"',
               r"\tsign with [a-z]+", r"\}", r"#.*", r""]
    depth = 0
    for line in text.splitlines():
        assert any(re.fullmatch(p, line) for p in allowed), line
        depth += line.count("{") - line.count("}") if not line.startswith("#") else 0
        assert depth in (0, 1)
    assert depth == 0


def test_tls_none_and_old_releases(netsight_inv):
    target, plan = _plan(netsight_inv, tls="none")
    assert "files/new/etc/acme-client.conf" not in plan.files
    conf = plan.files["files/new/etc/httpd.conf"]
    assert "port 443" not in conf and "block return 301" not in conf
    assert "new-acme" not in _steps(plan)
    _, old = _plan(netsight_inv, openbsd="6.3")
    assert "files/new/etc/acme-client.conf" not in old.files
    assert any(f.id == "plan.acme-v1" for f in old.findings)
    with pytest.raises(MigrateError) as err:
        _plan(netsight_inv, tls="letsencrypt")
    assert "setting tls: 'letsencrypt' is not one of: acme, none" in str(err.value)
    assert err.value.code == Exit.USAGE


def test_small_host_without_apache_plans_plain_http():
    inv = inspect_tree(LocalTree(SAMPLES / "small"), Origin("local", "/samples/small"))
    assert inv.web is None
    target = resolve_target(inv, {}, {"hostname": "lists.example.org", "ipv6": ["2001:db8::25"]})
    assert target.tls == "none"
    plan = build_plan(inv, target)
    probes = [a for a in _steps(plan)["post-checks"]["actions"] if a["do"] == "http"]
    assert probes and all(p["url"].startswith("http://[2001:db8::25]/") for p in probes)
    # no redirect to HTTPS: the list's pages answer, or redirect to Mailman 3's on the same
    # plain-HTTP host (OpenBSD 7.8's default list manager)
    assert all(p.get("status", 200) in (200, 302, 403) or
               (p.get("status") == 301 and p["location"].startswith("/")) for p in probes)
    assert any(p.get("status", 200) == 200 for p in probes)


def test_every_old_address_is_in_the_report_and_the_post_checks(netsight_inv):
    _, plan = _plan(netsight_inv)
    report = plan.files["report.md"]
    section = report.split("## Web parity")[1].split("\n## ")[0]
    probes = [a for a in _steps(plan)["post-checks"]["actions"] if a["do"] == "http"]
    for ml in netsight_inv.lists:
        listinfo = f"{ml.web_page_url}listinfo/{ml.name}"
        assert listinfo in section, listinfo
        path = listinfo.split("/", 3)[3]
        host = listinfo.split("/")[2]
        # the old http:// address redirects to the same one over HTTPS, which answers
        assert {"status": 301, "location": f"https://{host}/{path}", "host_header": host} \
            .items() <= next(p for p in probes if p["url"] == f"http://[{V6}]/{path}").items()
        page = next(p for p in probes if p["url"] == f"https://[{V6}]/{path}")
        assert page["host_header"] == host and page.get("status", 200) == 200
    assert "RedirectMatch ^/$ /mailman/listinfo" in section
    root = next(p for p in probes if p["url"] == f"https://[{V6}]/")
    assert (root["status"], root["location"]) == (302, "/mailman/listinfo")
    assert "<h2>Web parity</h2>" in plan.files["report.html"]
    assert "senddigests" in report.split("## Cron jobs and log rotation")[1]


def test_old_https_links_without_https_on_the_new_host_are_a_warning(netsight_inv):
    import copy
    inv = copy.deepcopy(netsight_inv)
    for ml in inv.lists:
        ml.web_page_url = (ml.web_page_url or "").replace("http://", "https://")
    _, plan = _plan(inv, tls="none")
    [finding] = [f for f in plan.findings if f.id == "plan.https-links-break"]
    assert "https://" in finding.message
    assert "nothing: the plan has no HTTPS" in plan.files["report.md"].split("## Web parity")[1]


# --- the old host's redirects, carried into httpd.conf ------------------------------------------

CAMPUS = {"hostname": "lists.cs.campus.example", "ipv6": ["2001:db8:70::25"],
          "destination": "mailman2"}
CAMPUS_CONF = "/usr/local/etc/apache22/Includes/mailman.conf"
RELEASES = ("5.7", "5.8", "6.1", "6.3", "6.4", "7.8")


@pytest.fixture(scope="module")
def campus_inv():
    return inspect_tree(LocalTree(SAMPLES / "campus"), Origin("local", "/samples/campus"))


def _campus(inv, **flags):
    target = resolve_target(inv, {}, {**CAMPUS, **flags})
    return target, build_plan(inv, target)


def _http_probes(plan) -> list[dict]:
    return [a for a in _steps(plan)["post-checks"]["actions"] if a["do"] == "http"]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("sample", SAMPLE_HOSTS)
@pytest.mark.parametrize("tls", ["acme", "none"])
def test_httpd_conf_follows_the_documented_grammar(sample, release, tls):
    inv = inspect_tree(LocalTree(SAMPLES / sample), Origin("local", f"/samples/{sample}"))
    flags = {"netsight": NETSIGHT, "campus": CAMPUS,
             "small": {"hostname": "lists.example.org", "ipv6": ["2001:db8:60::25"]},
             "hillcrest": {"hostname": "lists.hillcrest.example", "ipv6": ["2001:db8:90::25"]},
             "oakfield": {"hostname": "lists.oakfield.example", "ipv6": ["2001:db8:a0::25"]},
             }[sample]
    target = resolve_target(inv, {}, {**flags, "openbsd": release, "tls": tls,
                                      "destination": "mailman2"})
    conf = build_plan(inv, target).files["files/new/etc/httpd.conf"]
    assert grammar_errors(conf, Release.parse(release)) == []


def test_the_grammar_check_finds_what_a_release_lacks():
    conf = 'server "a.example" {\n\tlocation match "^/x(.*)$" {\n' \
           '\t\tblock return 301 "https://$HTTP_HOST/y%2"\n\t}\n}\n'
    errors = grammar_errors(conf, Release.parse("5.7"))
    assert any("location match" in e for e in errors)
    assert any("$HTTP_HOST" in e for e in grammar_errors(conf, Release.parse("6.0")))
    assert any("%2" in e for e in grammar_errors(conf, Release.parse("7.8")))
    assert grammar_errors(conf.replace("%2", "%1"), Release.parse("7.8")) == []
    assert grammar_errors('chroot "/\\"\n', Release.parse("7.8"))  # a backslash in quotes


@pytest.mark.parametrize("release", ["6.3", "7.8"])
def test_campus_redirects_are_carried_into_httpd_conf(campus_inv, release):
    _, plan = _campus(campus_inv, openbsd=release)
    conf = plan.files["files/new/etc/httpd.conf"]
    https = servers(conf)[-1]
    assert https["names"] == ["lists.cs.campus.example", "lists.campus.example"]
    patterns = [(loc["match"], loc["pattern"]) for loc in https["locations"]]
    # Apache's order (mod_rewrite, then mod_alias's redirects), before Mailman's locations
    assert patterns[:3] == [(True, "^/archive/(.*)$"), (True, "^/lists$"), (True, "^/lists(/.*)$")]
    assert patterns[3:] == [(False, "/mailman/*"), (False, "/icons/*"), (False, "/pipermail/*"),
                            (False, "/")]
    for host in https["names"]:
        assert answer(conf, 443, host, "/archive/2009/x.html") == (301, "/pipermail/2009/x.html")
        assert answer(conf, 443, host, "/lists") == (
            301, "http://lists.cs.campus.example/mailman/listinfo")
        assert answer(conf, 443, host, "/lists/seminar") == (
            301, "http://lists.cs.campus.example/mailman/listinfo/seminar")
        assert answer(conf, 443, host, "/listsx") == (404, None)  # Redirect takes whole segments
        assert answer(conf, 443, host, "/LISTS") == (404, None)  # and its case, as Apache did
        assert answer(conf, 443, host, "/mailman/listinfo") == (200, None)
    assert f"# RewriteRule ^/archive/(.*)$ /pipermail/$1 [R=301,L] ({CAMPUS_CONF}:37)" in conf
    assert not [f for f in plan.findings if f.id == "plan.web-redirect-not-carried"]
    report = plan.files["report.md"].split("## Web parity")[1]
    assert "carried into httpd.conf" in report and "not carried" not in report


def test_campus_on_57_carries_what_httpd_57_can_and_says_what_not(campus_inv):
    _, plan = _campus(campus_inv, openbsd="5.7")
    conf = plan.files["files/new/etc/httpd.conf"]
    assert "location match" not in conf and '"/lists"' not in conf
    # 5.7's location "/lists" would match /LISTS too, where Apache answered 404: not carried
    assert answer(conf, 443, "lists.campus.example", "/lists") == (404, None)
    lost = {f.source.line: f for f in plan.findings if f.id == "plan.web-redirect-not-carried"}
    assert set(lost) == {33, 37} and {f.source.file for f in lost.values()} == {CAMPUS_CONF}
    rule = lost[37]
    assert rule.severity == "warning" and "RewriteRule ^/archive/(.*)$" in rule.message
    assert "http://lists.cs.campus.example/archive/" in rule.hint and "5.8" in rule.message
    redirect = lost[33]
    assert "in part" not in redirect.message and "any case" in redirect.message
    assert "http://lists.cs.campus.example/lists will no longer redirect" in redirect.hint
    # 5.7's httpd has no $HTTP_HOST: the HTTP server sends its own name
    assert '"https://$SERVER_NAME$REQUEST_URI"' in conf and "$HTTP_HOST" not in conf


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("tls", ["acme", "none"])
def test_post_checks_expect_what_httpd_conf_answers(campus_inv, netsight_inv, release, tls):
    for inv, plan_it in ((campus_inv, _campus), (netsight_inv, _plan)):
        _, plan = plan_it(inv, openbsd=release, tls=tls)
        conf = plan.files["files/new/etc/httpd.conf"]
        probes = _http_probes(plan)
        # campus on 5.7 without HTTPS: its pages were https:// links, which break, and its
        # redirects are not carried (5.7's location matches /LISTS as /lists): nothing to ask
        assert probes or (plan_it is _campus and release == "5.7" and tls == "none")
        for probe in probes:
            port = 443 if probe["url"].startswith("https://") else 80
            path = "/" + probe["url"].split("/", 3)[3]
            status, location = answer(conf, port, probe["host_header"], path)
            assert status == probe.get("status", 200), (probe, status, location)
            if "location" in probe:
                assert location == probe["location"], probe


def _with_redirect(inv, alias, vhost=0):
    import copy
    inv = copy.deepcopy(inv)
    inv.web.virtual_hosts[vhost].aliases.append(alias)
    return inv


def test_a_redirect_answers_only_for_the_names_of_its_virtual_host(netsight_inv):
    line = "Redirect permanent /archives http://lists.riverbend.example/pipermail"
    alias = WebAlias(WebAliasKind.REDIRECT, "/archives", "http://lists.riverbend.example/"
                     "pipermail", "permanent", line, Source("/x.conf", 7), code=301)
    inv = _with_redirect(netsight_inv, alias, vhost=1)  # lists.riverbend.example only
    _, plan = _plan(inv)
    conf = plan.files["files/new/etc/httpd.conf"]
    assert grammar_errors(conf, Release.parse("7.8")) == []
    blocks = servers(conf)
    assert [b["names"] for b in blocks[1:]] == [
        ["lists.netsight.example", "www.lists.netsight.example"], ["lists.riverbend.example"]]
    assert answer(conf, 443, "lists.riverbend.example", "/archives/devtalk/") == (
        301, "http://lists.riverbend.example/pipermail/devtalk/")
    assert answer(conf, 443, "lists.netsight.example", "/archives/devtalk/") == (404, None)
    assert answer(conf, 443, "lists.riverbend.example", "/mailman/listinfo") == (200, None)
    assert answer(conf, 80, "lists.riverbend.example", "/archives") == (
        301, "https://lists.riverbend.example/archives")


def test_a_redirect_over_mailmans_urls_shadows_them_as_in_apache(netsight_inv):
    line = "RewriteRule ^/pipermail/(.*)$ https://archive.example.net/pipermail/$1 [R=301,L]"
    alias = WebAlias(WebAliasKind.REWRITE_RULE, "^/pipermail/(.*)$",
                     "https://archive.example.net/pipermail/$1", "[R=301,L]", line,
                     Source("/x.conf", 9), code=301, flags=["r=301", "l"])
    inv = _with_redirect(netsight_inv, alias, vhost=0)
    inv.web.virtual_hosts[2].aliases.append(alias)  # the HTTPS virtual host of the same name
    _, plan = _plan(inv)
    conf = plan.files["files/new/etc/httpd.conf"]
    assert answer(conf, 443, "lists.netsight.example", "/pipermail/announce/") == (
        301, "https://archive.example.net/pipermail/announce/")
    assert answer(conf, 443, "lists.riverbend.example", "/pipermail/devtalk/") == (200, None)
    assert conf.count("block return 301 \"https://archive.example.net") == 1  # one for both


def test_an_inexpressible_redirect_is_a_finding_with_its_file_and_line(netsight_inv):
    line = "RewriteRule ^/lists/(.*)$ /mailman/listinfo/$1 [R,NC]"
    alias = WebAlias(WebAliasKind.REWRITE_RULE, "^/lists/(.*)$", "/mailman/listinfo/$1",
                     "[R,NC]", line, Source("/usr/local/etc/apache24/Includes/m.conf", 41),
                     code=302, flags=["r", "nc"])
    _, plan = _plan(_with_redirect(netsight_inv, alias))
    (finding,) = [f for f in plan.findings if f.id == "plan.web-redirect-not-carried"]
    assert finding.severity == "warning"
    assert finding.source == Source("/usr/local/etc/apache24/Includes/m.conf", 41)
    assert "flag NC" in finding.message and line in finding.message
    assert "http://lists.netsight.example/lists/ will no longer redirect" in finding.hint
    conf = plan.files["files/new/etc/httpd.conf"]
    assert "/lists/" not in conf and len(servers(conf)) == 2


@pytest.mark.parametrize("target", [
    'http://evil.example/"; }\nserver "x" {', "http://evil.example/a\\b",
    "http://evil.example/\n\tlocation * { block drop }", "http://evil.example/%1%",
    "http://evil.example/$HTTP_HOST", "http://evil.example/${X}", 'x" { block drop } #',
])
def test_hostile_redirect_targets_never_break_httpd_conf(netsight_inv, target):
    line = f"Redirect /lists {target}"
    alias = WebAlias(WebAliasKind.REDIRECT, "/lists", target, None, line,
                     Source("/usr/local/etc/apache24/httpd.conf", 3), code=302)
    _, plan = _plan(_with_redirect(netsight_inv, alias))
    conf = plan.files.get("files/new/etc/httpd.conf")
    assert conf is not None
    assert grammar_errors(conf, Release.parse("7.8")) == []
    live = [line for line in conf.split("\n") if not line.lstrip().startswith("#")]
    assert not [line for line in live if "evil.example" in line or "block drop" in line]
    assert len(servers(conf)) == 2
    assert any(f.id in ("plan.web-redirect-not-carried", "plan.unsafe-value")
               for f in plan.findings)


# --- the probes, against real servers ------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        host = self.headers.get("Host", "")
        if self.path == "/old":
            self.send_response(301)
            self.send_header("Location", f"https://{host}/new")
            self.end_headers()
            return
        body = f"<h1>{host} {self.path}</h1>".encode()
        self.send_response(200 if self.path.startswith("/mailman/") else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_http_probe_status_location_and_body():
    server = _serve(http.server.HTTPServer(("127.0.0.1", 0), _Handler))
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert _http_check(f"{base}/mailman/listinfo/users", "lists.example", "users") is None
        assert "does not show" in _http_check(f"{base}/mailman/x", "lists.example", "nope")
        assert _http_check(f"{base}/old", "lists.example", None, 301,
                           "https://lists.example/new") is None
        problem = _http_check(f"{base}/old", "lists.example", None, 301, "https://else/new")
        assert "redirects to https://lists.example/new" in problem
        assert "answers 404" in _http_check(f"{base}/pipermail/x/", "lists.example", None)
        assert "answers 301" in _http_check(f"{base}/old", "lists.example", None)  # not followed
    finally:
        server.shutdown()


def test_https_probe_sends_the_web_name_as_server_name(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=lists.example", "-addext", "subjectAltName=DNS:lists.example",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    names = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _serve(server)
    url = f"https://127.0.0.1:{server.server_port}/mailman/listinfo"
    try:
        # self-signed: refused when verified (the post-checks verify), accepted when not
        assert "CERTIFICATE_VERIFY_FAILED" in _http_check(url, "lists.example", None)
        assert _http_check(url, "lists.example", "lists.example", verify=False) is None
        assert names[-1] == "lists.example"  # SNI: the web name, not the address
    finally:
        server.shutdown()


# --- the old host's Apache proxy, checked by the real Apache --------------------------------------


def test_old_host_apache_proxy_is_accepted_by_apache(netsight_inv, tmp_path):
    """The old host's Apache after the move: mailman.conf replaced by the emitted proxy
    virtual hosts, mod_proxy loaded; `apache2 -t` must accept it, and its virtual hosts
    serve the old names on 80 and (with the old certificate) 443."""
    from apachetools import apache_binary, debianize, dump_vhosts, run
    binary = apache_binary()
    _, plan = _plan(netsight_inv)
    host = tmp_path / "host"
    shutil.copytree(SAMPLES / "netsight" / "usr/local/etc/apache24",
                    host / "usr/local/etc/apache24")
    includes = host / "usr/local/etc/apache24/Includes"
    (includes / "mailman.conf").write_text(plan.files["files/old/apache-proxy.conf"])
    main = host / "usr/local/etc/apache24/httpd.conf"
    main.write_text(main.read_text().replace(
        "LoadModule rewrite_module",
        "LoadModule proxy_module libexec/apache24/mod_proxy.so\n"
        "LoadModule proxy_http_module libexec/apache24/mod_proxy_http.so\n"
        "LoadModule rewrite_module"))
    adapted = debianize(host, "/usr/local/etc/apache24/httpd.conf", tmp_path / "t", binary)
    res = run(binary, adapted.config)
    assert res.returncode == 0 and "Syntax OK" in res.stderr, res.stderr
    res = run(binary, adapted.config, "DUMP_VHOSTS")
    vhosts = {(v.address, v.name) for v in dump_vhosts(res.stdout + res.stderr, adapted.root)}
    assert ("*:80", "lists.netsight.example") in vhosts
    assert ("*:443", "lists.netsight.example") in vhosts


def test_a_pattern_nested_too_deep_is_a_finding_not_a_traceback(netsight_inv):
    """Apache's PCRE refuses parentheses nested deeper than 250; Python's own parser runs out
    of stack a little deeper: such a pattern (from a hand-made inventory too) is refused."""
    deep = "^/" + "(" * 5000 + "mailman" + ")" * 5000 + "$"
    alias = WebAlias(WebAliasKind.REDIRECT_MATCH, deep, "/mailman/$1", None,
                     f"RedirectMatch {deep} /mailman/$1",
                     Source("/usr/local/etc/apache24/Includes/m.conf", 7), code=302)
    _, plan = _plan(_with_redirect(netsight_inv, alias))
    (finding,) = [f for f in plan.findings if f.id == "plan.web-redirect-not-carried"]
    assert "deeper than 250" in finding.message and finding.source.line == 7


def test_the_apache_version_of_the_inventory_reads_a_redirect_match_target(netsight_inv):
    """netsight runs Apache 2.4 (apache24): its RedirectMatch's & is the character, not the
    whole match that 2.2 made of it (and httpd's %0)."""
    assert netsight_inv.web.version == "2.4"
    line = "RedirectMatch ^/x/(.*)$ /mailman/$1&a"
    alias = WebAlias(WebAliasKind.REDIRECT_MATCH, "^/x/(.*)$", "/mailman/$1&a", None, line,
                     Source("/usr/local/etc/apache24/Includes/m.conf", 9), code=302)
    _, plan = _plan(_with_redirect(netsight_inv, alias))
    conf = plan.files["files/new/etc/httpd.conf"]
    assert 'block return 302 "/mailman/%1&a"' in conf and "%0" not in conf
