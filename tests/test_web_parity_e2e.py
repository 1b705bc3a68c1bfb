"""Web parity, end to end: every URL of the old site answers the same on the new host.

For each sample host, two network namespaces made by the test (nothing outside them sees their
addresses):

* **old**: Debian's real ``apache2`` with the sample's own Apache configuration (its virtual
  hosts, Aliases, ScriptAliases, Redirects and RewriteRules as written), adapted only as
  ``tests/apachetools.py``'s ``debianize`` adapts it (module paths, ServerRoot, log folders,
  throwaway certificates), with one change of its own: ``User``/``Group`` are ``www-data``,
  the user Debian's apache2 runs CGIs as, which is the CGI group the Mailman build checks.
  Behind it the real GNU Mailman 2.1.26 in the FreeBSD port's layout (``/usr/local/mailman``,
  ``mailmantools``' ``freebsd`` flavour) with the sample's own ``mm_cfg.py``, lists and
  archives. Where the folder at the logos' prefix is Apache's own (campus's ``/icons/``),
  Mailman's logos are copied into it, as Mailman's INSTALL says and as the sample's README
  describes the host.
* **new**: OpenBSD's real ``httpd`` (``tests/httpdtools.py``) with the plan's emitted
  ``httpd.conf`` for OpenBSD 7.8 (the plan of ``tools/update_golden.py``'s flags), Debian's
  ``fcgiwrap`` standing in for OpenBSD's ``slowcgi`` (the same FastCGI-to-CGI role) on the
  plan's socket, run as ``www-data`` (OpenBSD: ``www``; the openbsd build's CGI group), and
  the new host's real Mailman (``openbsd`` flavour) set up as the plan sets it up
  (``tests/test_mailman_newhost.py``: the plan's rsync phases, its mm_cfg.py additions,
  its wrapper check and ``mailman-after-copy.sh``, for real). Where the plan serves HTTPS, a
  throwaway self-signed certificate lies at the paths httpd.conf names, in a private mount
  namespace over ``/etc/ssl``; acme-client's challenge folder holds one token.

Every URL of the old site (from the inventory and the archive trees) is asked of both hosts
with the same Host header (and TLS server name), and the answers compared. The URLs of
Mailman's CGI pages, logos and public archives are at the old host's own prefixes, the
inventory's ``Mailman.urls`` as the parsers read them (``/cgi-bin/mailman/``,
``/images/mailman/`` on oakfield; ``/mailman/``, ``/icons/``, ``/pipermail/`` elsewhere),
never fixed strings:

* same status and, for a redirect, the same target (its scheme may be https on the new host
  where the plan moves the site to HTTPS). An ``http://`` request the new host answers with a
  301 to the same URL over HTTPS is followed once; where the old host answered it so too (a
  port-80 virtual host's ``Redirect permanent / https://NAME/``: hillcrest, oakfield), the
  two hosts' ``https://`` answers are compared, each shown "(via https)", and what explains
  the ``https://`` URL's row (a finding) explains this one;
* with ``url_prefixes: package`` (oakfield is run so too, ``MOVED_HOSTS``), an old URL below
  a prefix the plan moves answers 301 to the same URL below the package's prefix: that 301 is
  followed once and the answer compared with the old one (old redirect targets and the
  addresses in Mailman's pages moved alike, the pages' whitespace aside: Mailman wraps its
  text at 70 columns); such a row is **changed**, said by ``plan.web-prefixes-moved`` (which
  must say too that the query string is lost where the 301 drops it: httpd cannot append it
  only when there is one; each list's page is asked with one, ``?language=en``);
* static files (archive pages, ``.txt``/``.txt.gz`` volumes, mboxes, icons): the same bytes;
* Mailman's pages: the same page (title, list name, description, the whole text once the old
  web address is replaced by the new), with every link to Mailman's CGI on the new page at the
  URL the plan serves it at (the ``DEFAULT_URL_PATTERN`` it writes into mm_cfg.py).

Each old redirect is asked for at the URLs ``tests/redirect_urls.py`` generates from its
pattern too: matches and near misses, with ``_``, digits after captures, upper and lower case,
``&`` and query strings (a redirect target's path is compared percent-decoded: Apache writes a
captured ``&`` as itself, httpd as ``%26``).

A URL the old host answered that the new host does not answer the same way is **missing**,
unless the plan has a finding for that URL (``plan.web-redirect-not-carried``,
``plan.web-root-changed``; for a URL whose redirect target differs in its query string alone,
``plan.web-redirect-query`` of that redirect): then it is **changed**. One the old host did
not answer (404) that the new host answers is **extra** (shown, not a failure); acme-client's
challenge path is asked of the new host over ``http://`` and must give the token. The test
prints the table and fails on any missing row. Every sample host runs
(``conftest.SAMPLE_HOSTS``). ``small`` had no web server (no Apache configuration): it has no
old URL, and the test checks that the new host serves each list's page from Mailman, at the
plan's CGI prefix.

The CGI group: the wrappers of both builds are compiled for ``www-data``, the user apache2
and fcgiwrap run them as (asserted). Debian's Mailman source skips the wrapper's group check
for a gid below 100 (www-data is 33), so a wrong group would not show here; the plan's own
wrapper check (``tests/test_mailman_newhost.py``) covers the mail wrapper's group.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from apachetools import apache_binary, debianize
from conftest import REPO, SAMPLE_HOSTS, SAMPLES, WAIT_UNTIL_SH, golden_tool, need, wait_until
from e2etools import answers, fresh_netns
from httpdtools import SLOWCGI_USER, fcgiwrap_binary, httpd_binary
from mailmantools import FLAVOURS, mailman_build
from emitters.common import SLOWCGI_SOCKET
from emitters.mailman2.paths import MM_PREFIX
from migrate.app.inspection import inspect_tree
from migrate.core.model import Origin, OriginKind, UrlPrefixes
from migrate.app.planning import build_plan, resolve_target, write_plan
from migrate.app.sources import LocalTree
from redirect_urls import sample_urls
from test_mailman_newhost import NS_SCRIPT, TEST_ENV, NewHost, append_mm_cfg, copy_script, steps

pytestmark = [pytest.mark.e2e, pytest.mark.realtool]  # out of `make test-fast`

update_golden = golden_tool()

RELEASE = "7.8"  # the newest release: the grammar the real httpd reads
OLD_MM = "/usr/local/mailman"  # the FreeBSD port's Mailman
CGI_USER = "www-data"  # Debian's apache2 user, the old host's CGI group
NEW_CGI_USER = SLOWCGI_USER  # www: fcgiwrap runs the new host's CGI as it, as slowcgi does
ARTICLES_PER_MONTH = 2  # the first and the last article of each month
ACME_TOKEN = "parity-token-0123456789"
#: how a row shows the plan's 301 from an old prefix it moved, followed
MOVED_HOP = "the plan's 301 from a moved prefix"
#: the plan's findings that say an old URL answers otherwise on the new host (and which)
EXPLAINED = ("plan.web-redirect-not-carried", "plan.web-root-changed")

#: The old host's mount namespace: an overlay over /usr/local (nothing outside changes), the
#: old Mailman at its own path and where the adapted Apache configuration names it.
OLD_NS = r'''
set -eu
T=$1; shift
mount --make-rprivate /
mkdir -p "$T/ovl/up" "$T/ovl/wk"
mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$T/ovl/up,workdir=$T/ovl/wk" /usr/local
mkdir -p /usr/local/mailman
mount --bind "$T/mm" /usr/local/mailman
mount --bind "$T/mm" "$T/apache/usr/local/mailman"
exec "$@"
'''

#: The new host's daemons, inside test_mailman_newhost's namespace: /etc/ssl with the plan's
#: certificate paths, /var/www with slowcgi's socket folder and acme-client's challenge
#: folder, then fcgiwrap (as slowcgi) and httpd in the foreground (``@WAIT@``: the shell's
#: ``wait_until``, put in after ``format``).
NEW_SERVE = r'''
set -eu
@WAIT@
B=$1
mount --bind "$B/ssl" /etc/ssl
mount -t tmpfs -o mode=755 tmpfs /var/www
mkdir -p /var/www/run /var/www/acme /var/www/logs
chown {user} /var/www/run
cp "$B/acme-token" /var/www/acme/{token}
(umask 0; exec setpriv --reuid={user} --regid={user} --clear-groups \
    {fcgiwrap} -s unix:{socket}) &
wait_until 30 "fcgiwrap to make its socket {socket}" test -S {socket}
exec {httpd} -d -f "$B/httpd.conf"
'''

#: Asks every request of one host, from inside its network namespace; JSON in, JSON out.
CLIENT = r'''
import base64, concurrent.futures, http.client, json, socket, ssl, sys, time
reqs = json.load(sys.stdin)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE

def one(r):
    # a connection that fails without an answer (a TLS handshake timed out on a loaded
    # machine) is tried again, twice: an answer, any answer, is final
    for attempt in range(3):
        got = once(r)
        if got["status"] or attempt == 2:
            return got
        time.sleep(1)

def once(r):
    t0 = time.monotonic()
    try:
        port = 443 if r["scheme"] == "https" else 80
        conn = http.client.HTTPConnection(r["address"], port, timeout=30)
        sock = socket.create_connection((r["address"], port), 30)
        if r["scheme"] == "https":
            sock = ctx.wrap_socket(sock, server_hostname=r["host"])
        conn.sock = sock
        conn.request("GET", r["path"], headers={"Host": r["host"]})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return {"status": resp.status, "location": resp.getheader("Location"),
                "type": resp.getheader("Content-Type") or "",
                "body": base64.b64encode(body).decode(), "seconds": time.monotonic() - t0}
    except Exception as exc:
        return {"status": 0, "location": None, "type": "", "body": "",
                "error": "%s: %s" % (type(exc).__name__, exc)}

# many at once: a small answer in two writes waits out the client's delayed ACK (40 ms)
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    json.dump(list(pool.map(one, reqs)), sys.stdout)
'''


# --- the two hosts ---------------------------------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Daemon:
    """A process group started in a network namespace; killed (the group) by ``close``."""

    def __init__(self, argv: list[str], log: Path, *logs: Path) -> None:
        self.log = log
        self.logs = [log, *logs]
        self.proc = subprocess.Popen(argv, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def wait_listening(netns: str, address: str, port: int, daemon: Daemon, timeout=30) -> None:
    def listening() -> bool:
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"the daemon for [{address}]:{port} in {netns} exited:\n"
                               + logs())
        return answers(["ip", "netns", "exec", netns], address, port)

    def logs() -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in daemon.logs
                         if p.exists())
    wait_until(listening, timeout, f"something to listen on [{address}]:{port} in {netns}",
               every=0.1, diagnose=logs)


def ask(netns: str, requests: list[dict]) -> list[dict]:
    proc = subprocess.run(["ip", "netns", "exec", netns, "python3", "-c", CLIENT],
                          input=json.dumps(requests), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for o in out:
        o["body"] = base64.b64decode(o["body"])
    return out


def certificate(folder: Path) -> tuple[Path, Path]:
    need(shutil.which("openssl") is not None, "openssl is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=parity.example", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@dataclass
class Site:
    """One sample: its inventory, plan, and both hosts serving."""

    name: str
    inv: object
    plan: object
    plan_dir: Path
    httpd_conf: str
    netns: dict[str, str]
    address: dict[str, str]
    daemons: list[Daemon] = field(default_factory=list)
    url_prefixes: str = "keep"  # the target's (Target.url_prefixes)

    @property
    def label(self) -> str:
        return self.name + (f" (url_prefixes: {self.url_prefixes})"
                            if self.url_prefixes != "keep" else "")

    @property
    def prefixes(self) -> UrlPrefixes:
        """Where the old host served Mailman's CGI, logos and public archives (the
        inventory's, read by the parsers)."""
        return self.inv.mailman.urls if self.inv.mailman else UrlPrefixes()

    def _setting(self, name: str) -> str:
        """A setting the plan writes into the new host's mm_cfg.py."""
        mm_cfg = self.plan.files[f"files/new{MM_PREFIX}/Mailman/mm_cfg.py.migrate"]
        return re.search(rf"^{name} = '([^']+)'$", mm_cfg, re.M).group(1)

    @property
    def cgi_url(self) -> str:
        """Where the plan serves Mailman's CGI: the ``DEFAULT_URL_PATTERN`` it writes into the
        new host's mm_cfg.py (``https://%s/cgi-bin/mailman/``)."""
        return self._setting("DEFAULT_URL_PATTERN")

    def cgi_base(self, host: str) -> str:
        return self.cgi_url % host

    @property
    def served(self) -> dict[str, str]:
        """Where the plan serves Mailman's CGI, logos and public archives, by kind: the
        prefixes it writes into mm_cfg.py."""
        archive = self._setting("PUBLIC_ARCHIVE_URL")
        return {"cgi": urlsplit(self.cgi_url % "x").path, "icons": self._setting("IMAGE_LOGOS"),
                "archive": urlsplit(archive.replace("%(listname)s", "")).path}

    @property
    def moved(self) -> dict[str, str]:
        """The old host's prefixes the plan serves elsewhere (``url_prefixes: package``):
        old -> new, the longest first."""
        return {old: new for old, new in sorted(
            ((getattr(self.prefixes, k), p) for k, p in self.served.items()),
            key=lambda m: -len(m[0])) if old != new}

    def moved_url(self, url: str) -> str | None:
        """Where the new host serves an old URL below a moved prefix (None: not below one)."""
        parts = urlsplit(url)
        old = next((o for o in self.moved if parts.path.startswith(o)), None)
        return None if old is None else \
            parts._replace(path=self.moved[old] + parts.path[len(old):]).geturl()


def start_old(site: Site, sample: Path, base: Path) -> None:
    """The old host: the sample's Apache on the sample's Mailman (freebsd build)."""
    binary = apache_binary()
    assert FLAVOURS["freebsd"][2] == CGI_USER  # the wrappers' CGI group: who runs them
    need(Path("/usr/lib/apache2/modules/mod_cgi.so").exists()
         or Path("/usr/lib/apache2/modules/mod_cgid.so").exists(), "apache2's mod_cgi is missing")
    built = mailman_build("freebsd")
    mm = base / "mm"
    subprocess.run(["cp", "-a", str(built / OLD_MM.lstrip("/")), str(mm)], check=True)
    old_tree = sample / OLD_MM.lstrip("/")
    for part in ("lists", "archives", "data"):
        shutil.rmtree(mm / part, ignore_errors=True)
        subprocess.run(["cp", "-a", str(old_tree / part), str(mm / part)], check=True)
    shutil.copyfile(old_tree / "Mailman/mm_cfg.py", mm / "Mailman/mm_cfg.py")
    for leftover in mm.glob("Mailman/mm_cfg.pyc"):
        leftover.unlink()
    web = site.inv.web
    adapted = debianize(sample, web.config_files[0].path, base / "apache", binary)
    for path in adapted.files:  # the CGI user: Debian's www-data, the wrappers' CGI group
        text = path.read_text()
        text = re.sub(r"^User nobody$", f"User {CGI_USER}", text, flags=re.M)
        text = re.sub(r"^Group nogroup$", f"Group {CGI_USER}", text, flags=re.M)
        path.write_text(text)
        for types in re.findall(r"^\s*TypesConfig\s+\"?([^\s\"]+)", text, re.M):
            # the port's mime.types is not in the sample: Debian's stands in for it
            where = Path(types) if types.startswith("/") else \
                adapted.root / "usr/local" / types
            if not where.exists():
                where.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile("/etc/mime.types", where)
    main = adapted.config.read_text()
    if not re.search(r"^\s*LoadModule\s+authz_core_module", main, re.M):
        # Apache 2.2 had no mod_authz_core; 2.4 needs it to read 2.2's Order/Allow lines
        # (mod_access_compat), or it answers every request 500 "couldn't check user"
        adapted.config.write_text("LoadModule authz_core_module "
                                  "/usr/lib/apache2/modules/mod_authz_core.so\n" + main)
    (base / "apache" / OLD_MM.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for path in adapted.files:
        for icons in re.findall(rf'^\s*Alias\s+{re.escape(site.prefixes.icons)}\s+"?([^"\s]+)',
                                path.read_text(), re.M):
            if not icons.startswith(f"{base}/apache{OLD_MM}"):
                # Apache's own folder at the logos' prefix (campus's /icons/), with Mailman's
                # logos copied in (as Mailman's INSTALL says, and as the sample's README
                # describes campus)
                Path(icons).mkdir(parents=True, exist_ok=True)
                for f in (mm / "icons").iterdir():
                    shutil.copyfile(f, Path(icons) / f.name)
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", OLD_NS, "old",
              str(base)]
    res = subprocess.run([*prefix, f"{OLD_MM}/bin/check_perms", "-f"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    env = ["env", f"APACHE_RUN_DIR={base}", f"APACHE_LOG_DIR={base}",
           f"APACHE_LOCK_DIR={base}", f"APACHE_PID_FILE={base}/apache.pid"]
    daemon = Daemon(["ip", "netns", "exec", site.netns["old"], *prefix, *env, binary,
                     "-f", str(adapted.config), "-DFOREGROUND"], base / "apache.log",
                    base / "apache/var/log/httpd-error.log")
    site.daemons.append(daemon)
    for port in (80, 443) if any(v.tls for v in web.virtual_hosts) else (80,):
        wait_listening(site.netns["old"], site.address["old"], port, daemon)


def start_new(site: Site, sample: Path, base: Path) -> None:
    """The new host: the plan's Mailman set up as the plan does, httpd and fcgiwrap."""
    httpd, fcgiwrap = httpd_binary(), fcgiwrap_binary()
    assert FLAVOURS["openbsd"][2] == NEW_CGI_USER  # the wrappers' CGI group: who runs them
    need(shutil.which("setpriv") is not None, "setpriv (util-linux) is not installed")
    host = NewHost(base / "host", "openbsd", old_tree=sample / OLD_MM.lstrip("/"))
    append_mm_cfg(host, site.plan_dir)
    # the pre-sync's copies (a static tree: the final sync would move nothing more)
    res = host.run(copy_script(site.plan_dir, "presync"))
    assert res.returncode == 0, res.stderr
    by_id = steps(site.plan_dir)
    env = {**TEST_ENV, "PLAN": str(site.plan_dir)}
    res = host.run(by_id["new-wrapper-group"].check[0], env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    res = host.run(by_id["new-mailman"].actions[0].command, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    # /etc/ssl as it is, plus the certificate and key at the paths httpd.conf names
    ssl_dir = base / "ssl"
    subprocess.run(["cp", "-a", "/etc/ssl", str(ssl_dir)], check=True)
    cert, key = certificate(base)
    for kind, path in re.findall(r'^\ttls (certificate|key) "([^"]+)"$', site.httpd_conf, re.M):
        dest = ssl_dir / Path(path).relative_to("/etc/ssl")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cert if kind == "certificate" else key, dest)
    (base / "acme-token").write_text(ACME_TOKEN + "\n")
    (base / "httpd.conf").write_text(site.httpd_conf)
    for address in sorted(set(re.findall(r"^\tlisten on (\S+)", site.httpd_conf, re.M))):
        _ip("-n", site.netns["new"], "addr", "add", address, "dev", "lo")
    serve = NEW_SERVE.format(user=NEW_CGI_USER, token=ACME_TOKEN, fcgiwrap=fcgiwrap,
                             socket=SLOWCGI_SOCKET, httpd=httpd).replace("@WAIT@",
                                                                         WAIT_UNTIL_SH)
    daemon = Daemon(["ip", "netns", "exec", site.netns["new"], "unshare", "--mount",
                     "--propagation", "private", "sh", "-c", NS_SCRIPT, "ns", str(host.base),
                     "sh", "-c", serve, "serve", str(base)], base / "httpd.log")
    site.daemons.append(daemon)
    for port in sorted({int(p) for p in re.findall(r" port (\d+)$", site.httpd_conf, re.M)}):
        wait_listening(site.netns["new"], site.address["new"], port, daemon)


#: The samples whose old prefixes are not the OpenBSD package's: run again with
#: ``url_prefixes: package``, where the new host answers the old prefixes with a 301.
MOVED_HOSTS = tuple(h for h in ("oakfield",) if h in SAMPLE_HOSTS)


@pytest.fixture(scope="module", params=[*SAMPLE_HOSTS, *(f"{h}:package" for h in MOVED_HOSTS)])
def site(request):
    need(os.geteuid() == 0, "network namespaces and Mailman's wrappers need root")
    for tool in ("ip", "unshare", "nsenter"):
        need(shutil.which(tool) is not None, f"{tool} is not installed")
    name, _, url_prefixes = request.param.partition(":")
    sample = SAMPLES / name
    inv = inspect_tree(LocalTree(sample), Origin(OriginKind.LOCAL, f"/samples/{name}"),
                       now=update_golden.NOW)
    flags = dict(update_golden.HOSTS[name], openbsd=RELEASE, destination="mailman2")
    if url_prefixes:
        flags["url_prefixes"] = url_prefixes
    plan = build_plan(inv, resolve_target(inv, {}, flags))
    base = Path(tempfile.mkdtemp(prefix=f"migrate-webparity-{name}-"))
    base.chmod(0o755)  # Apache and fcgiwrap's CGIs (www-data) read below it
    plan_dir = base / "plan"
    write_plan(plan, str(plan_dir))
    tag = f"{os.getpid()}{name[0]}{url_prefixes[:1]}"  # the whole pid: see fresh_netns
    netns = {"old": f"wpo{tag}", "new": f"wpn{tag}"}
    made: list[str] = []
    httpd_conf = plan.files["files/new/etc/httpd.conf"]
    new_address = re.search(r"^\tlisten on (\S+)", httpd_conf, re.M).group(1)
    s = Site(name, inv, plan, plan_dir, httpd_conf, netns,
             {"old": "127.0.0.1", "new": new_address}, url_prefixes=url_prefixes or "keep")
    try:
        for ns in netns.values():
            fresh_netns(ns)
            made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        if inv.web is not None:
            (base / "old").mkdir()
            start_old(s, sample, base / "old")
        (base / "new").mkdir()
        start_new(s, sample, base / "new")
        yield s
    finally:
        for d in s.daemons:
            d.close()
        for ns in made:
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                      text=True).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


# --- the old site's URLs ---------------------------------------------------------------------


@dataclass
class Url:
    kind: str  # "listinfo", "archive page", "volume", "icon", "redirect", ...
    scheme: str
    host: str
    path: str
    cgi: str | None = None  # the list a Mailman page is about ("" for an overview page)
    source: str | None = None  # for a redirect's URL: the redirect's file and line

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"


def _sample_path(regex: str, value: str) -> str | None:
    """A path an old RedirectMatch or RewriteRule pattern matches: each group and wildcard
    filled with ``value``."""
    body = regex.lstrip("^").rstrip("$")
    body = re.sub(r"\((?:[^()\\]|\\.)*\)", value, body)
    body = body.replace(".*", value).replace(".+", value or "x")
    body = body.replace("\\", "")
    return body if re.search(regex, body) else None


def icon_names() -> list[str]:
    """Mailman's logos (its icons folder)."""
    return sorted(p.name for p in (mailman_build("freebsd") / OLD_MM.lstrip("/")
                                   / "icons").iterdir())


def old_urls(site: Site) -> list[Url]:
    """Every URL of the old site, at the old host's own prefixes of Mailman's CGI, logos and
    public archives (``Mailman.urls``)."""
    inv = site.inv
    web = inv.web
    cgi, icons, pipermail = site.prefixes.cgi, site.prefixes.icons, site.prefixes.archive
    served: dict[str, set[str]] = {}  # web name -> schemes the old host served it on
    for v in web.virtual_hosts:
        for n in [v.server_name, *v.server_aliases]:
            if n:
                served.setdefault(n, set()).add("https" if v.tls else "http")
    urls: list[Url] = []
    for name, schemes in sorted(served.items()):
        for scheme in sorted(schemes):
            urls.append(Url("site root", scheme, name, "/"))
            urls.append(Url("acme challenge", scheme, name,
                            f"/.well-known/acme-challenge/{ACME_TOKEN}"))
            urls.append(Url("overview", scheme, name, f"{cgi}listinfo", ""))
            urls.append(Url("overview", scheme, name, f"{cgi}admin", ""))
            for icon in icon_names():
                urls.append(Url("icon", scheme, name, f"{icons}{icon}"))
    archives = REPO / "sample_configs" / site.name / OLD_MM.lstrip("/") / "archives"
    for ml in inv.lists:
        host = urlsplit(ml.web_page_url).hostname
        for scheme in sorted(served.get(host, {"http"})):
            for page in ("listinfo", "admin", "admindb", "options"):
                urls.append(Url(page, scheme, host, f"{cgi}{page}/{ml.name}", ml.name))
            urls.append(Url("private", scheme, host, f"{cgi}private/{ml.name}/", ml.name))
            # a query string (old links carry them: a page in a language, a member's address)
            urls.append(Url("query", scheme, host, f"{cgi}listinfo/{ml.name}?language=en",
                            ml.name))
            folder = archives / "private" / ml.name
            months = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
            if months:
                first = months[0].name
                urls.append(Url("private", scheme, host,
                                f"{cgi}private/{ml.name}/{first}/date.html", ml.name))
            if ml.archive_private or not (archives / "public" / ml.name).is_symlink():
                continue
            top = f"{pipermail}{ml.name}/"
            urls.append(Url("archive index", scheme, host, top))
            for month in months:
                for index in ("date", "thread", "subject", "author"):
                    urls.append(Url("month index", scheme, host,
                                    f"{top}{month.name}/{index}.html"))
                articles = sorted(p.name for p in month.glob("[0-9]*.html"))
                for art in sorted({*articles[:1], *articles[-1:]})[:ARTICLES_PER_MONTH]:
                    urls.append(Url("article", scheme, host, f"{top}{month.name}/{art}"))
            for volume in sorted(p.name for p in folder.iterdir()
                                 if p.is_file() and re.search(r"\.txt(\.gz)?$", p.name)):
                urls.append(Url("volume", scheme, host, f"{top}{volume}"))
            if (archives / "public" / f"{ml.name}.mbox").is_symlink():
                urls.append(Url("mbox", scheme, host,
                                f"{pipermail}{ml.name}.mbox/{ml.name}.mbox"))
    # every old Redirect, RedirectMatch and RewriteRule, at its own names and schemes
    first = next((ml.name for ml in inv.lists if not ml.archive_private), "x")
    where = [(a, None) for a in web.redirects] + \
        [(a, v) for v in web.virtual_hosts for a in v.aliases
         if a.kind.value in ("redirect", "redirect_match", "rewrite_rule")]
    for alias, vhost in where:
        names = [vhost.server_name, *vhost.server_aliases] if vhost else sorted(served)
        schemes = ["https" if vhost.tls else "http"] if vhost else None
        if alias.kind.value == "redirect":
            paths = [alias.url_path, alias.url_path.rstrip("/") + f"/{first}"]
        else:
            paths = [p for p in [_sample_path(alias.url_path, f"{first}/")] if p]
            assert paths, f"no sample path for {alias.url_path}"
        # and the URLs generated from its pattern: matches and near misses (_, digits after
        # captures, case, &, query strings)
        paths += sample_urls(alias.kind.value, alias.url_path)
        for n in names:
            for scheme in schemes or sorted(served.get(n, {"http"})):
                for p in paths:
                    urls.append(Url("redirect", scheme, n, p if p.startswith("/") else "/" + p,
                                    source=str(alias.source)))
    seen: set[str] = set()
    out = []
    for u in urls:
        if str(u) not in seen:
            seen.add(str(u))
            out.append(u)
    return out


# --- comparing the answers -------------------------------------------------------------------


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def page_facts(body: bytes) -> dict:
    text = _text(body)
    title = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    return {"title": " ".join(title.group(1).split()) if title else None}


def mailman_links(body: bytes, page_url: str, prefixes: set[str]) -> list[str]:
    """The page's links to Mailman's CGI, made absolute (Mailman writes ``../options/LIST``
    where the request's URI is below its CGI URL): those whose path starts with one of
    ``prefixes``."""
    links = [urljoin(page_url, link)
             for link in re.findall(r'(?:href|action)="([^"]*)"', _text(body), re.I)]
    return [link for link in links if urlsplit(link).path.startswith(tuple(prefixes))]


def _same_target(old: str | None, new: str | None, old_url: str, new_url: str,
                 tls: bool, query: bool = True) -> bool:
    """The same redirect target (paths percent-decoded: Apache writes a captured & as
    itself, httpd as %26; ``query``: the query strings compared too)."""
    if old is None or new is None:
        return old == new
    a, b = urlsplit(urljoin(old_url, old)), urlsplit(urljoin(new_url, new))
    schemes_ok = a.scheme == b.scheme or (tls and a.scheme == "http" and b.scheme == "https")
    return schemes_ok and a.netloc == b.netloc and unquote(a.path) == unquote(b.path) and \
        (not query or a.query == b.query)


@dataclass
class Row:
    url: Url
    old: str
    new: str
    status: str  # ok, changed, missing, extra
    note: str = ""


def _show(ans: dict) -> str:
    if ans.get("error"):
        return ans["error"]
    return str(ans["status"]) + (f" -> {ans['location']}" if ans["location"] else "")


def moved_to_https(u: Url, answer: dict) -> bool:
    """``answer`` sends the http:// URL ``u`` to the same URL over https:// (a 301; the
    path compared percent-decoded: httpd's $REQUEST_URI writes an & of the path as %26)."""
    return u.scheme == "http" and answer["status"] == 301 and \
        unquote(answer["location"] or "") == f"https://{u.host}{unquote(u.path)}"


def asked(u: Url, answer: dict) -> Url:
    """The URL ``answer`` is the answer to (``u``, or the one a followed redirect named)."""
    return answer.get("url", u)


def follow(site: Site, role: str, answers: list[dict], urls: dict[int, Url], why: str) -> None:
    """Asks ``role``'s host for ``urls`` (by index) in place of the answers there, each
    answer then noting the hop (``why``) and the URL it answers."""
    if not urls:
        return
    got = ask(site.netns[role], [request(site, role, u) for u in urls.values()])
    for (i, u), a in zip(urls.items(), got):
        answers[i] = {**a, "url": u, "via": [*answers[i].get("via", []), why]}


def _shown(answer: dict) -> str:
    return _show(answer) + "".join(f" (via {v})" for v in answer.get("via", []))


def compare(site: Site, urls: list[Url], old: list[dict], new: list[dict],
            findings: list) -> list[Row]:
    """One row per URL, from each host's last answer: an answer that followed a redirect
    (``follow``) is compared as the answer to the URL it names, and shown "via" it."""
    tls = "tls port 443" in site.httpd_conf
    cgi_prefixes = {site.prefixes.cgi, site.served["cgi"]}
    by_url = {str(u): u for u in urls}
    names = {v.server_name for v in site.inv.web.virtual_hosts} | \
        {a for v in site.inv.web.virtual_hosts for a in v.server_aliases}
    rows = []
    for u, o, n in zip(urls, old, new):
        if u.kind == "acme challenge" and u.scheme == "http":
            # acme-client's challenge: answered by the new host over http:// (never moved
            # to https://), whatever the old host did with it
            token = n["status"] == 200 and n["body"] == (ACME_TOKEN + "\n").encode()
            rows.append(Row(u, _show(o), _show(n), "ok" if token else "missing",
                            "acme-client's challenge on the new host"))
            continue
        old_url, new_url = str(asked(u, o)), str(asked(u, n))
        row = Row(u, _shown(o), _shown(n), "ok")
        rows.append(row)
        # an old link below a prefix the plan moves: its 301 followed (``moved`` of the new
        # answer's hops), old redirect targets and addresses in pages moved alike
        moved = any(v.startswith(MOVED_HOP) for v in n.get("via", []))
        relocated = site.moved_url(urljoin(old_url, o["location"])) if o["location"] else None
        old_location = relocated or o["location"]
        problems = []
        if o["status"] != n["status"]:
            problems.append("status")
        elif 300 <= o["status"] < 400 and not _same_target(old_location, n["location"],
                                                           old_url, new_url, tls):
            problems.append("redirect target")
        elif o["status"] == 200 and u.cgi is None and o["body"] != n["body"]:
            problems.append(f"body ({len(o['body'])} bytes old, {len(n['body'])} new)")
        elif o["status"] == 200 and u.cgi is not None:
            of, nf = page_facts(o["body"]), page_facts(n["body"])
            if of != nf:
                problems.append(f"page {of} != {nf}")
            new_base = site.cgi_base(u.host)
            wrong = [link for link in mailman_links(n["body"], new_url, cgi_prefixes)
                     if urlsplit(link).hostname in names and not link.startswith(new_base)]
            if wrong:
                problems.append(f"links not at {new_base}: {wrong[:3]}")
            old_text, new_text = _text(o["body"]), _text(n["body"])
            for name in names:
                if tls:  # every http:// address of the old site is an https:// one now
                    old_text = old_text.replace(f"http://{name}/", f"https://{name}/")
                for was, now in site.moved.items():  # and one below a moved prefix, moved
                    old_text = old_text.replace(f"//{name}{was}", f"//{name}{now}")
            for was, now in site.moved.items():
                if was == site.prefixes.cgi:  # a login form's ACTION: the request's own path
                    old_text = old_text.replace(f'"{was}', f'"{now}')
                for icon in icon_names():  # Mailman's logos (IMAGE_LOGOS + name)
                    old_text = old_text.replace(f'"{was}{icon}"', f'"{now}{icon}"')
            if site.moved:  # Mailman wraps its text at 70 columns: a URL of another length
                # wraps a line elsewhere
                old_text, new_text = " ".join(old_text.split()), " ".join(new_text.split())
            if not problems and old_text != new_text:
                diff = next((j for j, (x, y) in enumerate(zip(old_text, new_text)) if x != y),
                            min(len(old_text), len(new_text)))
                problems.append("page text differs at "
                                f"{old_text[max(0, diff - 60):diff + 60]!r} / "
                                f"{new_text[max(0, diff - 60):diff + 60]!r}")
        if not problems and not moved and relocated is None:
            continue
        row.note = "; ".join(problems)
        # an answer that came from another URL's: what explains that URL's row explains this
        said = by_url.get(old_url, u)
        explained = [f for f in findings if f.id in EXPLAINED
                     and any(str(x) in f.hint or str(x) in f.message for x in (u, said))]
        if problems == ["redirect target"] and "?" in u.path and \
                _same_target(old_location, n["location"], old_url, new_url, tls, query=False):
            # the query string alone: a redirect carried without it says so
            explained += [f for f in findings if f.id == "plan.web-redirect-query"
                          and str(f.source) in (u.source, said.source)]
        if not problems:  # the same once a moved prefix is followed: the plan must say so,
            # and that the query string is lost where it is
            lost = any(v.endswith("without the query string") for v in n.get("via", []))
            explained += [f for f in findings if f.id == "plan.web-prefixes-moved"
                          and (not lost or "query string" in f.message + f.hint)]
            row.note = "at the prefix the plan moved it to" + \
                (", without the query string" if lost else "")
        if explained:
            row.status, row.note = "changed", row.note + f" ({explained[0].id})"
        elif o["status"] == 0 or o["status"] >= 400:
            row.status = "extra" if 0 < n["status"] < 400 else "ok"
        else:
            row.status = "missing"
    return rows


def table(rows: list[Row]) -> str:
    out = ["| status | URL | old | new | note |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.status} | {r.url} | {r.old} | {r.new} | {r.note} |")
    return "\n".join(out)


def request(site: Site, role: str, u: Url, scheme: str | None = None) -> dict:
    return {"address": site.address[role], "scheme": scheme or u.scheme, "host": u.host,
            "path": u.path}


# --- the test --------------------------------------------------------------------------------


def test_every_old_url_answers_the_same_on_the_new_host(site):
    started = time.monotonic()
    if site.inv.web is None:
        # No web server configuration on the old host (small): it served no URL. The new
        # host still serves each list's pages (the plan's httpd.conf, on Mailman itself).
        urls = []
        for ml in site.inv.lists:
            base = urlsplit(site.cgi_base(urlsplit(ml.web_page_url).hostname))
            urls.append(Url("listinfo", base.scheme, base.hostname,
                            f"{base.path}listinfo/{ml.name}", ml.name))
        answers = ask(site.netns["new"], [request(site, "new", u) for u in urls])
        for u, a in zip(urls, answers):
            assert a["status"] == 200, (str(u), _show(a), _text(a["body"])[:500])
            assert f"{u.cgi}" in page_facts(a["body"])["title"].lower(), str(u)
        print(f"\n{site.name}: no old web site; {len(urls)} list pages served by the new host")
        return
    urls = old_urls(site)
    old = ask(site.netns["old"], [request(site, "old", u) for u in urls])
    new = ask(site.netns["new"], [request(site, "new", u) for u in urls])
    tls = "tls port 443" in site.httpd_conf
    # an http:// URL the new host moves to https://, as the plan says: followed once; where
    # the old host moved it to https:// too (a :80 virtual host's Redirect permanent /
    # https://...), its https:// answer is followed alike and the two compared
    to_https = {i: replace(u, scheme="https") for i, (u, n) in enumerate(zip(urls, new))
                if tls and moved_to_https(u, n) and not u.kind == "acme challenge"}
    both = {i: u for i, u in to_https.items() if moved_to_https(urls[i], old[i])}
    follow(site, "new", new, to_https, "https")
    follow(site, "old", old, both, "https")
    # an old URL below a prefix the plan moves (url_prefixes: package): its 301 to the same
    # URL below the new prefix (or without its query string, which httpd cannot append only
    # when there is one), followed once
    moved: dict[int, Url] = {}
    dropped: dict[int, Url] = {}
    for i, (u, n) in enumerate(zip(urls, new)):
        at = asked(u, n)
        there = site.moved_url(str(at))
        to = urlsplit(urljoin(str(at), n["location"] or ""))
        if there and n["status"] == 301 and \
                unquote(to.geturl()) in (unquote(there), unquote(there).split("?")[0]):
            hop = replace(at, path=to.path + (f"?{to.query}" if to.query else ""))
            (moved if unquote(to.geturl()) == unquote(there) else dropped)[i] = hop
    follow(site, "new", new, moved, MOVED_HOP)
    follow(site, "new", new, dropped, f"{MOVED_HOP}, without the query string")
    rows = compare(site, urls, old, new, site.plan.findings)

    # acme-client's challenge: answered over http:// by the new host, never moved to https
    for u, n in zip(urls, new):
        if u.kind == "acme challenge" and u.scheme == "http":
            assert n["status"] == 200 and n["body"] == (ACME_TOKEN + "\n").encode(), \
                (str(u), _show(n))
    # the old host's CGI pages really are Mailman's, rendered by the real Mailman (over
    # https:// where the old host moved http:// there)
    pages = [(u, o) for u, o in zip(urls, old) if u.kind == "listinfo"]
    if not all(o["status"] == 200 for _u, o in pages):
        for d in site.daemons:
            for p in d.logs:
                print(p, p.read_text(errors="replace")[-3000:] if p.exists() else "-")
    assert pages and all(o["status"] == 200 and "Mailman" in _text(o["body"])
                         for _u, o in pages), [(str(u), _show(o)) for u, o in pages] + [
        p.read_text(errors="replace")[-3000:] for d in site.daemons for p in d.logs
        if p.exists()]
    # and the new host's links to its CGI: each listinfo page links to the list's options at
    # the URL the plan serves them at (so ``compare``'s check of links is not idle)
    for u, n in zip(urls, new):
        if u.kind == "listinfo":
            links = mailman_links(n["body"], str(asked(u, n)), {site.served["cgi"]})
            assert f"{site.cgi_base(u.host)}options/{u.cgi}" in links, (str(u), links)

    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "changed", "missing", "extra")}
    report = (f"\n{site.label}: {len(rows)} URLs compared: " +
              ", ".join(f"{k} {v}" for k, v in counts.items()) +
              f" ({time.monotonic() - started:.1f} s)\n")
    report += (f"http:// URLs moved to https:// by the new host: {len(to_https)}, by both "
               f"hosts (compared via https): {len(both)}; old URLs below a prefix the plan "
               f"moves, its 301 followed: {len(moved) + len(dropped)} ({len(dropped)} "
               "without the query string)\n")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r.url.kind] = kinds.get(r.url.kind, 0) + 1
    report += "by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()) + "\n"
    print(report + table([r for r in rows if r.status != "ok"]))
    bad = [r for r in rows if r.status == "missing"]
    assert not bad, report + table(bad)


# --- what the e2e found in the emitters, checked without the real servers --------------------


def _plan(name: str, release: str = RELEASE):
    inv = inspect_tree(LocalTree(SAMPLES / name), Origin(OriginKind.LOCAL, f"/samples/{name}"),
                       now=update_golden.NOW)
    return build_plan(inv, resolve_target(inv, {}, dict(update_golden.HOSTS[name],
                                                        openbsd=release,
                                                        destination="mailman2")))


@pytest.mark.parametrize("release", update_golden.RELEASES)
def test_httpd_logs_where_its_chroot_has_a_log_folder(release):
    """httpd opens its logs in ``logdir``, by default /logs inside its chroot: with
    ``chroot "/"`` that is /logs, which OpenBSD does not have, and the real httpd exits at
    start ("parent: failed to open log file"). The plan names /var/www/logs."""
    conf = _plan("netsight", release).files["files/new/etc/httpd.conf"]
    top = [line for line in conf.splitlines() if line and not line[0].isspace()
           and not line.startswith(("#", "server", "}"))]
    assert top == ['chroot "/"', 'logdir "/var/www/logs"']


def test_a_site_root_that_served_a_page_is_a_finding_naming_its_urls():
    """campus's old virtual hosts answered / with their DocumentRoot; the new host sends it
    to /mailman/listinfo: one warning naming each old root URL. netsight redirected / to
    /mailman/listinfo already (RedirectMatch ^/$), and small had no web server: none."""
    found = [f for f in _plan("campus").findings if f.id == "plan.web-root-changed"]
    assert len(found) == 1 and found[0].severity.value == "warning"
    assert found[0].source is not None
    for url in ("http://lists.cs.campus.example/", "http://lists.campus.example/",
                "https://lists.cs.campus.example/", "https://lists.campus.example/"):
        assert url in found[0].hint, url
    for name in ("netsight", "small"):
        assert not [f for f in _plan(name).findings if f.id == "plan.web-root-changed"], name


def test_the_old_urls_are_at_the_old_hosts_prefixes():
    """oakfield served Mailman's CGI at /cgi-bin/mailman/ and its logos at /images/mailman/:
    its old URLs are asked there (the inventory's ``Mailman.urls``), none at Mailman's default
    /mailman/ or /icons/, and its pages' links are checked against the plan's CGI URL."""
    inv = inspect_tree(LocalTree(SAMPLES / "oakfield"),
                       Origin(OriginKind.LOCAL, "/samples/oakfield"), now=update_golden.NOW)
    plan = _plan("oakfield")
    site = Site("oakfield", inv, plan, Path("/nonexistent"),
                plan.files["files/new/etc/httpd.conf"], {}, {})
    by_kind: dict[str, list[str]] = {}
    for u in old_urls(site):
        by_kind.setdefault(u.kind, []).append(u.path)
    for kind in ("overview", "listinfo", "admin", "admindb", "options", "private"):
        assert all(p.startswith("/cgi-bin/mailman/") for p in by_kind[kind]), by_kind[kind]
    assert all(p.startswith("/images/mailman/") for p in by_kind["icon"])
    assert all(p.startswith("/pipermail/residents/") for p in by_kind["month index"])
    assert not [p for ps in by_kind.values() for p in ps
                if p.startswith(("/mailman/", "/icons/"))]
    assert site.cgi_base("lists.oakfield.example") == \
        "https://lists.oakfield.example/cgi-bin/mailman/"
