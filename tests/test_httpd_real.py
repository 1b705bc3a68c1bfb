"""The emitted httpd.conf on OpenBSD's real httpd (built from ../shared/tools/openbsd-httpd,
tests/httpdtools.py): ``httpd -n`` accepts it, and ``httpd -d`` serves Mailman's pages from it.

* ``httpd -n`` on files/new/etc/httpd.conf of every sample host, every release from 6.4 to the
  newest and both ``--tls`` modes: exit 0, "configuration OK" and nothing else. With TLS httpd
  loads the certificate and key the plan names (it warns "failed to load public/private keys"
  and still exits 0 without them, which counts as a failure here): a real self-signed pair
  lies at those paths, in a private mount namespace whose /etc/ssl is the test's folder. This
  httpd is OpenBSD 7.5's code, which reads the grammar of 6.4 and later (``request strip``);
  it rejects a 6.3 plan's ``root { ..., strip 1 }``, so the releases before 6.4 keep their
  documented-grammar checks (tests/test_plan_web.py, ``grammar_errors``).
* Serving: the real httpd runs the emitted httpd.conf of a sample in network and mount
  namespaces made by the test (tests/e2etools.py: documentation addresses on a bridge only),
  with Debian's fcgiwrap standing in for OpenBSD's slowcgi (the same FastCGI-to-CGI gateway
  role) on the plan's socket path, run as the user www as OpenBSD's slowcgi is, in front of
  the real Mailman 2.1's CGI wrappers (tests/mailmantools.py ``openbsd``: the package's
  layout, its CGI wrapper built for the group www). The sample's lists are made with the real
  ``newlist`` and its archives copied as the plan's rsync would; the answers are Mailman's
  own pages, the archive's files, Mailman's icons and httpd's own redirects, and the plan's
  post-checks (its ``Http`` actions) pass against them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, SAMPLES, WAIT_UNTIL_SH, WaitTimeout, golden_tool
from e2etools import PREFIX, world_run
from httpdtools import REAL_GRAMMAR_FROM, httpd_check, httpd_complaints, tls_files
from emitters.release import NEWEST_STABLE, Release
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin
from migrate.app.planning import build_plan, resolve_target
from migrate.app.sources import LocalTree

#: the target flags of each sample host, as tools/update_golden.py plans them
HOSTS = golden_tool().HOSTS
HTTPD_CONF = "files/new/etc/httpd.conf"


def _releases() -> list[str]:
    """Every release from 6.4 (the grammar this httpd reads) to the newest this tool knows."""
    newest = Release.parse(NEWEST_STABLE)
    out, major, minor = [], REAL_GRAMMAR_FROM.major, REAL_GRAMMAR_FROM.minor
    while Release(major, minor) <= newest:
        out.append(f"{major}.{minor}")
        major, minor = (major + 1, 0) if minor == 9 else (major, minor + 1)
    return out


RELEASES = _releases()
_INVENTORIES: dict[str, object] = {}


def _inventory(sample: str):
    if sample not in _INVENTORIES:
        _INVENTORIES[sample] = inspect_tree(LocalTree(SAMPLES / sample),
                                            Origin("local", f"/samples/{sample}"))
    return _INVENTORIES[sample]


def httpd_conf(sample: str, release: str, tls: str) -> str:
    inv = _inventory(sample)
    target = resolve_target(inv, {}, dict(HOSTS[sample], openbsd=release, tls=tls,
                                          destination="mailman2"))
    return build_plan(inv, target).files[HTTPD_CONF]


def test_the_releases_run_from_64_to_the_newest():
    assert RELEASES[0] == "6.4" and RELEASES[-1] == NEWEST_STABLE
    assert "6.9" in RELEASES and "7.0" in RELEASES and len(RELEASES) == len(set(RELEASES))


@pytest.mark.parametrize("tls", ["acme", "none"])
@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("sample", sorted(HOSTS))
def test_real_httpd_n_accepts_every_64_and_later_httpd_conf(sample, release, tls, tmp_path):
    conf = httpd_conf(sample, release, tls)
    assert bool(tls_files(conf)["certificate"]) == (tls == "acme")  # the TLS files are loaded
    proc = httpd_check(conf, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "configuration OK" in proc.stdout + proc.stderr
    assert httpd_complaints(proc) == [], proc.stdout + proc.stderr


def test_real_httpd_n_says_when_the_tls_files_are_missing(tmp_path):
    """The failure the TLS files above prevent: httpd -n warns and still exits 0, and
    ``httpd_complaints`` sees the warning."""
    from httpdtools import httpd_binary
    conf = httpd_conf("netsight", NEWEST_STABLE, "acme").replace(
        "/etc/ssl/", f"{tmp_path}/absent/")
    (tmp_path / "httpd.conf").write_text(conf)
    proc = subprocess.run([httpd_binary(), "-n", "-f", str(tmp_path / "httpd.conf")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert any("failed to load public/private keys" in line for line in httpd_complaints(proc))


@pytest.mark.parametrize("old, new, said", [
    ('\tlocation "/icons/*" {\n', '\tlocation "/icons/*" {\n' * 2, "inside location"),
    ('\t\tfastcgi socket', '\t\tfastcgi sockett', "syntax error"),
    ('chroot "/"\n', 'chroot "/"\nrequest strip 1\n', "syntax error"),
    ('\t\trequest strip 1\n', '\t\trequest strip "one"\n', "syntax error"),
])
def test_real_httpd_n_rejects_a_broken_httpd_conf(old, new, said, tmp_path):
    conf = httpd_conf("netsight", NEWEST_STABLE, "none")
    assert old in conf
    proc = httpd_check(conf.replace(old, new, 1), tmp_path)
    assert proc.returncode != 0, proc.stderr
    assert said in proc.stderr and httpd_complaints(proc)


def test_a_63_httpd_conf_is_not_this_httpds_grammar(tmp_path):
    """The era split is real: a 6.3 plan writes ``root { "/dir", strip 1 }``, which the
    7.5-era httpd refuses, and the 6.4 plan of the same host passes."""
    conf = httpd_conf("netsight", "6.3", "none")
    assert 'root { "/usr/local/lib/mailman/cgi-bin", strip 1 }' in conf
    proc = httpd_check(conf, tmp_path / "63")
    assert proc.returncode != 0 and "syntax error" in proc.stderr, proc.stderr
    proc = httpd_check(httpd_conf("netsight", "6.4", "none"), tmp_path / "64")
    assert proc.returncode == 0 and httpd_complaints(proc) == [], proc.stderr


# --- serving: the real httpd, fcgiwrap for slowcgi, the real Mailman's CGI -------------------

NEW = PREFIX + "26"  # the new host's address in the test's namespaces (tests/e2etools.py)
NETSIGHT = dict(HOSTS["netsight"], ipv6=[NEW], destination="mailman2")
MM_OWNER = "owner@netsight.example"

#: one request from the world namespace: status, Location and body (to a file) by curl, with the
#: web name resolved to the new host's address (SNI and Host are the name, as a browser's)
CURL = ("curl -s -o {out} -w '%{{http_code}} %{{redirect_url}}' --max-time 20 "
        "--cacert {ca} --connect-to {name}:{port}:[{addr}]:{port} {scheme}://{name}{path}")

#: the plan's post-checks (its Http actions), as the cutover applies them, from the world
#: namespace: prints one line per problem
POST_CHECKS = r'''
import sys, yaml
from migrate.core.probes import http_check
plan = yaml.safe_load(open(sys.argv[1]).read().split("\n", 1)[1])
step = next(s for s in plan["steps"] if s["id"] == "post-checks")
probes = [a for a in step["actions"] if a["do"] == "http"]
print("probes", len(probes))
for a in probes:
    problem = http_check(a["url"], a.get("host_header"), a.get("expect"), a.get("status") or 200,
                         a.get("location"), a.get("verify") is not False)
    if problem:
        print("problem", problem)
'''


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The new host of the netsight sample: its lists made by the real Mailman's newlist (the
    sample's archive pages copied in, as the plan's rsync brings them), the emitted
    httpd.conf for both TLS modes, a self-signed pair at the plan's certificate paths, and
    fcgiwrap on slowcgi's socket. ``start(tls)`` (re)starts httpd on that mode's file."""
    import os
    import shutil
    import tempfile
    from pathlib import Path
    from e2etools import Host, Network
    from httpdtools import fcgiwrap_binary, httpd_binary, httpd_sh, slowcgi_sh, ssl_tree
    from mailmantools import mailman_build
    from emitters.common import SLOWCGI_SOCKET
    from migrate.app.planning import write_plan
    from conftest import need
    need(os.geteuid() == 0, "network namespaces need root")
    for tool in ("ip", "nsenter", "unshare", "setpriv", "curl"):
        need(shutil.which(tool) is not None, f"{tool} is not installed")
    httpd, fcgiwrap = httpd_binary(), fcgiwrap_binary()
    build = mailman_build("openbsd")
    base = Path(tempfile.mkdtemp(prefix="migrate-httpd-"))
    base.chmod(0o755)
    inv = _inventory("netsight")
    plans = {}
    for tls in ("acme", "none"):
        plan = build_plan(inv, resolve_target(inv, {}, dict(NETSIGHT, tls=tls)))
        write_plan(plan, str(base / f"plan-{tls}"))
        plans[tls] = base / f"plan-{tls}"
    ssl = ssl_tree(plans["acme"].joinpath(HTTPD_CONF).read_text(), base / "etc-ssl")
    shutil.copytree(build / "usr/local/lib/mailman", base / "mm", symlinks=True)
    shutil.copytree(build / "var/spool/mailman", base / "var", symlinks=True)
    net = Network()
    host = None
    try:
        host = Host(net, "new", [
            ("tmpfs", "755", "/usr/local"),
            ("bind", str(base / "mm"), "/usr/local/lib/mailman"),
            ("shadow", "-", "/etc"),
            ("bind", str(ssl), "/etc/ssl"),
            ("shadow", "-", "/var"),
            ("shadow", "-", "/var/spool"),
            ("bind", str(base / "var"), "/var/spool/mailman"),
            ("tmpfs", "755", "/var/www"),
            ("mkdir", "755", "/var/www/logs"),
            ("mkdir", "755", "/var/www/run"),
            ("tmpfs", "755", "/run"),
        ])
        mm = "/usr/local/lib/mailman"
        sample = SAMPLES / "netsight" / "usr/local/mailman/archives/private"
        lines = [f"{mm}/bin/check_perms -f >/dev/null 2>&1 || true"]
        for ml in inv.lists:
            url_host = ml.web_page_url.split("/")[2]
            lines.append(f"{mm}/bin/newlist -q -u {url_host} -e {ml.host_name} {ml.name} "
                         f"{MM_OWNER} secret >/dev/null")
            lines.append(f"echo 'archive_private = {int(bool(ml.archive_private))}' > /run/c "
                         f"&& {mm}/bin/config_list -i /run/c {ml.name}")
            if sample.joinpath(ml.name).is_dir():
                lines.append(f"cp -R {sample / ml.name}/. /var/spool/mailman/archives/private/"
                             f"{ml.name}/")
        lines.append(f"{mm}/bin/check_perms -f >/dev/null 2>&1 || true")
        host.run("set -e\n" + "\n".join(lines), timeout=300)
        host.run(slowcgi_sh(fcgiwrap, SLOWCGI_SOCKET))

        def start(tls: str, conf: str | None = None, again: bool = True,
                  listen: bool = True) -> subprocess.CompletedProcess:
            """httpd on ``tls``'s emitted file (or on ``conf``); the result of its start. Right
            after an httpd that failed at start, the next one now and then says it listens
            and does not answer (about one start in five here): it is started once more.
            ``listen=False``: the start of a file httpd must refuse, not waited on."""
            text = conf if conf is not None else plans[tls].joinpath(HTTPD_CONF).read_text()
            (base / "httpd.conf").write_text(text)
            host.run("[ -s /run/httpd.pid ] && kill \"$(cat /run/httpd.pid)\"; "
                     "while [ -s /run/httpd.pid ] && kill -0 \"$(cat /run/httpd.pid)\" "
                     "2>/dev/null; do sleep 0.1; done; rm -f /run/httpd.pid /run/httpd.log; "
                     f"cp {base}/httpd.conf /etc/httpd.conf; "
                     # an httpd that failed at start may leave a child holding its sockets
                     # (its pid file names the parent): none may listen when the next starts
                     "for p in $(ss -Hltnp | sed -n 's/.*((\"httpd\",pid=\\([0-9]*\\).*/\\1/p'); "
                     "do kill \"$p\"; done; i=0; while ss -Hltnp | grep -q '((\"httpd\",' "
                     "&& [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done", check=False)
            res = host.run(httpd_sh(httpd), check=False)
            if res.returncode == 0 and listen:
                try:
                    for port in (80, 443) if "tls port 443" in text else (80,):
                        host.wait_listening(NEW, port, timeout=30 if not again else 10)
                except WaitTimeout:
                    if not again:
                        raise
                    return start(tls, conf, again=False)
            return res

        def get(tls: str, path: str, name: str = "lists.netsight.example",
                scheme: str | None = None) -> tuple[int, str, bytes]:
            scheme = scheme or ("https" if tls == "acme" else "http")
            out = base / "body"
            cmd = CURL.format(out=out, ca=ssl / "lists.netsight.example.fullchain.pem",
                              name=name, port=443 if scheme == "https" else 80, addr=NEW,
                              scheme=scheme, path=path)
            res = world_run(net, ["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
            status, _, location = res.stdout.partition(" ")
            return int(status or 0), location, out.read_bytes() if out.exists() else b""

        def post_checks(tls: str) -> list[str]:
            script = base / "post_checks.py"
            script.write_text(POST_CHECKS)
            res = world_run(net, ["env", f"PYTHONPATH={REPO}",
                                  f"SSL_CERT_FILE={ssl / 'lists.netsight.example.fullchain.pem'}",
                                  sys.executable, str(script), str(plans[tls] / "plan.yaml")],
                            capture_output=True, text=True, timeout=600)
            assert res.returncode == 0, res.stderr
            assert int(res.stdout.split("\n")[0].split()[1]) > 0  # it probed something
            return [line for line in res.stdout.splitlines() if line.startswith("problem")]

        yield {"host": host, "start": start, "get": get, "post_checks": post_checks,
               "plans": plans, "inv": inv, "base": base}
    finally:
        if host is not None:
            host.close()
        net.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("tls", ["acme", "none"])
def test_the_real_httpd_serves_mailman_pages_archives_and_icons(web, tls):
    res = web["start"](tls)
    assert res.returncode == 0, web["host"].run("cat /run/httpd.log", check=False).stdout
    get = web["get"]
    for ml in web["inv"].lists:
        name = ml.web_page_url.split("/")[2]
        # Mailman's own listinfo page for the list: rendered by its CGI through fcgiwrap
        status, _, body = get(tls, f"/mailman/listinfo/{ml.name}", name)
        page = body.decode("utf-8", "replace")
        assert status == 200, page[:2000]
        assert f"<title>{ml.name} info page</title>" in page.lower(), page[:2000]
        assert "delivered by mailman" in page.lower() and "2.1.26" in page
        assert f"/subscribe/{ml.name}" in page  # the list's own subscribe form
        status, _, body = get(tls, f"/mailman/admin/{ml.name}", name)
        assert status == 200 and b"Administrator Authentication" in body
    # the archive of a public list: the sample's own index, byte for byte
    archive = SAMPLES / "netsight" / "usr/local/mailman/archives/private/users"
    status, _, body = get(tls, "/pipermail/users/")
    assert status == 200 and body == (archive / "index.html").read_bytes()
    month = next(p for p in sorted(archive.iterdir()) if p.is_dir())
    status, _, body = get(tls, f"/pipermail/users/{month.name}/thread.html")
    assert status == 200 and body == (month / "thread.html").read_bytes()
    # a private list's archive is not under /pipermail/; Mailman's private CGI asks for a login
    private = next(ml.name for ml in web["inv"].lists if ml.archive_private)
    assert get(tls, f"/pipermail/{private}/")[0] == 404
    status, _, body = get(tls, f"/mailman/private/{private}/")
    assert status == 200 and b"Private Archives Authentication" in body, body[:2000]
    # Mailman's icons, byte for byte
    icon = web["base"] / "mm" / "icons" / "mailman.jpg"
    status, _, body = get(tls, "/icons/mailman.jpg")
    assert status == 200 and body == icon.read_bytes()
    # the site root redirects to the lists' overview
    scheme = "https" if tls == "acme" else "http"  # curl gives the Location made absolute
    assert get(tls, "/")[:2] == (302, f"{scheme}://lists.netsight.example/mailman/listinfo")
    if tls == "acme":  # old http:// links: to the same URL over HTTPS, on every name
        for name in ("lists.netsight.example", "lists.riverbend.example"):
            status, location, _ = get(tls, "/pipermail/devtalk/?x=1", name, scheme="http")
            assert (status, location) == (301, f"https://{name}/pipermail/devtalk/?x=1")
    else:
        assert get(tls, "/mailman/listinfo/users", scheme="https")[0] == 0  # nothing on 443
    # the cutover's own post-checks, from outside, certificates verified (the test's CA)
    assert web["post_checks"](tls) == []


def test_the_post_checks_fail_when_slowcgi_is_gone(web):
    """What the cutover e2e's rollback test relies on: without slowcgi httpd still serves the
    archives but answers 500 for Mailman's pages, and the post-checks say so."""
    from httpdtools import fcgiwrap_binary, slowcgi_sh
    from emitters.common import SLOWCGI_SOCKET
    assert web["start"]("none").returncode == 0
    web["host"].run('kill -KILL "-$(cat /run/slowcgi.pid)"')  # fcgiwrap and its workers
    try:
        assert web["get"]("none", "/mailman/listinfo/users")[0] == 500
        assert web["get"]("none", "/pipermail/users/")[0] == 200
        problems = web["post_checks"]("none")
        assert problems and all("answers 500" in p for p in problems), problems
        assert len(problems) == sum(1 for ml in web["inv"].lists for _ in ("listinfo", "admin")) \
            + sum(1 for ml in web["inv"].lists if ml.archive_private)
    finally:
        web["host"].run(slowcgi_sh(fcgiwrap_binary(), SLOWCGI_SOCKET))


def test_without_logdir_the_real_httpd_does_not_start(web):
    """Why httpd.conf says ``logdir``: with ``chroot "/"`` httpd's default log folder is
    /logs, which OpenBSD does not have, and httpd exits at start."""
    conf = web["plans"]["none"].joinpath(HTTPD_CONF).read_text()
    assert '\nlogdir "/var/www/logs"\n' in conf
    web["start"]("none", conf.replace('\nlogdir "/var/www/logs"\n', "\n"), listen=False)
    # what counts is that httpd exits: its parent may show its sockets for a moment before
    # the logger fails (then the start script, which waits for a listener, returned 0)
    exited = web["host"].run(WAIT_UNTIL_SH + 'wait_until 30 "httpd to exit" gone '
                             '"$(cat /run/httpd.pid)"', check=False)
    log = web["host"].run("cat /run/httpd.log", check=False).stdout
    assert exited.returncode == 0 and "failed to open //logs/access.log" in log, log
    assert web["start"]("none").returncode == 0
    assert web["host"].run("ls /var/www/logs").stdout.split() == ["access.log", "error.log"]


def test_a_link_out_of_the_archive_answers_404_on_the_new_host(web):
    """Issue 23's reproduction: on the old host ``archives/private/users/etc`` links to
    ``../../../../../../../../etc`` (here 20 levels: the test host's folders lie deeper in
    the machine's own tree than a real host's). The plan's own sync of the list's archive pages (its
    ``copy_tree`` and copy line, run on the new host from the old host's tree) leaves it
    out, so httpd answers 404 under /pipermail/users/etc/. The same link put there by hand
    shows what carrying it meant: httpd follows it (``chroot "/"``) into the new host's /etc
    (to /etc/httpd.conf: the test host's /etc/passwd is a link into the test's own folder,
    which the user www cannot enter)."""
    import os
    import shutil
    from migrate.core.model import Severity
    host, get = web["host"], web["get"]
    old = web["base"] / "old"
    shutil.copytree(SAMPLES / "netsight", old, symlinks=True)
    up = "../" * 20 + "etc"
    os.symlink(up, old / "usr/local/mailman/archives/private/users/etc")
    inv = inspect_tree(LocalTree(old), Origin("local", str(old)))
    assert any(f.id == "mailman.link-leaves-folder" and f.severity == Severity.BLOCKER
               for f in inv.findings)
    plan = build_plan(inv, resolve_target(inv, {}, dict(NETSIGHT, tls="none")))
    lines = plan.files["rsync/presync.sh"].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("copy_tree() {"))
    end = lines.index("}", start)
    function = "\n".join(lines[start:end + 1]).replace(
        "'--rsh=ssh -o BatchMode=yes' ", "").replace('"$RNEW:$dst"', '"$dst"')
    copy = next(line for line in lines[end + 1:]
                if line.startswith("copy_tree /usr/local/mailman/archives/private/users/ "))
    host.run(f"set -eu\n{function}\n{copy.replace(' /usr/local/', f' {old}/usr/local/', 1)}")
    served = "/var/spool/mailman/archives/private/users"
    assert host.run(f"ls {served}").stdout.split().count("index.html") == 1  # it copied
    assert web["start"]("none").returncode == 0
    for path in ("/etc/passwd", "/etc/httpd.conf"):
        assert get("none", f"/pipermail/users{path}")[0] == 404
    assert host.run(f"[ ! -e {served}/etc ] && [ ! -L {served}/etc ]", check=False
                    ).returncode == 0
    # carried, the link would have served the new host's own files
    host.run(f"ln -s {up} {served}/carried")
    try:
        status, _, body = get("none", "/pipermail/users/carried/httpd.conf")
    finally:
        host.run(f"rm -f {served}/carried")
    conf = web["plans"]["none"].joinpath(HTTPD_CONF).read_bytes()
    assert (status, body) == (200, conf), (status, body[:200])
