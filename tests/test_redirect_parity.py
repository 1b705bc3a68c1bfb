"""Redirects proved, not assumed: the real Apache and the real OpenBSD httpd asked the same URLs.

Each old redirect of ``CORPUS`` (the constructs Mailman hosts use, and the ones a translation
to httpd gets wrong: ``&`` in a 2.4 target, a digit after ``$1``, ``[\\w]``, status 300, a
fixed path in mixed case, ``%{QUERY_STRING}_ENC``...) sits in a virtual host of its own of one
Apache 2.4 configuration. The project's Apache parser reads it (``parse_apache``), the emitter
translates each redirect for OpenBSD 7.8 (``httpd_redirects.translate``) and writes its
locations as httpd.conf has them (``Location.lines``), one server block per virtual host.
Then, in a network namespace of the test's own (``unshare --net``: nothing outside sees it):

* **old**: Debian's real ``apache2`` (mod_alias, mod_rewrite) on that configuration,
  127.0.0.1:80;
* **new**: OpenBSD's real ``httpd`` (tests/httpdtools.py) on the emitted server blocks,
  127.0.0.2:80; neither serves files (an empty document root), so a path no redirect takes
  is 404 on both.

Every URL ``redirect_urls.sample_urls`` generates from the redirect's pattern (matches and
near misses: ``_``, digits after captures, upper and lower case, ``&``, query strings) is asked
of both with the virtual host's name, and the answers compared: the status, and the Location
resolved against the URL asked for, its path compared percent-decoded (Apache escapes a
capture's ``&`` as itself, httpd as ``%26``: the same path to any server).

* A redirect carried whole answers every URL the same.
* One carried without the request's query string (``Carried.query``: Apache appended it,
  httpd cannot append it only when there is one) answers every URL the same but for the query
  string, and a URL with one differently.
* One not carried answers nothing on the new host (404), and the URL its finding names is
  one the old host did redirect.

What this proves is what web-parity.md's ``ok`` claims for a redirect: the plan cannot run the
old Apache, so the row's status is the translation's verdict, and this test holds the
translation to the real servers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from apachetools import MODULES, apache_binary
from conftest import need
from httpdtools import httpd_binary
from emitters.httpd_redirects import Carried, translate
from emitters.release import Release
from parsers.apache import parse_apache
from migrate.app.sources import LocalTree
from redirect_urls import sample_urls

R78 = Release(7, 8)
CONFIG = "usr/local/etc/apache24/httpd.conf"  # the port's path: the parser reads it as 2.4

#: (directive, what it is here for); each in a virtual host of its own (r0.test, r1.test...)
CORPUS = [
    ("Redirect permanent /lists http://lists.example.org/mailman/listinfo", "a path and below"),
    ("Redirect /old/ /mailman/", "a folder, to a path"),
    ("Redirect /Lists /mailman/listinfo", "case: a fixed path in mixed case"),
    ("Redirect gone /mailman/gone", "gone"),
    ("Redirect 303 /see /mailman/listinfo", "303"),
    ("Redirect /find/ /mailman/search?q=", "the rest of the path in a query"),
    ("Redirect /mailman/moved http://mailman.example.org/mailman/moved", "the same path"),
    ("RedirectMatch ^/(.*)$ https://mailman.example.org/$1", "every path, the same elsewhere"),
    ("RewriteRule ^/(.*)$ http://%{HTTP_HOST}:8080/mailman/$1 [R=301,L]", "a port"),
    ("RewriteRule ^/(.*)$ http://mailman.example.org/$1 [R=301,QSD]", "the same, QSD"),
    ("RedirectMatch ^/$ /mailman/listinfo", "the site root"),
    ("RedirectMatch 301 ^/list/([a-z-]+)$ /mailman/listinfo/$1", "a capture"),
    ("RedirectMatch ^/x/(.*)$ /mailman/&?a=1", "& in a 2.4 target"),
    ("RedirectMatch ^/v/([0-9]+)$ /pipermail/$10", "a digit after $1"),
    (r"RedirectMatch ^/w/([\w]+)$ /mailman/listinfo/$1", r"[\w] with _"),
    (r"RedirectMatch ^/u/(\w+)/(\d+)$ /pipermail/$1/$2.html", r"\w and \d"),
    ("RedirectMatch 300 ^/multi$ /mailman/listinfo", "300"),
    ("RedirectMatch ^/Arch/([^/]+)/?$ /pipermail/$1/", "case in a pattern"),
    (r"RedirectMatch ^/m/(.*)\.html$ /mailman/$1", "an escaped dot"),
    ("RedirectMatch ^/k/(.*?)x$ /mailman/$1", "a lazy repeat"),
    ("RewriteRule ^/archive/(.*)$ /pipermail/$1 [R=301,L]", "a rewrite"),
    ("RewriteRule ^/q/(.*)$ /mailman/$1?%{QUERY_STRING}_ENC [R=302,L]", "%{QUERY_STRING}_ENC"),
    ("RewriteRule ^/s/(.*)$ /mailman/search?q=$1 [R,L]", "a capture in the query"),
    ("RewriteRule ^/t/(.*)$ /pipermail/$1?sort=date [R,L]", "a target with a query"),
    ("RewriteRule ^/drop$ /mailman/listinfo? [R,L]", "a query dropped by ?"),
    ("RewriteRule ^/qsd/(.*)$ /mailman/$1 [R,QSD]", "a query dropped by QSD"),
    ("RewriteRule ^/p/(.*)$ /mailman/p%{REQUEST_URI} [R,L]", "REQUEST_URI is the path"),
    ("RewriteRule ^/h/(.*)$ http://%{HTTP_HOST}/mailman/$1 [R,L]", "HTTP_HOST"),
    ("RewriteRule ^/mailman/secret/ - [F]", "forbidden"),
    ("RedirectMatch ^/g/" + "(a)" * 32 + "$ /mailman/", "32 captures: beyond httpd's matcher"),
    ("RedirectMatch ^/n/" + "(a)" * 31 + "$ /mailman/$1", "31 captures: within it"),
    ("RedirectMatch ^/d/" + "a?" * 125 + " /mailman/", "a location of 254 characters"),
    ("RedirectMatch ^/e/" + "a?" * 126 + " /mailman/", "255 characters: beyond httpd's"),
    ("RedirectMatch ^/long$ /mailman/" + "x" * 6135, "a target of 6144 characters"),
    ("RedirectMatch ^/longer$ /mailman/" + "x" * 7200, "7209: beyond httpd's message"),
    # Lua's () is a position capture; httpd's port of it gives the empty string, as PCRE
    ("RedirectMatch ^/o/()(.*)$ /mailman/$2/$1", "an empty group"),
]

APACHE_CONF = """\
ServerRoot "{base}/apache"
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule alias_module {modules}/mod_alias.so
LoadModule rewrite_module {modules}/mod_rewrite.so
User nobody
Group nogroup
PidFile "{base}/apache/httpd.pid"
ErrorLog "{base}/apache/error.log"
Listen 127.0.0.1:80
ServerName default.test
DocumentRoot "{base}/empty"
<Directory />
    AllowOverride None
</Directory>
"""

SERVE = r'''
set -eu
B=$1
ip link set lo up
setsid {apache} -f "$B/{config}" -DFOREGROUND >"$B/apache.out" 2>&1 &
A=$!
setsid {httpd} -d -f "$B/httpd.conf" >"$B/httpd.out" 2>&1 &
H=$!
echo "$A $H" >"$B/pids"
trap 'kill $A $H 2>/dev/null || true' EXIT
python3 - <<'EOF'
import socket, time
for address in ("127.0.0.1", "127.0.0.2"):
    end = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((address, 80), 1).close(); break
        except OSError:
            if time.monotonic() > end: raise
            time.sleep(0.05)
EOF
python3 "$B/client.py" <"$B/requests.json" >"$B/answers.json"
'''

CLIENT = r'''
import http.client, json, sys
out = []
for r in json.load(sys.stdin):
    try:
        conn = http.client.HTTPConnection(r["address"], 80, timeout=20)
        conn.request("GET", r["path"], headers={"Host": r["host"]})
        resp = conn.getresponse()
        resp.read()
        out.append([resp.status, resp.getheader("Location")])
        conn.close()
    except Exception as exc:  # no answer (httpd closes the connection): status 0
        out.append([0, "%s: %s" % (type(exc).__name__, exc)])
json.dump(out, sys.stdout)
'''


def _resolve(url: str, location: str):
    """``location`` resolved against ``url``, its dot segments removed, split."""
    parts = urlsplit(urljoin(url, location))
    return parts._replace(path=urlsplit(urljoin("http://x/", parts.path or "/")).path)


def _same(url: str, a: tuple[int, str | None], b: tuple[int, str | None],
          query: bool = True) -> bool:
    """Same status and the same Location resolved against ``url`` (paths percent-decoded;
    ``query``: the query strings compared too)."""
    if a[0] != b[0] or (a[1] is None) != (b[1] is None):
        return False
    if a[1] is None:
        return True
    x, y = (_resolve(url, loc) for loc in (a[1], b[1]))
    return (x.scheme, x.netloc, unquote(x.path)) == (y.scheme, y.netloc, unquote(y.path)) \
        and (not query or unquote(x.query) == unquote(y.query))


@pytest.fixture(scope="module")
def answered():
    """{directive: (Carried, [(path, url, old answer, new answer)])}: the corpus asked of both
    real servers."""
    need(os.geteuid() == 0, "a network namespace needs root")
    need(shutil.which("unshare") is not None, "unshare (util-linux) is not installed")
    apache, httpd = apache_binary(), httpd_binary()
    for module in ("mod_alias", "mod_rewrite", "mod_mpm_prefork", "mod_authz_core"):
        need((MODULES / f"{module}.so").exists(), f"apache2's {module} is missing")
    base = Path(tempfile.mkdtemp(prefix="migrate-redirects-"))
    base.chmod(0o755)  # Apache's children (nobody) look at the document root below it
    try:
        for folder in ("apache", "empty", "logs"):
            (base / folder).mkdir()
        lines = [APACHE_CONF.format(base=base, modules=MODULES)]
        for i, (directive, _) in enumerate(CORPUS):
            lines += [f"<VirtualHost 127.0.0.1:80>", f"    ServerName r{i}.test",
                      "    RewriteEngine On", f"    {directive}", "</VirtualHost>"]
        (base / CONFIG).parent.mkdir(parents=True)
        (base / CONFIG).write_text("\n".join(lines) + "\n")
        web = parse_apache(LocalTree(base)).web
        assert web is not None and web.version == "2.4"
        conf = ['chroot "/"', f'logdir "{base}/logs"']
        carried: dict[str, tuple[str, Carried]] = {}
        for vh in web.virtual_hosts:
            (alias,) = [a for a in vh.aliases if a.kind.redirects]
            c = translate(alias, vh, R78, web.version)
            carried[alias.line] = (vh.server_name, c)
            conf += [f'server "{vh.server_name}" {{', "\tlisten on 127.0.0.2 port 80",
                     f'\troot "{base}/empty"']
            conf += [line for loc in c.locations for line in loc.lines()]
            conf.append("}")
        assert len(carried) == len(CORPUS), sorted(carried)
        (base / "httpd.conf").write_text("\n".join(conf) + "\n")
        asked = []
        for line, (host, c) in carried.items():
            paths = sample_urls(c.alias.kind.value, c.alias.url_path)
            if c.lost_path and c.lost_path not in paths:
                paths.append(c.lost_path)  # the URL the finding names
            asked += [(line, host, path) for path in paths]
        requests = [{"address": address, "host": host, "path": path}
                    for address in ("127.0.0.1", "127.0.0.2") for _, host, path in asked]
        (base / "requests.json").write_text(json.dumps(requests))
        (base / "client.py").write_text(CLIENT)
        script = SERVE.format(apache=apache, httpd=httpd, config=CONFIG)
        proc = subprocess.run(["unshare", "--net", "sh", "-c", script, "serve", str(base)],
                              capture_output=True, text=True, timeout=600,
                              start_new_session=True)  # both servers signal their process group
        logs = "".join(p.read_text(errors="replace")[-2000:] for p in
                       (base / "apache.out", base / "httpd.out", base / "apache/error.log")
                       if p.exists())
        assert proc.returncode == 0, proc.stderr + logs
        answers = json.loads((base / "answers.json").read_text())
        old, new = answers[:len(asked)], answers[len(asked):]
        out: dict[str, tuple[Carried, list]] = {line: (c, []) for line, (_, c) in carried.items()}
        for (line, host, path), o, n in zip(asked, old, new):
            out[line][1].append((path, f"http://{host}{path}", tuple(o), tuple(n)))
        yield out
    finally:
        # the servers, should the script not have stopped them (a timeout): by their ids
        for pid in (base / "pids").read_text().split() if (base / "pids").exists() else []:
            try:
                os.kill(int(pid), signal.SIGTERM)  # each stops its children
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(base, ignore_errors=True)


def _show(rows) -> str:
    return "\n".join(f"  {path}: old {o} new {n}" for path, _, o, n in rows)


@pytest.mark.parametrize("directive", [pytest.param(d, id=why) for d, why in CORPUS])
def test_each_redirect_answers_as_apache_did_or_says_what_changes(answered, directive):
    c, rows = answered[directive]
    assert rows, f"no URL generated for {directive}"
    assert any(300 <= o[0] < 400 or o[0] in (403, 410) for _, _, o, _ in rows), \
        "no sample URL reached the redirect on the old host:\n" + _show(rows)
    if not c.locations:  # not carried: nothing answers on the new host, and the finding's URL
        # is one whose answer changes
        assert c.lost and all(n == (404, None) for _, _, _, n in rows), _show(rows)
        named = [r for r in rows if r[0] == c.lost_path]
        assert named and not _same(named[0][1], named[0][2], named[0][3]), \
            f"the finding names {c.lost_path}, which answers the same:\n" + _show(rows)
        return
    if not c.query:
        assert c.lost is None, c.lost
        bad = [r for r in rows if not _same(r[1], r[2], r[3])]
        assert not bad, "carried whole, but answers differently:\n" + _show(bad)
        return
    # carried without the query string: the same but for it, and a URL with one changes
    bad = [r for r in rows if not _same(r[1], r[2], r[3], query="?" not in r[0])]
    assert not bad, "answers differently beyond the query string:\n" + _show(bad)
    changed = [r for r in rows if "?page=2" in r[0] and not _same(r[1], r[2], r[3])]
    assert changed, "no URL with a query string answers differently:\n" + _show(rows)
