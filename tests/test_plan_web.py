"""The web side of the plan: httpd server names from the old virtual hosts, HTTPS with
acme-client, the old addresses that must keep working (report and post-checks), and the old
host's Apache proxy, which the real Apache must accept.

OpenBSD's httpd and acme-client cannot run here; their files are checked against
httpd.conf(5) and acme-client.conf(5) as documented (the grammar each line follows). The
probes the post-checks make are run against real HTTP and HTTPS servers on loopback.
"""

from __future__ import annotations

import http.server
import re
import shutil
import ssl
import subprocess
import threading

import pytest

from conftest import SAMPLES
from migrate.probes import http_check as _http_check
from migrate.errors import Exit, MigrateError
from migrate.inspection import inspect_tree
from migrate.model import Origin
from migrate.planning import build_plan, resolve_target
from migrate.sources import LocalTree

V6 = "2001:db8:50::25"
NETSIGHT = {"hostname": "lists.netsight.example", "ipv6": [V6],
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
    assert all(p.get("status", 200) == 200 for p in probes)


def test_every_old_address_is_in_the_report_and_the_post_checks(netsight_inv):
    _, plan = _plan(netsight_inv)
    report = plan.files["report.md"]
    section = report.split("## Old web addresses that must keep working")[1].split("\n## ")[0]
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
    assert "Old web addresses that must keep working" in plan.files["report.html"]
    assert "senddigests" in report.split("## Cron jobs and log rotation")[1]


def test_old_https_links_without_https_on_the_new_host_are_a_warning(netsight_inv):
    import copy
    inv = copy.deepcopy(netsight_inv)
    for ml in inv.lists:
        ml.web_page_url = (ml.web_page_url or "").replace("http://", "https://")
    _, plan = _plan(inv, tls="none")
    [finding] = [f for f in plan.findings if f.id == "plan.https-links-break"]
    assert "https://" in finding.message
    assert "breaks" in plan.files["report.md"]


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
